"""What verifying the audit log finds: the checks over the stored entries and signed heads,
each sign of tampering a `Finding`. No storage here: `audit.verify_log` reads the log and
runs these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ledgerlink.domain import audit as merkle
from ledgerlink.domain.audit import AuditEntry, TreeHead
from ledgerlink.domain.checkpoint import DamagedRecord, Record, SignedCheckpoint
from ledgerlink.services.access.ports import AuditRecord
from ledgerlink.services.kernel.ports import Signer
from ledgerlink.services.privacy.checkpoints import checkpoint_verifies


@dataclass(frozen=True, slots=True)
class Finding:
    """One sign of tampering. `check` is stable: missing, changed, moved, head_signature,
    head_root, head_beyond_log, saved_head_signature, saved_head_beyond_log,
    saved_head_inconsistent, no_tree_head, unsigned_tail, checkpoints_missing,
    checkpoint_unreadable, checkpoint_signature, checkpoint_beyond_log, checkpoint_root,
    checkpoint_head_missing, checkpoint_head_differs, head_not_checkpointed."""

    check: str
    detail: str
    index: int | None = None
    tree_size: int | None = None


@dataclass(slots=True)
class VerifyReport:
    tree_size: int = 0
    entries: int = 0
    root_hash: bytes = merkle.EMPTY_ROOT
    heads_checked: int = 0
    latest_head: TreeHead | None = None
    checkpoints_checked: int = 0
    checkpoint_file: str | None = None  # where the checkpoints compared came from
    latest_checkpoint: int | None = None  # the largest checkpointed tree size that verified
    unsigned_entries: int = 0  # entries after the latest signed head or checkpoint
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


def verify_head_signature(signer: Signer, head: TreeHead) -> bool:
    return signer.verify(head.key_id, head.signed_bytes(), head.signature)


def audit_entry(row: AuditRecord, index: int) -> AuditEntry:
    return AuditEntry(
        index=index,
        at=row.at,
        actor=row.actor,
        person_id=row.person_id,
        purpose=row.purpose,
        action=row.action,
        subject=row.subject,
    )


_MOVED_SCAN_LIMIT = 200  # pairwise search for moved entries; beyond this "changed" says enough


def check_entries(rows: Sequence[AuditRecord]) -> tuple[list[bytes], list[Finding]]:
    """Entry-level checks over the stored rows (in seq order): gaps, and leaf hashes recomputed
    from each row's fields. Returns the recomputed leaf hashes and what was found."""
    leaves: list[bytes] = []
    findings: list[Finding] = []
    bad: list[AuditRecord] = []
    expected = 0
    for row in rows:
        for missing in range(expected, row.seq):
            findings.append(Finding("missing", f"entry {missing} is missing (removed)", index=missing))
        expected = row.seq + 1
        leaf = audit_entry(row, row.seq).leaf_hash()
        leaves.append(leaf)
        if leaf.hex() != row.leaf_hash:
            bad.append(row)
    for row in bad:
        origin = None
        if len(bad) <= _MOVED_SCAN_LIMIT:
            origin = next(
                (
                    o.seq
                    for o in bad
                    if o.seq != row.seq and audit_entry(row, o.seq).leaf_hash().hex() == row.leaf_hash
                ),
                None,
            )
        if origin is None:
            findings.append(
                Finding("changed", f"entry {row.seq} does not match its leaf hash", index=row.seq)
            )
        else:
            findings.append(
                Finding("moved", f"entry {row.seq} holds the entry recorded at {origin}", index=row.seq)
            )
    return leaves, findings


def check_heads(
    signer: Signer, heads: Sequence[TreeHead], roots: Mapping[int, bytes], report: VerifyReport
) -> None:
    """Every stored signed head: its signature, and its root against the roots recomputed from
    the log (`roots`, by tree size). A root that no longer matches names the entries since the
    last head that did."""
    last_good = 0
    for head in heads:
        report.heads_checked += 1
        if not verify_head_signature(signer, head):
            report.findings.append(
                Finding(
                    "head_signature",
                    f"the signature of tree head {head.tree_size} is invalid",
                    tree_size=head.tree_size,
                )
            )
        if head.tree_size > report.tree_size:
            report.findings.append(
                Finding(
                    "head_beyond_log",
                    f"tree head {head.tree_size} covers entries that are gone "
                    f"(the log ends at {report.tree_size})",
                    tree_size=head.tree_size,
                )
            )
        elif roots.get(head.tree_size) != head.root_hash:
            report.findings.append(
                Finding(
                    "head_root",
                    f"tree head {head.tree_size} does not match the log: entries in "
                    f"{last_good}..{head.tree_size - 1} were changed",
                    index=last_good,
                    tree_size=head.tree_size,
                )
            )
        else:
            last_good = head.tree_size


