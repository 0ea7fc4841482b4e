"""Envelope encryption: per-person AES-256-GCM data keys, wrapped by a master key from a file.

Formats (all versions are one leading byte, so a later format can sit beside this one):

* Master key file, JSON, mode 0600::

    {"version": 1, "active": "mk_...",
     "keys": [{"id": "mk_...", "key": "<base64 of 32 bytes>", "created_at": "<ISO 8601 UTC>"}]}

  Several keys may be listed so rotation can add one and keep unwrapping old data keys.

* Wrapped data key::

    b"\\x01" | len(master_key_id) (1 byte) | master_key_id (ASCII) | nonce (12) | AES-GCM(dek)

  The AES-GCM associated data is ``b"ledgerlink-dek-v1" + header`` (version byte, length and
  master key id), so a wrapped key cannot be relabelled with another master key id.

* Sealed value::

    b"\\x01" | nonce (12) | AES-GCM(plaintext)   associated data: the caller's ``aad``

Errors never contain plaintext or key material.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import argon2
import structlog
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.domain.errors import DomainError

__all__ = [
    "Argon2PasswordHasher",
    "DecryptionFailed",
    "EnvelopeCrypto",
    "MasterKeyFile",
    "MasterKeyFileError",
]

_KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT_V1 = b"\x01"
_WRAP_AAD = b"ledgerlink-dek-v1"
_KEY_FILE_VERSION = 1

_log = structlog.get_logger(__name__)


class DecryptionFailed(DomainError):
    """A sealed value or wrapped key did not authenticate (tampered, wrong key or wrong aad)."""

    code = "decryption_failed"
    status = 500


class MasterKeyFileError(Exception):
    """The master key file is unsafe or unreadable; the message says how to fix it."""


# --------------------------------------------------------------------------- master key


class MasterKeyFile:
    """The master keys, read from `path`; the file is created (0600) with one key if absent."""

    def __init__(
        self, path: str | os.PathLike[str], *, clock: Clock | None = None, prefix: str = "mk"
    ) -> None:
        self._path = Path(path)
        self._clock = clock or SystemClock()
        self._prefix = prefix
        raw = self._read_existing()
        if raw is None:
            raw = self._create()
        self._keys, self._active = _parse_key_file(raw, self._path)
        self._mtime = self._stat()

    def _stat(self) -> int:
        try:
            return self._path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def refresh_if_changed(self) -> None:
        """Pick up a rotation made by another process (one stat call)."""
        if self._stat() != self._mtime:
            self.reload()

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def reload(self) -> None:
        """Re-read the file (another process may have rotated it)."""
        raw = self._read_existing()
        if raw is not None:
            self._keys, self._active = _parse_key_file(raw, self._path)
            self._mtime = self._stat()

    def rotate(self) -> str:
        """Add a fresh key and make it the active one; old keys stay for unwrapping."""
        self.reload()
        key_id = f"{self._prefix}_{secrets.token_hex(8)}"
        self._keys[key_id] = AESGCM.generate_key(bit_length=256)
        self._active = key_id
        self._rewrite()
        _log.info("key_file_rotated", path=str(self._path), key_id=key_id)
        return key_id

    def retire(self, key_id: str) -> None:
        """Remove a key for good (after nothing is wrapped under it any more)."""
        self.reload()
        if key_id == self._active:
            raise MasterKeyFileError(f"{key_id} is the active key; rotate first")
        if self._keys.pop(key_id, None) is not None:
            self._rewrite()
            _log.info("key_file_key_retired", path=str(self._path), key_id=key_id)

    def _rewrite(self) -> None:
        document = {
            "version": _KEY_FILE_VERSION,
            "keys": [
                {"id": kid, "key": base64.b64encode(material).decode()}
                for kid, material in self._keys.items()
            ],
            "active": self._active,
        }
        raw = json.dumps(document, indent=2).encode() + b"\n"
        tmp = self._path.with_name(f".{self._path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)  # atomic: readers see the old or the new file
        finally:
            tmp.unlink(missing_ok=True)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def active_key_id(self) -> str:
        return self._active

    def key(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise MasterKeyFileError(
                f"master key {key_id!r} is not in {self._path}; was the key file replaced?"
            ) from None

    def __repr__(self) -> str:
        return f"MasterKeyFile({str(self._path)!r}, active={self._active!r})"

    def _read_existing(self) -> bytes | None:
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            # fstat on the open descriptor: the file we check is the file we read.
            mode = os.fstat(fd).st_mode
            if os.name == "posix" and mode & 0o077:
                raise MasterKeyFileError(
                    f"master key file {self._path} has mode {mode & 0o777:04o}: group or others "
                    f"may access it. Fix it with: chmod 600 {self._path}"
                )
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read()
        finally:
            os.close(fd)

    def _create(self) -> bytes:
        key_id = f"{self._prefix}_{secrets.token_hex(8)}"
        document = {
            "version": _KEY_FILE_VERSION,
            "keys": [
                {
                    "id": key_id,
                    "key": base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),
                    "created_at": self._clock.now().isoformat(),
                }
            ],
            "active": key_id,
        }
        raw = json.dumps(document, indent=2).encode() + b"\n"
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Write a private temporary file, then link it into place: the key file appears
        # complete or not at all, and a concurrent creator loses the race cleanly.
        tmp = self._path.with_name(f".{self._path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, self._path)
            except FileExistsError:
                existing = self._read_existing()
                if existing is None:  # pragma: no cover - deleted between link and read
                    raise MasterKeyFileError(f"master key file {self._path} vanished") from None
                return existing
        finally:
            tmp.unlink(missing_ok=True)
        _log.info("master_key_file_created", path=str(self._path), key_id=key_id)
        return raw


def _parse_key_file(raw: bytes, path: Path) -> tuple[dict[str, bytes], str]:
    problem = f"master key file {path} is not a valid ledgerlink key file"
    try:
        document: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MasterKeyFileError(f"{problem} (not JSON)") from None
    if not isinstance(document, dict) or document.get("version") != _KEY_FILE_VERSION:
        raise MasterKeyFileError(f"{problem} (expected version {_KEY_FILE_VERSION})")
    keys: dict[str, bytes] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise MasterKeyFileError(f"{problem} (no key list)")
    for entry in entries:
        key_id = entry.get("id") if isinstance(entry, dict) else None
        encoded = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key_id, str) or not isinstance(encoded, str):
            raise MasterKeyFileError(f"{problem} (a key entry lacks id or key)")
        if not key_id.isascii() or not 0 < len(key_id) < 256:
            raise MasterKeyFileError(f"{problem} (key id {key_id!r} is not short ASCII)")
        try:
            material = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise MasterKeyFileError(f"{problem} (key {key_id!r} is not base64)") from None
        if len(material) != _KEY_BYTES:
            raise MasterKeyFileError(f"{problem} (key {key_id!r} is not 256 bits)")
        keys[key_id] = material
    active = document.get("active")
    if not isinstance(active, str) or active not in keys:
        raise MasterKeyFileError(f"{problem} (active key {active!r} is not listed)")
    return keys, active


# --------------------------------------------------------------------------- envelope


class EnvelopeCrypto:
    """`KeyCrypto` with AES-256-GCM. Unwrapped data keys are cached per person (LRU).

    Everything here is synchronous and holds a lock only around the cache, so it is safe
    from asyncio and from worker threads alike."""

    def __init__(self, master: MasterKeyFile, *, cache_size: int = 10_000) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self._master = master
        self._cache_size = cache_size
        # person id -> (wrapped key it came from, the unwrapped key's AES-GCM cipher): the cipher
        # object is kept, not rebuilt per value (1.0 us of a 2.2 us open, bench/README.md); it
        # holds the same key the entry did and goes with it (forget, forget_all, the bound)
        self._cache: OrderedDict[str, tuple[bytes, AESGCM]] = OrderedDict()
        self._lock = threading.Lock()

    def new_wrapped_key(self) -> tuple[bytes, str]:
        self._master.refresh_if_changed()  # never wrap under a key rotated away elsewhere
        key_id = self._master.active_key_id
        header = _FORMAT_V1 + bytes([len(key_id)]) + key_id.encode("ascii")
        nonce = os.urandom(_NONCE_BYTES)
        dek = AESGCM.generate_key(bit_length=256)
        wrapped = AESGCM(self._master.key(key_id)).encrypt(nonce, dek, _WRAP_AAD + header)
        return header + nonce + wrapped, key_id

    def seal(self, person_id: str, wrapped_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._cipher(person_id, wrapped_key).encrypt(nonce, plaintext, aad)

    def open(self, person_id: str, wrapped_key: bytes, sealed: bytes, *, aad: bytes) -> bytes:
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _FORMAT_V1:
            raise DecryptionFailed("sealed value has an unknown format")
        cipher = self._cipher(person_id, wrapped_key)
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return cipher.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise DecryptionFailed("sealed value did not authenticate") from None

    def forget(self, person_id: str) -> None:
        with self._lock:
            self._cache.pop(person_id, None)

    def forget_all(self) -> None:
        with self._lock:
            self._cache.clear()

    @property
    def active_master_key_id(self) -> str:
        return self._master.active_key_id

    def rewrap(self, wrapped_key: bytes) -> tuple[bytes, str]:
        """The same data key, wrapped under the active master key (rotation)."""
        self._master.refresh_if_changed()
        dek = self._unwrap(wrapped_key)
        key_id = self._master.active_key_id
        header = _FORMAT_V1 + bytes([len(key_id)]) + key_id.encode("ascii")
        nonce = os.urandom(_NONCE_BYTES)
        return header + nonce + AESGCM(self._master.key(key_id)).encrypt(
            nonce, dek, _WRAP_AAD + header
        ), key_id

    def _cipher(self, person_id: str, wrapped_key: bytes) -> AESGCM:
        with self._lock:
            cached = self._cache.get(person_id)
            if cached is not None and cached[0] == wrapped_key:
                self._cache.move_to_end(person_id)
                return cached[1]
        cipher = AESGCM(self._unwrap(wrapped_key))
        with self._lock:
            self._cache[person_id] = (wrapped_key, cipher)
            self._cache.move_to_end(person_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return cipher

    def _unwrap(self, wrapped_key: bytes) -> bytes:
        if len(wrapped_key) < 2 or wrapped_key[:1] != _FORMAT_V1:
            raise DecryptionFailed("wrapped key has an unknown format")
        header_len = 2 + wrapped_key[1]
        header = wrapped_key[:header_len]
        nonce = wrapped_key[header_len : header_len + _NONCE_BYTES]
        ciphertext = wrapped_key[header_len + _NONCE_BYTES :]
        if len(nonce) != _NONCE_BYTES or len(ciphertext) != _KEY_BYTES + 16:
            raise DecryptionFailed("wrapped key is truncated")
        try:
            key_id = header[2:].decode("ascii")
            if key_id not in self._master.key_ids:
                self._master.reload()  # rotated by another process meanwhile?
            master = self._master.key(key_id)
        except (UnicodeDecodeError, MasterKeyFileError):
            raise DecryptionFailed("wrapped key names an unknown master key") from None
        try:
            return AESGCM(master).decrypt(nonce, ciphertext, _WRAP_AAD + header)
        except InvalidTag:
            raise DecryptionFailed("wrapped key did not authenticate") from None


# --------------------------------------------------------------------------- passwords


class Argon2PasswordHasher:
    """`PasswordHasher` with Argon2id. Hashing is deliberately slow (tens of ms): call it
    through `asyncio.to_thread` from request handlers. Tests may lower the costs."""

    def __init__(
        self,
        *,
        time_cost: int = argon2.DEFAULT_TIME_COST,
        memory_cost: int = argon2.DEFAULT_MEMORY_COST,
        parallelism: int = argon2.DEFAULT_PARALLELISM,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except VerificationError:
            return False
        except InvalidHashError:
            _log.warning("password_hash_unreadable")
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """True when `hashed` used other parameters than ours (rehash after a good login)."""
        return self._hasher.check_needs_rehash(hashed)
