"""What a messenger password must be (NIST SP 800-63B 5.1.1.2, OWASP ASVS V6), as pure rules.

- **Length** in Unicode code points after NFKC normalisation: at least `MIN_LENGTH` (12), at
  most `MAX_LENGTH` (128). Every printable character counts, spaces and emoji included; the
  stored hash is of the normalised password, so the same passphrase typed with composed or
  decomposed accents, or in full-width forms, is the same password.
- **No composition rules** (no "one digit, one capital"): NIST advises against them.
- **Refused**, each with its own words: control characters (tab, line break...); the handle, or
  a password containing it (for handles of `HANDLE_INSIDE_MIN` characters or more; a shorter
  handle is refused only as the whole password); one short piece (up to 3 characters) or one
  common password repeated ("aaaaaaaaaaaa", "abcabcabcabc", "passwordpassword"); a run of
  consecutive characters ("123456789012", "abcdefghijkl"); a password on the common-password
  list, compared case-insensitively, with or without its spaces, and with the digits and
  signs around it removed ("iloveyou2024!!").

The common-password list is reference data: the 30,000 most common passwords of the zxcvbn
project (`zxcvbn.frequency_lists`), loaded once, on first use.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

__all__ = ["HANDLE_INSIDE_MIN", "MAX_LENGTH", "MIN_LENGTH", "PasswordProblem", "common_passwords",
           "normalise", "password_problem"]

MIN_LENGTH = 12
MAX_LENGTH = 128
HANDLE_INSIDE_MIN = 4  # shorter handles ("pat") are too likely inside ordinary words
_REPEATED_PIECE_MAX = 3
_AROUND = "0123456789!@#$%^&*()-_=+[]{};:'\",.<>/?\\|`~ "


@dataclass(frozen=True, slots=True)
class PasswordProblem:
    code: str  # stable: password_too_short, password_common, ...
    message: str  # for the person, next to the field; never contains the password


def normalise(password: str) -> str:
    """The password as it is counted, checked and hashed: NFKC."""
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    """The common-password list, casefolded (reference data, loaded once)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # 30k entries: only when first asked

    return frozenset(p.casefold() for p in FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, handle: str = "",
                     common: Collection[str] | None = None) -> PasswordProblem | None:
    """The first reason `password` may not be used, or None when it is fine."""
    text = normalise(password)
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        return PasswordProblem("password_control_character",
                               "A password cannot contain a control character such as a tab or a "
                               "line break. Letters, digits, symbols, spaces and emoji are all fine.")
    if len(text) < MIN_LENGTH:
        return PasswordProblem("password_too_short",
                               f"Use at least {MIN_LENGTH} characters. A few unrelated words with "
                               "spaces make a long password that is easy to remember.")
    if len(text) > MAX_LENGTH:
        return PasswordProblem("password_too_long", f"Use at most {MAX_LENGTH} characters.")
    folded = text.casefold()
    own = handle.strip().casefold()
    if own and (folded == own or (len(own) >= HANDLE_INSIDE_MIN and own in folded)):
        return PasswordProblem("password_has_handle",
                               "Your password must not be or contain your handle: it is the first "
                               "thing someone guessing would try.")
    listed = common_passwords() if common is None else common
    if _repeated(folded, listed):
        return PasswordProblem("password_repetitive",
                               "This password repeats the same few characters or word. Use "
                               "something less predictable, such as a few unrelated words.")
    if _sequence(folded):
        return PasswordProblem("password_sequence",
                               "This password is a sequence such as 123456… or abcdef…, which is "
                               "among the first things tried. Choose something less predictable.")
    if _listed(folded, listed):
        return PasswordProblem("password_common",
                               "This password is on a list of common passwords that attackers try "
                               "first. Please choose another one.")
    return None


def _repeated(text: str, listed: Collection[str]) -> bool:
    """One piece, repeated: up to 3 characters long ("aaaa", "abab"), or a listed password."""
    n = len(text)
    for size in range(1, n // 2 + 1):
        if n % size and size > _REPEATED_PIECE_MAX:
            continue
        piece = text[:size]
        if (piece * (n // size + 1))[:n] == text and (size <= _REPEATED_PIECE_MAX or piece in listed):
            return True
    return False


def _sequence(text: str) -> bool:
    """Every character one after the previous (or before it); digits wrap from 9 to 0."""
    def step(a: str, b: str) -> int:
        if a.isdigit() and b.isdigit():
            return (int(b) - int(a)) % 10 if (int(b) - int(a)) % 10 in (1, 9) else 0
        return ord(b) - ord(a)

    steps = {step(a, b) for a, b in itertools.pairwise(text)}
    return steps in ({1}, {-1}, {9})


def _listed(text: str, listed: Collection[str]) -> bool:
    candidates = {text, text.replace(" ", ""), text.strip(_AROUND)}
    return any(c and c in listed for c in candidates)
