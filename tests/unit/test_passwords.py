"""The password rules (domain/passwords.py, NIST SP 800-63B 5.1.1.2, ASVS V6): length in code
points after NFKC, any printable character, common, repetitive or sequential passwords and the
handle refused, each with its own words."""

from __future__ import annotations

import pytest

from ledgerlink.domain.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    common_passwords,
    normalise,
    password_problem,
)


@pytest.mark.parametrize("password", [
    "correct horse battery",
    "            a",  # spaces are characters like any other
    "Ünïcödé pässwörd ✓",
    "日本語のパスワードですよ",  # twelve characters, not twelve bytes
    "ｆｕｌｌｗｉｄｔｈ ｌｅｔｔｅｒｓ",  # full-width forms: NFKC makes them ASCII
    "x" * 11 + "y",
    "a" * (MAX_LENGTH - 1) + "b",
    "👩‍👩‍👧 family of three emoji",  # zero-width joiners are part of printable emoji
])
def test_long_printable_passwords_are_accepted(password: str) -> None:
    assert password_problem(password, handle="pat") is None


@pytest.mark.parametrize(("password", "code", "words"), [
    ("password", "password_too_short", "at least 12 characters"),
    (" " * 8, "password_too_short", "at least 12 characters"),
    ("", "password_too_short", "at least 12 characters"),
    ("x" * (MAX_LENGTH + 1), "password_too_long", f"at most {MAX_LENGTH} characters"),
    ("tab\tin the middle", "password_control_character", "control character"),
    ("line\nbreak inside", "password_control_character", "control character"),
    (" " * 12, "password_repetitive", "repeats"),
    ("aaaaaaaaaaaa", "password_repetitive", "repeats"),
    ("abcabcabcabc", "password_repetitive", "repeats"),
    ("passwordpassword", "password_repetitive", "repeats"),
    ("123456789012", "password_sequence", "sequence"),
    ("abcdefghijklmn", "password_sequence", "sequence"),
    ("zyxwvutsrqpo", "password_sequence", "sequence"),
    ("password1234", "password_common", "common"),
    ("PASSWORD1234", "password_common", "common"),  # case-insensitive
    ("qwerty123456", "password_common", "common"),
    ("iloveyou2024!!", "password_common", "common"),  # a common one with digits and signs added
    ("!!Sunshine1999", "password_common", "common"),
])
def test_weak_passwords_are_refused_with_their_own_reason(password: str, code: str, words: str) -> None:
    problem = password_problem(password, handle="pat")
    assert problem is not None and problem.code == code
    assert words in problem.message
    if len(password.strip()) >= 10:
        assert password not in problem.message  # never echoed


def test_the_length_counts_code_points_after_nfkc() -> None:
    # "ﬃ" (one code point) is "ffi" (three) after NFKC: 10 + 3 = 13 code points.
    assert len("ﬃ" + "x" * 10) == 11
    assert password_problem("ﬃ" + "q1w9e8r7t6", handle="pat") is None
    assert normalise("ｐａｓｓ") == "pass"
    # é as e + combining accent (2 code points) is one after NFKC composition
    assert len(normalise("e\u0301" * 12)) == 12


def test_the_handle_may_not_be_the_password_or_inside_it() -> None:
    long_handle = "robin.hood"
    equal = password_problem("Robin.Hood", handle=long_handle)  # too short anyway
    assert equal is not None
    inside = password_problem("i am robin.hood of the forest", handle=long_handle)
    assert inside is not None and inside.code == "password_has_handle"
    assert "handle" in inside.message
    same = password_problem("alexandria12", handle="alexandria12")
    assert same is not None and same.code == "password_has_handle"
    # a short handle (under 4 characters) is refused only as the whole password
    assert password_problem("patterns of the sea", handle="pat") is None


def test_the_common_list_is_the_zxcvbn_one_casefolded() -> None:
    common = common_passwords()
    assert len(common) > 25_000
    assert "password" in common and "iloveyou" in common
    assert all(p == p.casefold() for p in list(common)[:1000])
    assert password_problem("my own list entry", handle="pat", common=frozenset({"my own list entry"})) \
        is not None


def test_the_bounds_are_what_nist_asks() -> None:
    assert MIN_LENGTH >= 12 and MAX_LENGTH >= 64