def check_saved(signer: Signer, saved: TreeHead, leaves: list[bytes], report: VerifyReport) -> None:
    size = saved.tree_size
    if not verify_head_signature(signer, saved):
        report.findings.append(
            Finding("saved_head_signature", "the saved tree head's signature is invalid", tree_size=size)
        )
    if size > len(leaves):
        report.findings.append(
            Finding(
                "saved_head_beyond_log",
                f"the saved tree head has {size} entries; the log has {report.tree_size}",
                tree_size=size,
            )
        )
        return
    if size == 0:
        consistent = saved.root_hash == merkle.EMPTY_ROOT
    else:
        proof = merkle.consistency_proof(leaves, old_size=size)
        consistent = merkle.verify_consistency(
            proof, old_size=size, new_size=len(leaves), old_root=saved.root_hash, new_root=report.root_hash
        )
    if not consistent:
        report.findings.append(
            Finding(
                "saved_head_inconsistent",
                f"the log today does not extend the saved tree head of "
                f"size {size}: entries before {size} were changed",
                tree_size=size,
            )
        )


def check_unsigned(
    rows: Sequence[AuditRecord], heads: Sequence[TreeHead], covered: int, cutoff: datetime | None,
    report: VerifyReport,
) -> None:
    """Entries no signed head covers (`covered`: the largest tree size a verified head or
    checkpoint signs). They are protected only by their stored hashes, so the signer must have
    covered them within its interval: unsigned entries written before `cutoff` are a finding
    (heads deleted, the signer stopped, or a tail written behind its back)."""
    tail = [r for r in rows if r.seq >= covered]
    report.unsigned_entries = len(tail)
    if cutoff is None:
        return
    if not heads:  # whatever the checkpoints say: the database lost (or never had) its heads
        old = next((r for r in rows if r.at < cutoff), None)
        if old is not None:
            report.findings.append(
                Finding(
                    "no_tree_head",
                    f"the log has {report.tree_size} entries and no signed tree head; entry "
                    f"{old.seq} is older than the signing interval allows",
                    index=old.seq,
                )
            )
        return
    stale = [r for r in tail if r.at < cutoff]
    if stale:
        report.findings.append(
            Finding(
                "unsigned_tail",
                f"{len(stale)} entries from {stale[0].seq} on are covered by no signed tree head "
                f"and older than the signing interval allows (the latest head covers {covered})",
                index=stale[0].seq,
            )
        )


def check_checkpoints(
    signer: Signer,
    records: Sequence[Record] | None,
    heads: Sequence[TreeHead],
    roots: Mapping[int, bytes],
    cutoff: datetime | None,
    report: VerifyReport,
) -> int:
    """Compare the database with the checkpoints kept outside it (`records`; None: there is no
    checkpoint file). Returns the largest tree size a verified checkpoint covers."""
    if records is None or not any(isinstance(r, SignedCheckpoint) for r in records):
        if heads and cutoff is not None and heads[-1].timestamp < cutoff:
            report.findings.append(
                Finding(
                    "checkpoints_missing",
                    f"the database has {len(heads)} signed heads but the checkpoint file "
                    "holds none of them (removed or replaced)",
                    tree_size=heads[-1].tree_size,
                )
            )
        for record in records or ():
            _damaged(record, report)
        return 0
    by_size = {h.tree_size: h for h in heads}
    seen: set[int] = set()
    covered = 0
    for record in records:
        if isinstance(record, DamagedRecord):
            _damaged(record, report)
            continue
        report.checkpoints_checked += 1
        size = record.tree_size
        if not checkpoint_verifies(signer, record):
            report.findings.append(
                Finding("checkpoint_signature", f"checkpoint {size} is not signed by us", tree_size=size)
            )
            continue
        seen.add(size)
        covered = max(covered, min(size, report.tree_size))
        report.latest_checkpoint = max(report.latest_checkpoint or 0, size)
        head = by_size.get(size)
        if size > report.tree_size:
            report.findings.append(
                Finding(
                    "checkpoint_beyond_log",
                    f"checkpoint {size} covers entries that are gone (the log ends at "
                    f"{report.tree_size}): the log was rolled back or truncated",
                    tree_size=size,
                )
            )
        elif roots.get(size) != record.root_hash:
            report.findings.append(
                Finding(
                    "checkpoint_root",
                    f"checkpoint {size} does not match the log: entries before {size} were rewritten",
                    tree_size=size,
                )
            )
        if head is None:
            report.findings.append(
                Finding(
                    "checkpoint_head_missing",
                    f"checkpoint {size} has no signed head in the database (heads deleted)",
                    tree_size=size,
                )
            )
        elif head.root_hash != record.root_hash:
            report.findings.append(
                Finding(
                    "checkpoint_head_differs",
                    f"the database's head {size} has another root than its checkpoint",
                    tree_size=size,
                )
            )
    first = min(seen) if seen else None
    for head in heads:
        expected = (first is not None and head.tree_size >= first) or head is heads[-1]
        if expected and head.tree_size not in seen and cutoff is not None and head.timestamp < cutoff:
            report.findings.append(
                Finding(
                    "head_not_checkpointed",
                    f"signed head {head.tree_size} is missing from the checkpoint file (cut back?)",
                    tree_size=head.tree_size,
                )
            )
    return covered


def _damaged(record: Record, report: VerifyReport) -> None:
    if isinstance(record, DamagedRecord):
        report.findings.append(
            Finding("checkpoint_unreadable", f"the checkpoint file at line {record.line}: {record.reason}")
        )
