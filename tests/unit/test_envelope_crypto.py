from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ledgerlink.adapters.crypto import (
    Argon2PasswordHasher,
    DecryptionFailed,
    EnvelopeCrypto,
    MasterKeyFile,
    MasterKeyFileError,
)
from ledgerlink.domain.errors import DomainError
from ledgerlink.services.access.ports import KeyCrypto
from ledgerlink.services.kernel.ports import PasswordHasher

AAD = b"transactions:txn_1:amount"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "master.json"


@pytest.fixture
def crypto(key_path: Path) -> EnvelopeCrypto:
    return EnvelopeCrypto(MasterKeyFile(key_path))


def test_sealed_value_opens_with_the_same_person_key_and_aad(crypto: EnvelopeCrypto) -> None:
    wrapped, key_id = crypto.new_wrapped_key()
    sealed = crypto.seal("per_a", wrapped, b"12.34 EUR at Bakery", aad=AAD)

    assert key_id.startswith("mk_")
    assert sealed[:1] == b"\x01"
    assert b"Bakery" not in sealed
    assert crypto.open("per_a", wrapped, sealed, aad=AAD) == b"12.34 EUR at Bakery"


def test_sealing_twice_gives_different_ciphertexts(crypto: EnvelopeCrypto) -> None:
    wrapped, _ = crypto.new_wrapped_key()
    assert crypto.seal("per_a", wrapped, b"x", aad=AAD) != crypto.seal(
        "per_a", wrapped, b"x", aad=AAD
    )


def test_open_with_other_aad_fails_without_revealing_anything(crypto: EnvelopeCrypto) -> None:
    wrapped, _ = crypto.new_wrapped_key()
    sealed = crypto.seal("per_a", wrapped, b"secret-plaintext", aad=AAD)

    with pytest.raises(DecryptionFailed) as caught:
        crypto.open("per_a", wrapped, sealed, aad=b"transactions:txn_2:amount")

    assert isinstance(caught.value, DomainError)
    assert caught.value.code == "decryption_failed"
    assert "secret-plaintext" not in str(caught.value)


def test_another_persons_key_cannot_open_the_value(crypto: EnvelopeCrypto) -> None:
    wrapped_a, _ = crypto.new_wrapped_key()
    wrapped_b, _ = crypto.new_wrapped_key()
    sealed = crypto.seal("per_a", wrapped_a, b"mine", aad=AAD)

    with pytest.raises(DecryptionFailed):
        crypto.open("per_b", wrapped_b, sealed, aad=AAD)
    # Same person id but another wrapped key (e.g. re-created after erasure): not the cache.
    with pytest.raises(DecryptionFailed):
        crypto.open("per_a", wrapped_b, sealed, aad=AAD)


@pytest.mark.parametrize("position", [0, 1, 13, -1])
def test_any_flipped_byte_is_detected(crypto: EnvelopeCrypto, position: int) -> None:
    wrapped, _ = crypto.new_wrapped_key()
    sealed = bytearray(crypto.seal("per_a", wrapped, b"amount=100", aad=AAD))
    sealed[position] ^= 0x01

    with pytest.raises(DecryptionFailed):
        crypto.open("per_a", wrapped, bytes(sealed), aad=AAD)


def test_a_tampered_or_truncated_wrapped_key_is_refused(crypto: EnvelopeCrypto) -> None:
    wrapped, _ = crypto.new_wrapped_key()
    tampered = bytearray(wrapped)
    tampered[-1] ^= 0x01

    with pytest.raises(DecryptionFailed):
        crypto.seal("per_a", bytes(tampered), b"x", aad=AAD)
    with pytest.raises(DecryptionFailed):
        crypto.seal("per_a", wrapped[:20], b"x", aad=AAD)


def test_forget_drops_the_cached_key_and_opening_still_works_after(crypto: EnvelopeCrypto) -> None:
    wrapped, _ = crypto.new_wrapped_key()
    sealed = crypto.seal("per_a", wrapped, b"v", aad=AAD)
    crypto.forget("per_a")
    crypto.forget("per_never_seen")

    assert crypto.open("per_a", wrapped, sealed, aad=AAD) == b"v"


def test_the_data_key_cache_is_bounded(key_path: Path) -> None:
    crypto = EnvelopeCrypto(MasterKeyFile(key_path), cache_size=2)
    keys = {f"per_{i}": crypto.new_wrapped_key()[0] for i in range(5)}
    sealed = {p: crypto.seal(p, w, p.encode(), aad=AAD) for p, w in keys.items()}

    assert len(crypto._cache) == 2
    assert all(crypto.open(p, keys[p], s, aad=AAD) == p.encode() for p, s in sealed.items())


def test_key_file_is_created_private_with_one_active_key(key_path: Path) -> None:
    master = MasterKeyFile(key_path)

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    document = json.loads(key_path.read_text())
    assert document["version"] == 1
    assert document["active"] == master.active_key_id
    assert [k["id"] for k in document["keys"]] == [master.active_key_id]
    assert len(master.key(master.active_key_id)) == 32
    assert list(key_path.parent.iterdir()) == [key_path]  # no temporary file left behind


def test_a_group_readable_key_file_is_refused_with_the_fix(key_path: Path) -> None:
    MasterKeyFile(key_path)
    os.chmod(key_path, 0o644)

    with pytest.raises(MasterKeyFileError, match="chmod 600"):
        MasterKeyFile(key_path)


def test_a_malformed_key_file_is_refused(key_path: Path) -> None:
    key_path.parent.mkdir()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"version": 1, "keys": [], "active": "mk_x"}')
    os.close(fd)

    with pytest.raises(MasterKeyFileError, match="not listed"):
        MasterKeyFile(key_path)


def test_a_new_instance_with_the_same_key_file_opens_old_ciphertext(key_path: Path) -> None:
    first = EnvelopeCrypto(MasterKeyFile(key_path))
    wrapped, key_id = first.new_wrapped_key()
    sealed = first.seal("per_a", wrapped, b"kept", aad=AAD)

    second = EnvelopeCrypto(MasterKeyFile(key_path))

    assert MasterKeyFile(key_path).active_key_id == key_id
    assert second.open("per_a", wrapped, sealed, aad=AAD) == b"kept"


def test_another_key_file_cannot_unwrap(tmp_path: Path, crypto: EnvelopeCrypto) -> None:
    wrapped, _ = crypto.new_wrapped_key()
    sealed = crypto.seal("per_a", wrapped, b"kept", aad=AAD)
    stranger = EnvelopeCrypto(MasterKeyFile(tmp_path / "other.json"))

    with pytest.raises(DecryptionFailed):
        stranger.open("per_a", wrapped, sealed, aad=AAD)


def test_adapters_satisfy_their_ports(crypto: EnvelopeCrypto) -> None:
    key_crypto: KeyCrypto = crypto
    hasher: PasswordHasher = Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    assert key_crypto is crypto
    assert hasher is not None


def test_password_hasher_verifies_and_never_raises_for_a_wrong_password() -> None:
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    hashed = hasher.hash("correct horse")

    assert hashed.startswith("$argon2id$")
    assert hasher.verify(hashed, "correct horse") is True
    assert hasher.verify(hashed, "wrong horse") is False
    assert hasher.verify("not-a-hash", "correct horse") is False
    assert hasher.needs_rehash(hashed) is False
