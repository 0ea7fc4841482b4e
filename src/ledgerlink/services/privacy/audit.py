"""The audit log as a verifiable Merkle tree: signed tree heads, proofs, full verification, and
the person's own view of who read their data.

The log itself is written by `access.audit`; this module only reads it (and signs heads). The
checks verification runs are `audit_checks`; the Merkle maths is `domain.audit`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from ledgerlink.domain import audit as merkle
from ledgerlink.domain.audit import AuditEntry, CompactRange, TreeHead
from ledgerlink.domain.checkpoint import SignedCheckpoint
from ledgerlink.domain.clock import Clock
from ledgerlink.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from ledgerlink.domain.privacy import Grant, Purpose, action_words, actor_words, purpose_words
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import Signer
from ledgerlink.services.kernel.uow import UnitOfWork, UnitOfWorkFactory
from ledgerlink.services.privacy import checkpoints
from ledgerlink.services.privacy.audit_checks import (
    Finding,
    VerifyReport,
    audit_entry,
    check_checkpoints,
    check_entries,
    check_heads,
    check_saved,
    check_unsigned,
    verify_head_signature,
)
from ledgerlink.services.privacy.ports import CheckpointLog

__all__ = [
    "MAX_LEAVES_PER_PAGE",
    "AccessView",
    "ConsistencyProof",
    "Finding",
    "InclusionProof",
    "LeafView",
    "LogDeps",
    "VerifyReport",
    "consistency_proof",
    "inclusion_proof",
    "latest_tree_head",
    "leaves_for",
    "person_accesses",
    "run_signer",
    "sign_tree_head",
    "verify_head_signature",
    "verify_log",
]

log = structlog.get_logger(__name__)


class LogDeps(Protocol):
    """What the log functions need; `Deps` has it, and so does the CLI's small container."""

    @property
    def uow(self) -> UnitOfWorkFactory: ...
    @property
    def signer(self) -> Signer: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def checkpoints(self) -> CheckpointLog | None: ...


# --------------------------------------------------------------------------- signing


async def sign_tree_head(deps: LogDeps, *, tree: CompactRange | None = None) -> TreeHead:
    """Sign and store the head of the log as it is now (the latest head if nothing changed),
    and append it to the checkpoint file.

    `tree` is a caller-kept compact range of the leaves already signed (see `run_signer`): only
    new leaves are then read. A log that is shorter than, or no longer matches, its latest
    signed head or the latest checkpoint kept outside the database is refused: signing over it
    would hide the change (with the database's heads deleted, the file still remembers)."""
    anchor = await checkpoints.latest_checkpoint(deps.signer, deps.checkpoints)
    async with deps.uow() as uow:
        size = await uow.audit.size()
        latest = await uow.tree_heads.latest()
        known = {h.tree_size: h.root_hash for h in (latest, anchor) if h is not None}
        if known and max(known) > size:
            raise Conflict("the audit log is shorter than its last signed head", code="audit_log_truncated")
        if latest is not None and known[latest.tree_size] != latest.root_hash:
            raise Conflict("the latest signed head differs from its checkpoint", code="audit_log_changed")
        done = latest is not None and latest.tree_size == size
        if done and (deps.checkpoints is None or (anchor is not None and anchor.tree_size == size)):
            assert latest is not None
            return latest
        if tree is None or tree.size > size or any(s < tree.size for s in known):
            tree = CompactRange()
        leaves = await uow.audit.leaf_hashes(tree.size, size)
        if len(leaves) != size - tree.size:
            raise Conflict("the audit log has missing entries", code="audit_log_gap")
        for leaf in [None, *leaves]:
            if leaf is not None:
                tree.append(leaf)
            if tree.size in known and tree.root() != known[tree.size]:
                raise Conflict(
                    "the audit log no longer matches its last signed head", code="audit_log_changed"
                )
        if done:  # signed, but the file lacks it (the process stopped between the two writes)
            assert latest is not None
            if not verify_head_signature(deps.signer, latest):
                raise Conflict("the latest signed head does not verify", code="audit_head_forged")
            head = latest
        else:
            head = TreeHead(
                tree_size=size,
                root_hash=tree.root(),
                timestamp=merkle.to_millis(deps.clock.now()),
                key_id=deps.signer.key_id,
            )
            head = dataclasses.replace(head, signature=deps.signer.sign(head.signed_bytes()))
            if not await uow.tree_heads.add(head):  # another process signed this size first
                existing = await uow.tree_heads.get(size)
                assert existing is not None
                return existing
            await uow.commit()
    if deps.checkpoints is not None and (anchor is None or anchor.tree_size < head.tree_size):
        await checkpoints.append_checkpoint(deps.signer, deps.checkpoints, head)
    log.info("audit_tree_head_signed", tree_size=size, key_id=head.key_id)
    return head


