"""EnvelopeCrypto keeps each person's AES-GCM cipher object beside the wrapped key it came from
(not rebuilt per value): shared by threads, replaced when the wrapped key changes, gone on forget."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ledgerlink.adapters.crypto import DecryptionFailed, EnvelopeCrypto, MasterKeyFile

AAD = b"transactions:txn_1:merchant"


@pytest.fixture
def crypto(tmp_path: Path) -> EnvelopeCrypto:
    return EnvelopeCrypto(MasterKeyFile(tmp_path / "keys" / "master.json"))


def test_values_sealed_and_opened_by_many_threads_at_once_all_round_trip(crypto: EnvelopeCrypto) -> None:
    wrapped, _ = crypto.new_wrapped_key()

    def round_trip(i: int) -> bool:
        value = f"value {i}".encode()
        sealed = crypto.seal("per_a", wrapped, value, aad=AAD)
        return crypto.open("per_a", wrapped, sealed, aad=AAD) == value

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(round_trip, range(4000)))

    assert all(results) and len(results) == 4000


def test_a_new_wrapped_key_for_the_same_person_replaces_the_cached_cipher(crypto: EnvelopeCrypto) -> None:
    old, _ = crypto.new_wrapped_key()
    new, _ = crypto.new_wrapped_key()
    sealed_old = crypto.seal("per_a", old, b"before", aad=AAD)
    sealed_new = crypto.seal("per_a", new, b"after", aad=AAD)  # the cache now holds `new`'s cipher

    assert crypto.open("per_a", new, sealed_new, aad=AAD) == b"after"
    with pytest.raises(DecryptionFailed):  # `new`'s cipher does not open what `old` sealed
        crypto.open("per_a", new, sealed_old, aad=AAD)
    assert crypto.open("per_a", old, sealed_old, aad=AAD) == b"before"  # unwrapped again


def test_a_forgotten_person_has_no_cipher_left_in_the_cache(crypto: EnvelopeCrypto) -> None:
    wrapped, _ = crypto.new_wrapped_key()
    sealed = crypto.seal("per_a", wrapped, b"x", aad=AAD)
    crypto.seal("per_b", crypto.new_wrapped_key()[0], b"y", aad=AAD)

    crypto.forget("per_a")
    assert set(crypto._cache) == {"per_b"}
    crypto.forget_all()
    assert not crypto._cache
    assert crypto.open("per_a", wrapped, sealed, aad=AAD) == b"x"  # unwrapped from the wrapped key again
