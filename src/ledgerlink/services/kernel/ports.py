"""What every capability shares: signing, password hashing, idempotency keys and the bank
partners. Small on purpose: a capability's own records live in its own ports (ADR 0017).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class Signer(Protocol):
    """The platform's signing key (Ed25519): audit tree heads and consent receipts."""

    @property
    def key_id(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...

    def verify(self, key_id: str, data: bytes, signature: bytes) -> bool: ...

    def public_keys(self) -> dict[str, bytes]:
        """Every key's raw 32-byte Ed25519 public key, by key id (old keys included)."""
        ...

    def jwks(self) -> dict[str, Any]: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, hashed: str, password: str) -> bool: ...


@dataclass(slots=True)
class IdempotencyRecord:
    partner_id: str
    key: str
    request_hash: str
    status: int  # 0 while the first request is in progress
    response: str | None
    created_at: datetime


class IdempotencyRepository(Protocol):
    async def claim(self, record: IdempotencyRecord) -> bool:
        """Insert the in-progress row; False (nothing written) if the key is already there."""
        ...
    async def get(self, partner_id: str, key: str) -> IdempotencyRecord | None: ...
    async def complete(self, partner_id: str, key: str, *, status: int, response: str) -> None: ...
    async def release(self, partner_id: str, key: str) -> None: ...

@dataclass(slots=True)
class PartnerRecord:
    id: str
    slug: str
    name: str
    kind: str
    webhook_secrets: list[str]
    created_at: datetime
    api_key_hash: str | None = None
    issuer: str | None = None  # the bank's issuer URL (the `iss` of what it signs)
    jwks: dict[str, Any] | None = None  # the bank's public signing keys (docs/bank-dialogue.md)


class PartnerRepository(Protocol):
    async def upsert(self, partner: PartnerRecord) -> None: ...
    async def get(self, partner_id: str) -> PartnerRecord | None: ...
    async def by_slug(self, slug: str) -> PartnerRecord | None: ...
    async def by_api_key_hash(self, api_key_hash: str) -> PartnerRecord | None: ...
    async def set_api_key_hash(self, partner_id: str, api_key_hash: str | None) -> None: ...
    async def all(self) -> list[PartnerRecord]: ...


@dataclass(frozen=True, slots=True)
class RateRule:
    """A throttle: at most `count` hits per `seconds`, for each of `limits`, per key (a handle,
    an address, a person id). Moving windows: the count is of the last `seconds`."""

    name: str
    limits: tuple[tuple[int, int], ...]  # (count, seconds), e.g. ((10, 900), (100, 86400))
    words: str = "Too many requests."  # said to the person when throttled


class RateLimiter(Protocol):
    """Where throttle counts live: process memory on the embedded profile; a shared store
    (e.g. Redis) once several processes serve people. Keys never leave it readable."""

    async def hit(self, rule: RateRule, key: str) -> int | None:
        """Count one hit. None when every limit allowed it; else the seconds until the first
        exhausted limit frees a slot (a refused hit is not counted by that limit)."""
        ...

    async def wait(self, rule: RateRule, key: str) -> int | None:
        """Like `hit` without counting: None when a hit would be allowed now."""
        ...

    async def clear(self, rule: RateRule, key: str) -> None:
        """Forget the key's hits (after a successful sign-in, for the account's counter)."""
        ...
