"""Idempotency keys on partner POSTs: same key and same request -> the same response, without
doing the work twice; same key and another request -> 422. A differentially private query
retried with its key is answered from the stored result: no second spend of privacy budget,
and no second noisy answer to average against the first."""

from __future__ import annotations

import hashlib

from ledgerlink.domain.errors import Conflict, InvalidInput
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import IdempotencyRecord

MAX_KEY = 255


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.upper().encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY or not key.isprintable() or not key.isascii():
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_KEY} printable ASCII characters", code="bad_idempotency_key"
        )
    return key


async def begin(deps: Deps, *, partner_id: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
    """Claim `key` for this request. Returns None when the work should run now, or the stored
    record to answer with. Raises for a key reused with another request or still in progress."""
    check_key(key)
    async with deps.uow() as uow:
        claimed = await uow.idempotency.claim(
            IdempotencyRecord(
                partner_id=partner_id,
                key=key,
                request_hash=fingerprint,
                status=0,
                response=None,
                created_at=deps.clock.now(),
            )
        )
        existing = None if claimed else await uow.idempotency.get(partner_id, key)
        await uow.commit()
    if existing is None:
        return None
    if existing.request_hash != fingerprint:
        raise InvalidInput("this Idempotency-Key was used for another request", code="idempotency_key_reused")
    if existing.status == 0:
        raise Conflict(
            "the first request with this Idempotency-Key is still in progress",
            code="idempotency_request_in_progress",
        )
    return existing


async def finish(deps: Deps, *, partner_id: str, key: str, status: int, response: str) -> None:
    async with deps.uow() as uow:
        await uow.idempotency.complete(partner_id, key, status=status, response=response)
        await uow.commit()


async def abandon(deps: Deps, *, partner_id: str, key: str) -> None:
    """The work failed unexpectedly: free the key so a retry runs it."""
    async with deps.uow() as uow:
        await uow.idempotency.release(partner_id, key)
        await uow.commit()