async def run_signer(deps: LogDeps, interval_seconds: float) -> None:
    """Sign a new tree head every `interval_seconds` while the log grows (run as a task)."""
    if interval_seconds <= 0:
        return
    tree = CompactRange()
    while True:
        try:
            await sign_tree_head(deps, tree=tree)
        except DomainError as exc:
            log.error("audit_sign_refused", code=exc.code)
            tree = CompactRange()
        except Exception:
            log.exception("audit_sign_failed")
            tree = CompactRange()
        await asyncio.sleep(interval_seconds)


async def latest_tree_head(deps: LogDeps) -> TreeHead | None:
    async with deps.uow() as uow:
        return await uow.tree_heads.latest()


# --------------------------------------------------------------------------- proofs


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    root_hash: bytes


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    path: list[bytes]


async def _prefix(uow: UnitOfWork, tree_size: int) -> list[bytes]:
    """The stored leaf hashes of the first `tree_size` entries (the leaf hash column only)."""
    if tree_size > await uow.audit.size():
        raise NotFound(f"the log has no tree of size {tree_size} yet", code="tree_size_unknown")
    leaves = await uow.audit.leaf_hashes(0, tree_size)
    if len(leaves) != tree_size:
        raise Conflict("the audit log has missing entries", code="audit_log_gap")
    return leaves


async def _default_size(uow: UnitOfWork) -> int:
    latest = await uow.tree_heads.latest()
    return latest.tree_size if latest is not None else await uow.audit.size()


async def inclusion_proof(deps: LogDeps, index: int, tree_size: int | None = None) -> InclusionProof:
    """Proof that entry `index` is in the tree of `tree_size` (default: the latest signed head)."""
    async with deps.uow() as uow:
        size = await _default_size(uow) if tree_size is None else tree_size
        if index < 0 or size < 1 or index >= size:
            raise InvalidInput("index must be at least 0 and less than tree_size", code="index_outside_tree")
        leaves = await _prefix(uow, size)
    return InclusionProof(
        index=index,
        tree_size=size,
        leaf_hash=leaves[index],
        path=merkle.inclusion_proof(leaves, index=index),
        root_hash=merkle.merkle_root(leaves),
    )


async def consistency_proof(deps: LogDeps, old_size: int, new_size: int | None = None) -> ConsistencyProof:
    """Proof that the tree of `old_size` is a prefix of the tree of `new_size` (default: latest head)."""
    async with deps.uow() as uow:
        size = await _default_size(uow) if new_size is None else new_size
        if old_size < 1 or old_size > size:
            raise InvalidInput("need 1 <= first <= second", code="bad_tree_sizes")
        leaves = await _prefix(uow, size)
    return ConsistencyProof(
        first=old_size,
        second=size,
        first_root=merkle.merkle_root(leaves[:old_size]),
        second_root=merkle.merkle_root(leaves),
        path=merkle.consistency_proof(leaves, old_size=old_size),
    )


# --------------------------------------------------------------------------- verification


DEFAULT_UNSIGNED_GRACE = timedelta(minutes=3)
"""How old an entry may be with no signed head over it: twice the default signing interval
(60 s) and a minute for a slow signer."""


