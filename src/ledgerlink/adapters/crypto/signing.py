"""The platform's Ed25519 signing keys (audit tree heads, consent receipts).

Kept in a key file like the master key (created 0600 on first run, several keys for
rotation). The public halves are published as a JWKS at `/.well-known/jwks.json`, so anyone
can verify offline what the platform signed.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledgerlink.adapters.crypto.envelope import MasterKeyFile
from ledgerlink.domain.clock import Clock


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKeys:
    def __init__(self, path: str | os.PathLike[str], *, clock: Clock | None = None) -> None:
        self._file = MasterKeyFile(path, clock=clock, prefix="sk")

    @property
    def key_id(self) -> str:
        return self._file.active_key_id

    def _private(self, key_id: str) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self._file.key(key_id))

    def private_key(self) -> Ed25519PrivateKey:
        """The active private key (for libraries such as joserfc that sign themselves)."""
        return self._private(self.key_id)

    def sign(self, data: bytes) -> bytes:
        return self._private(self.key_id).sign(data)

    def public_key(self, key_id: str) -> Ed25519PublicKey | None:
        if key_id not in self._file.key_ids:
            self._file.reload()
        if key_id not in self._file.key_ids:
            return None
        return self._private(key_id).public_key()

    def verify(self, key_id: str, data: bytes, signature: bytes) -> bool:
        public = self.public_key(key_id)
        if public is None:
            return False
        try:
            public.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def public_keys(self) -> dict[str, bytes]:
        self._file.refresh_if_changed()  # a key added by `keys rotate-signing` elsewhere
        return {
            key_id: self._private(key_id).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            for key_id in self._file.key_ids
        }

    def jwks(self) -> dict[str, Any]:
        """Every key's public half as an RFC 8037 OKP JWK set (old keys verify old signatures)."""
        keys = []
        for key_id in self._file.key_ids:
            raw = self._private(key_id).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            keys.append(
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "kid": key_id,
                    "alg": "EdDSA",
                    "use": "sig",
                    "x": _b64url(raw),
                }
            )
        return {"keys": keys}

    def rotate(self) -> str:
        return self._file.rotate()
