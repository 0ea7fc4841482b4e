"""Crypto adapters: envelope encryption (`KeyCrypto`) and password hashing (`PasswordHasher`)."""

from ledgerlink.adapters.crypto.envelope import (
    Argon2PasswordHasher,
    DecryptionFailed,
    EnvelopeCrypto,
    MasterKeyFile,
    MasterKeyFileError,
)

__all__ = [
    "Argon2PasswordHasher",
    "DecryptionFailed",
    "EnvelopeCrypto",
    "MasterKeyFile",
    "MasterKeyFileError",
]