async def verify_log(
    deps: LogDeps,
    *,
    saved_head: TreeHead | None = None,
    unsigned_grace: timedelta | None = DEFAULT_UNSIGNED_GRACE,
) -> VerifyReport:
    """Recompute every leaf from its fields and every root from those leaves; check every stored
    signed head (root and signature), compare the database with the checkpoints kept outside it
    (`deps.checkpoints`: heads deleted, a log rolled back, truncated or rewritten), flag
    entries no head has covered for longer than `unsigned_grace` (None: skip the time-based
    checks) and, if given, check that a head saved earlier by an outsider is consistent with
    the log today. O(n) in the size of the log."""
    async with deps.uow() as uow:
        rows = await uow.audit.all()
        heads = await uow.tree_heads.all()
    records = None
    if deps.checkpoints is not None and await asyncio.to_thread(deps.checkpoints.exists):
        records = await checkpoints.read_records(deps.checkpoints)
    report = VerifyReport(entries=len(rows), tree_size=rows[-1].seq + 1 if rows else 0)
    report.latest_head = heads[-1] if heads else None
    report.checkpoint_file = None if deps.checkpoints is None else deps.checkpoints.location
    leaves, report.findings = check_entries(rows)
    wanted = {h.tree_size for h in heads} | ({saved_head.tree_size} if saved_head else set())
    wanted |= {r.tree_size for r in records or () if isinstance(r, SignedCheckpoint)}
    roots = merkle.prefix_roots(leaves, wanted | {len(leaves)})
    report.root_hash = roots[len(leaves)]
    check_heads(deps.signer, heads, roots, report)
    cutoff = None if unsigned_grace is None else deps.clock.now() - unsigned_grace
    covered = 0
    if deps.checkpoints is not None:
        covered = check_checkpoints(deps.signer, records, heads, roots, cutoff, report)
    signed = [h.tree_size for h in heads if verify_head_signature(deps.signer, h)]
    covered = min(max([covered, *signed]), report.tree_size)
    check_unsigned(rows, heads, covered, cutoff, report)
    if saved_head is not None:
        check_saved(deps.signer, saved_head, leaves, report)
    return report


# --------------------------------------------------------------------------- the person's view


@dataclass(frozen=True, slots=True)
class AccessView:
    """One entry of the person's log, in plain words."""

    index: int
    at: datetime
    who: str
    why: str
    what: str
    purpose: str
    action: str
    leaf_hash: str




async def person_accesses(deps: Deps, grant: Grant, limit: int = 100) -> list[AccessView]:
    """The person's own entries, newest first. Reading them is itself an access, and logged."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        rows = await uow.audit.for_person(grant.person_id, limit=limit)
        await access.audit(
            uow,
            grant,
            Purpose.SHOW_TO_PERSON,
            action="read_audit_log",
            subject=f"audit_log entries:{len(rows)}",
            at=now,
        )
        await uow.commit()
    return [
        AccessView(
            index=r.seq,
            at=r.at,
            who=actor_words(r.actor, grant.person_id),
            why=purpose_words(r.purpose),
            what=action_words(r.action),
            purpose=r.purpose,
            action=r.action,
            leaf_hash=r.leaf_hash,
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class LeafView:
    """One leaf for an outsider's verification: the hash always, the entry only for its owner."""

    index: int
    leaf_hash: str
    entry: AuditEntry | None


MAX_LEAVES_PER_PAGE = 1000


async def leaves_for(deps: Deps, grant: Grant | None, *, start: int, end: int) -> list[LeafView]:
    """Leaves [start, end) of the log. Entries of the grant's person come with their data (so
    they can recompute the hash themselves); everyone else's are hashes only."""
    if start < 0 or end <= start:
        raise InvalidInput("need 0 <= start < end", code="bad_range")
    if end - start > MAX_LEAVES_PER_PAGE:
        raise InvalidInput(f"at most {MAX_LEAVES_PER_PAGE} entries per request", code="range_too_large")
    async with deps.uow() as uow:
        rows = await uow.audit.entries(start, end)
        own = [r for r in rows if grant is not None and r.person_id == grant.person_id]
        if grant is not None and own:
            await access.audit(
                uow,
                grant,
                Purpose.SHOW_TO_PERSON,
                action="read_audit_log",
                subject=f"audit_log entries:{len(own)}",
                at=deps.clock.now(),
            )
            await uow.commit()
    mine = {r.seq for r in own}
    return [
        LeafView(index=r.seq, leaf_hash=r.leaf_hash, entry=audit_entry(r, r.seq) if r.seq in mine else None)
        for r in rows
    ]
