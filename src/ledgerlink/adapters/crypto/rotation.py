"""Master key rotation without downtime: add a key, re-wrap every data key under it, and only
then (optionally) retire the old keys. Data keys themselves do not change, so nothing sealed
has to be re-encrypted and running processes keep working throughout."""

from __future__ import annotations

from dataclasses import dataclass

from ledgerlink.adapters.crypto.envelope import EnvelopeCrypto, MasterKeyFile
from ledgerlink.adapters.crypto.keystore import SqlKeyStore


@dataclass(frozen=True, slots=True)
class RotationReport:
    new_key_id: str
    rewrapped: int
    retired: list[str]


async def rotate_master_key(
    master: MasterKeyFile,
    crypto: EnvelopeCrypto,
    keystore: SqlKeyStore,
    *,
    retire_old: bool,
    batch: int = 500,
) -> RotationReport:
    new_id = master.rotate()
    rewrapped = 0
    while True:
        # A key created meanwhile by a process that had not yet seen the new file is caught
        # by the next pass; the loop ends when nothing is wrapped under an old key.
        rows = await keystore.wrapped_under(new_id, other_than=True, limit=batch)
        if not rows:
            break
        for person_id, old in rows:
            new, key_id = crypto.rewrap(old)
            if await keystore.replace(person_id, old, new, key_id):
                rewrapped += 1
    retired: list[str] = []
    if retire_old:
        counts = await keystore.count_by_master()
        for key_id in master.key_ids:
            if key_id != new_id and counts.get(key_id, 0) == 0:
                master.retire(key_id)
                retired.append(key_id)
    return RotationReport(new_key_id=new_id, rewrapped=rewrapped, retired=retired)
