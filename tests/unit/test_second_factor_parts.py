"""The pure parts of the second factor (ADR 0021): the relying party of a public URL, how a typed
code is read, recovery codes, and TOTP against RFC 6238's own test vectors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgerlink.adapters.auth import PyOtpCodes, SegnoQrCodes
from ledgerlink.services.auth import recovery
from ledgerlink.services.auth.ports import PASSKEY, TOTP, FactorRefused
from ledgerlink.services.auth.verification import RECOVERY_CODE, kind_of, relying_party

RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890" (RFC 6238 SHA-1)


@pytest.mark.parametrize(("url", "rp_id", "origin"), [
    ("http://localhost:8000", "localhost", "http://localhost:8000"),
    ("https://Bank.Example.com:443/app/", "bank.example.com", "https://bank.example.com"),
    ("http://[::1]:9000", "::1", "http://[::1]:9000"),
    ("https://ledgerlink.example:8443", "ledgerlink.example", "https://ledgerlink.example:8443"),
])
def test_the_relying_party_is_the_public_urls_host_and_origin(url: str, rp_id: str, origin: str) -> None:
    rp = relying_party(url)
    assert (rp.id, rp.origin) == (rp_id, origin)


@pytest.mark.parametrize(("at", "code", "step"), [
    (59, "287082", 1),  # RFC 6238 appendix B: 94287082, the last 6 digits
    (1111111109, "081804", 37037036),
    (1234567890, "005924", 41152263),
    (2000000000, "279037", 66666666),
])
def test_totp_matches_the_rfc_6238_vectors(at: int, code: str, step: int) -> None:
    when = datetime.fromtimestamp(at, tz=UTC)
    assert PyOtpCodes().matching_step(RFC_SECRET, code, at=when, window=0) == step


def test_totp_accepts_one_step_either_side_and_not_two() -> None:
    codes = PyOtpCodes()
    when = datetime.fromtimestamp(1111111109, tz=UTC)
    before = datetime.fromtimestamp(1111111109 - 30, tz=UTC)
    assert codes.matching_step(RFC_SECRET, "081804", at=before, window=1) == 37037036
    assert codes.matching_step(RFC_SECRET, "081804", at=before, window=0) is None
    two_later = datetime.fromtimestamp(1111111109 + 60, tz=UTC)
    assert codes.matching_step(RFC_SECRET, "081804", at=two_later, window=1) is None
    assert codes.matching_step(RFC_SECRET, "081805", at=when, window=1) is None


def test_a_new_totp_key_has_160_bits_and_a_provisioning_uri() -> None:
    codes = PyOtpCodes()
    secret = codes.new_secret()
    assert len(secret) == 32 and secret != codes.new_secret()
    uri = codes.provisioning_uri(secret, account="pat", issuer="Ledgerlink")
    assert uri.startswith("otpauth://totp/Ledgerlink:pat?secret=" + secret)
    svg = SegnoQrCodes().svg(uri, title="QR")
    assert svg.startswith("<svg") and "<title>QR</title>" in svg and "http" not in svg.split(">", 1)[0]


@pytest.mark.parametrize(("typed", "read"), [
    ("abcd-efgh-jkmn", "abcdefghjkmn"),
    ("ABCD EFGH JKMN", "abcdefghjkmn"),
    (" abcdefghjkmn ", "abcdefghjkmn"),
    ("oiLd-efgh-jkmn", "011defghjkmn"),  # Crockford: o is 0, i and l are 1
    ("abcd-efgh-jkm", None),
    ("abcd-efgh-jkmu", None),  # u is not in the alphabet
    ("abcd-efgh-jkmn-p", None),
    ("", None),
])
def test_a_recovery_code_is_read_as_people_type_it(typed: str, read: str | None) -> None:
    assert recovery.normalise(typed) == read


async def test_recovery_codes_are_ten_distinct_and_only_hashes_are_kept() -> None:
    class Hasher:
        def hash(self, password: str) -> str:
            return "h:" + password[::-1]

        def verify(self, hashed: str, password: str) -> bool:
            return hashed == self.hash(password)

    shown, rows = await recovery.make_codes(Hasher(), person_id="per_1", at=datetime(2026, 1, 1, tzinfo=UTC))
    assert len(shown) == len(rows) == 10 and len(set(shown)) == 10
    assert len({r.selector for r in rows}) == 10
    for code, row in zip(shown, rows, strict=True):
        plain = recovery.normalise(code)
        assert plain is not None and row.selector == plain[:4] and plain not in row.code_hash
        assert await recovery.verify(Hasher(), [row], plain) is row
    assert await recovery.verify(Hasher(), rows[:1], recovery.normalise(shown[1]) or "") is None


@pytest.mark.parametrize(("code", "passkey", "kind"), [
    ("123456", "", TOTP), ("123 456", "", TOTP), ("abcd-efgh-jkmn", "", RECOVERY_CODE),
    ("", '{"id": "x"}', PASSKEY), ("123456", '{"id": "x"}', PASSKEY),
])
def test_the_factor_offered_is_recognised(code: str, passkey: str, kind: str) -> None:
    assert kind_of(code, passkey) == kind


@pytest.mark.parametrize(("code", "words"), [
    ("", "Use your passkey"), ("12345", "6 digits; that one has 5"), ("1234567", "has 7"),
    ("hello", "neither"), ("١٢٣٤٥٦", "neither"), ("1" * 500, "that one has 99"),
])
def test_what_cannot_be_a_code_is_refused_with_words(code: str, words: str) -> None:
    with pytest.raises(FactorRefused) as refused:
        kind_of(code, "")
    assert words in refused.value.detail
