"""What verifying the audit log finds: the checks over the stored entries and signed heads,
each sign of tampering a `Finding`. No storage here: `audit.verify_log` reads the log and
runs these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ledgerlink.domain import audit as merkle
from ledgerlink.domain.audit import AuditEntry, TreeHead
from ledgerlink.services.access.ports import AuditRecord
from ledgerlink.services.kernel.ports import Signer


@dataclass(frozen=True, slots=True)
class Finding:
    """One sign of tampering. `check` is stable: missing, changed, moved, head_signature,
    head_root, head_beyond_log, saved_head_signature, saved_head_beyond_log,
    saved_head_inconsistent."""

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
