"""Per-person sealing of sensitive fields, explicit at the call site.

The associated data binds each ciphertext to its table, row and person, so a sealed value
copied onto another row or another person does not open.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ledgerlink.domain.errors import DomainError
from ledgerlink.services.access.ports import KeyCrypto, KeyStore


class PersonKeyMissing(DomainError):
    """The person's data key is gone: erased (crypto-shredded) or never made."""

    code = "person_key_missing"
    status = 410


def aad(table: str, row_id: str, person_id: str) -> bytes:
    return f"ledgerlink/v1/{table}/{row_id}/{person_id}".encode()


class Vault:
    """Seals and opens per-person values. Data keys come from the key store, which lives
    outside the main database; destroying a key there is what makes erasure real."""

    def __init__(self, crypto: KeyCrypto, keys: KeyStore) -> None:
        self._crypto = crypto
        self._keys = keys
        self._wrapped: dict[str, bytes] = {}

    async def create_key(self, person_id: str, *, at: datetime) -> None:
        wrapped, master_id = self._crypto.new_wrapped_key()
        await self._keys.put(person_id, wrapped, master_id, at)
        self._wrapped[person_id] = wrapped

    async def destroy_key(self, person_id: str) -> bool:
        """Crypto-shred: after this, nothing sealed for this person opens, in any copy."""
        self.forget(person_id)
        destroyed = await self._keys.destroy(person_id)
        self.forget(person_id)
        return destroyed

    async def _key(self, person_id: str) -> bytes:
        wrapped = self._wrapped.get(person_id)
        if wrapped is None:
            wrapped = await self._keys.get(person_id)
            if wrapped is None:
                raise PersonKeyMissing("this person's data can no longer be read")
            if len(self._wrapped) > 50_000:
                self._wrapped.clear()
            self._wrapped[person_id] = wrapped
        return wrapped

    def forget(self, person_id: str) -> None:
        self._wrapped.pop(person_id, None)
        self._crypto.forget(person_id)

    def forget_all(self) -> None:
        """Every cached key (scale-out: this process may have missed an invalidation, ADR 0029)."""
        for person_id in list(self._wrapped):
            self.forget(person_id)
        self._crypto.forget_all()

    async def seal(self, person_id: str, value: dict[str, Any], *, table: str, row_id: str) -> bytes:
        plaintext = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        key = await self._key(person_id)
        return self._crypto.seal(person_id, key, plaintext, aad=aad(table, row_id, person_id))

    async def open(self, person_id: str, sealed: bytes, *, table: str, row_id: str) -> dict[str, Any]:
        key = await self._key(person_id)
        plaintext = self._crypto.open(person_id, key, sealed, aad=aad(table, row_id, person_id))
        value = json.loads(plaintext)
        assert isinstance(value, dict)
        return value
