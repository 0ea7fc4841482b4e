"""Signed tree heads outside the database: each head, as it is signed, also becomes a C2SP
checkpoint (a signed note, `domain.checkpoint`) appended to the checkpoint file, and the
public API serves that history so outside monitors can keep it (ADR 0020).

The note is signed with the same Ed25519 key as the head (key name: the log's origin), so
anyone with the verifier key (`verifier_keys`) checks it with stock transparency-log tools.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ledgerlink.domain.audit import TreeHead
from ledgerlink.domain.checkpoint import (
    Checkpoint,
    NoteSignature,
    Record,
    SignedCheckpoint,
    note_key_id,
    verifier_key,
)
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.services.kernel.ports import Signer
from ledgerlink.services.privacy.ports import CheckpointLog

MAX_CHECKPOINTS_PER_PAGE = 1000


def sign_checkpoint(signer: Signer, origin: str, head: TreeHead) -> SignedCheckpoint:
    """The checkpoint of `head`, signed under `origin` with the active key."""
    checkpoint = Checkpoint(origin=origin, tree_size=head.tree_size, root_hash=head.root_hash)
    public = signer.public_keys()[signer.key_id]
    signature = NoteSignature(
        name=origin, key_id=note_key_id(origin, public), signature=signer.sign(checkpoint.text().encode())
    )
    return SignedCheckpoint(checkpoint, (signature,))


def checkpoint_verifies(signer: Signer, checkpoint: SignedCheckpoint) -> bool:
    """signed-note rules: signatures by keys we do not know are ignored, one of ours that does
    not verify rejects the note, and at least one of ours must verify. Ours are signed under
    the origin (the log's key name)."""
    ours = {note_key_id(checkpoint.checkpoint.origin, pub): kid for kid, pub in signer.public_keys().items()}
    text = checkpoint.checkpoint.text().encode()
    verified = False
    for sig in checkpoint.signatures:
        key_id = ours.get(sig.key_id) if sig.name == checkpoint.checkpoint.origin else None
        if key_id is None:
            continue
        if not signer.verify(key_id, text, sig.signature):
            return False
        verified = True
    return verified


def verifier_keys(signer: Signer, origin: str) -> list[str]:
    """Every signing key (old ones too) in the `sumdb/note` verifier-key form."""
    return [verifier_key(origin, pub) for pub in signer.public_keys().values()]


async def log_verifier_keys(signer: Signer, log: CheckpointLog) -> list[str]:
    """The verifier keys of the log's checkpoints (named after its origin)."""
    return verifier_keys(signer, await asyncio.to_thread(lambda: log.origin))


async def read_records(log: CheckpointLog) -> list[Record]:
    return await asyncio.to_thread(log.records)


async def latest_checkpoint(signer: Signer, log: CheckpointLog | None) -> SignedCheckpoint | None:
    """The largest checkpoint in the file that verifies with our keys (others are not ours)."""
    if log is None:
        return None
    records = [r for r in await read_records(log) if isinstance(r, SignedCheckpoint)]
    for record in sorted(records, key=lambda r: r.tree_size, reverse=True):
        if checkpoint_verifies(signer, record):
            return record
    return None


async def append_checkpoint(signer: Signer, log: CheckpointLog, head: TreeHead) -> SignedCheckpoint:
    checkpoint = sign_checkpoint(signer, await asyncio.to_thread(lambda: log.origin), head)
    await asyncio.to_thread(log.append, checkpoint)
    return checkpoint


@dataclass(frozen=True, slots=True)
class CheckpointPage:
    checkpoints: list[SignedCheckpoint]
    next_after: int | None  # ask again with after=<this> for more; None: this is the end


async def history(log: CheckpointLog | None, *, after: int = -1, limit: int = 100) -> CheckpointPage:
    """The checkpoints in the file with a tree size above `after`, smallest first, one per
    size, at most `limit`. Served as written: a monitor verifies them itself."""
    if not 1 <= limit <= MAX_CHECKPOINTS_PER_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_CHECKPOINTS_PER_PAGE}", code="bad_limit")
    if log is None:
        return CheckpointPage([], None)
    by_size: dict[int, SignedCheckpoint] = {}
    for record in await read_records(log):
        if isinstance(record, SignedCheckpoint) and record.tree_size > after:
            by_size.setdefault(record.tree_size, record)
    sizes = sorted(by_size)
    page = [by_size[s] for s in sizes[:limit]]
    return CheckpointPage(page, page[-1].tree_size if len(sizes) > limit else None)
