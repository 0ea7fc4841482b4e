"""Recovery codes: ten single-use codes, shown once, stored only as hashes (ADR 0021).

A code is 12 characters of Crockford's base32 (60 bits; no i, l, o, u to misread), shown as
``abcd-efgh-jkmn``. Its first 4 characters are a clear *selector* that finds the row; the other
8 (40 bits) are kept as an Argon2id hash (the password hasher: salted and slow), so one guess
costs one hash and the database alone gives nothing to test guesses against quickly. With the
second-factor throttle (10 in 15 minutes, 100 a day) that is NIST 800-63B's look-up secret.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime

from ledgerlink.domain.ids import new_id
from ledgerlink.services.auth.ports import RecoveryCodeRecord
from ledgerlink.services.kernel.ports import PasswordHasher

__all__ = ["COUNT", "display", "make_codes", "normalise", "split", "verify"]

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
COUNT = 10
LENGTH = 12
SELECTOR = 4
_READ_AS = str.maketrans({"o": "0", "i": "1", "l": "1"})  # Crockford: what people mistype


def display(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise(typed: str) -> str | None:
    """The code as typed (any case, spaces or dashes, o for 0, i or l for 1), or None when it
    cannot be a recovery code."""
    code = "".join(typed.split()).replace("-", "").lower().translate(_READ_AS)
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def split(code: str) -> tuple[str, str]:
    return code[:SELECTOR], code[SELECTOR:]


async def make_codes(hasher: PasswordHasher, *, person_id: str,
                     at: datetime) -> tuple[list[str], list[RecoveryCodeRecord]]:
    """New codes (to show once) and their rows (selector and hash only)."""
    codes: list[str] = []
    while len(codes) < COUNT:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if split(code)[0] not in {split(c)[0] for c in codes}:  # selectors are unique per person
            codes.append(code)
    # One after the other in one thread: each Argon2id hash takes its memory (64 MiB by default).
    hashes = await asyncio.to_thread(lambda: [hasher.hash(split(c)[1]) for c in codes])
    rows = [RecoveryCodeRecord(id=new_id("rec"), person_id=person_id, selector=split(c)[0], code_hash=h,
                               created_at=at) for c, h in zip(codes, hashes, strict=True)]
    return [display(c) for c in codes], rows


async def verify(hasher: PasswordHasher, candidates: list[RecoveryCodeRecord],
                 code: str) -> RecoveryCodeRecord | None:
    """The unused row (among those with the code's selector) whose hash matches the code."""
    _, rest = split(code)
    for row in candidates:
        if await asyncio.to_thread(hasher.verify, row.code_hash, rest):
            return row
    return None
