"""The audit log as an RFC 9162 (Certificate Transparency v2) Merkle tree: entries, leaf and
node hashing, roots, inclusion and consistency proofs, and signed tree heads. Pure functions."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One access to personal data. Ids only: never a value that was read."""

    index: int  # 0-based leaf index in the log
    at: datetime
    actor: str
    person_id: str
    purpose: str
    action: str
    subject: str

    def leaf_data(self) -> bytes:
        """The canonical bytes of this entry: sorted-key compact JSON, UTF-8."""
        return json.dumps(
            {
                "index": self.index,
                "at": self.at.isoformat(),
                "actor": self.actor,
                "person_id": self.person_id,
                "purpose": self.purpose,
                "action": self.action,
                "subject": self.subject,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.leaf_data())


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 section 2.1: MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 section 2.1: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()
"""RFC 9162 section 2.1.1: the hash of an empty list is the hash of an empty string."""


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits a list of n."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 section 2.1.1 MTH over a list of *leaf hashes* (not leaf data)."""
    tree = CompactRange()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


class CompactRange:
    """The roots of the perfect subtrees covering leaves [0, size): O(log n) memory.

    Appending is amortised O(1) and `root()` is O(log n), so the roots of many prefixes (one
    per signed tree head) cost one pass over the leaves, not one pass per head."""

    __slots__ = ("_peaks", "size")

    def __init__(self) -> None:
        self._peaks: list[bytes] = []  # largest subtree first
        self.size = 0

    def append(self, leaf: bytes) -> None:
        node = leaf
        size = self.size
        while size & 1:  # merge equal-sized neighbours, like carrying in binary addition
            node = node_hash(self._peaks.pop(), node)
            size >>= 1
        self._peaks.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        node = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            node = node_hash(peak, node)
        return node


def prefix_roots(leaves: Sequence[bytes], sizes: Collection[int]) -> dict[int, bytes]:
    """The root of the tree of the first n leaves, for each n in `sizes` up to `len(leaves)`
    (sizes beyond it have no tree and are left out), in one pass over the leaves."""
    roots: dict[int, bytes] = {}
    tree = CompactRange()
    for leaf in [None, *leaves]:
        if leaf is not None:
            tree.append(leaf)
        if tree.size in sizes:
            roots[tree.size] = tree.root()
    return roots


def inclusion_proof(leaves: Sequence[bytes], *, index: int) -> list[bytes]:
    """RFC 9162 section 2.1.3.1 PATH(m, D[n]): the audit path of leaf `index` in `leaves`."""
    if not 0 <= index < len(leaves):
        raise ValueError("index outside the tree")
    path: list[bytes] = []
    lo, hi, m = 0, len(leaves), index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(merkle_root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(merkle_root(leaves[lo : lo + k]))
            lo, m = lo + k, m - k
    path.reverse()  # PATH lists the sibling nearest the leaf first
    return path


def verify_inclusion(leaf: bytes, *, index: int, tree_size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does `path` prove leaf hash `leaf` at `index` in `root`?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(leaves: Sequence[bytes], *, old_size: int) -> list[bytes]:
    """RFC 9162 section 2.1.4.1 PROOF(m, D[n]): proves the tree of the first `old_size` leaves
    is a prefix of the tree of all `leaves`. Empty when the sizes are equal."""
    if not 0 < old_size <= len(leaves):
        raise ValueError("old size outside the tree")
    proof: list[bytes] = []
    lo, hi, m, complete = 0, len(leaves), old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(merkle_root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            proof.append(merkle_root(leaves[lo : lo + k]))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(merkle_root(leaves[lo:hi]))  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
    proof.reverse()
    return proof


def verify_consistency(
    proof: Sequence[bytes], *, old_size: int, new_size: int, old_root: bytes, new_root: bytes
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree (old_size, old_root) a prefix of (new_size, new_root)?"""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node itself
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


# --------------------------------------------------------------------------- signed tree heads

TREE_HEAD_FORMAT = "ledgerlink-audit-tree-head/v1"


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The log's size and root at one moment, signed by the platform (Ed25519).

    Anyone who saved one can later ask for a consistency proof to the current head: if the
    log was rewritten before `tree_size`, no proof exists."""

    tree_size: int
    root_hash: bytes
    timestamp: datetime  # aware UTC, whole milliseconds
    key_id: str
    signature: bytes = b""

    def signed_bytes(self) -> bytes:
        """What the signature covers: sorted-key compact JSON, UTF-8 (documented in
        docs/privacy.md so an outsider can rebuild it from the published fields)."""
        return json.dumps(
            {
                "format": TREE_HEAD_FORMAT,
                "key_id": self.key_id,
                "root_hash": self.root_hash.hex(),
                "timestamp": format_timestamp(self.timestamp),
                "tree_size": self.tree_size,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def as_dict(self) -> dict[str, object]:
        """The published form (`GET /audit/tree-head`, `ledgerlink audit tree-head`)."""
        return {
            "format": TREE_HEAD_FORMAT,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": format_timestamp(self.timestamp),
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_dict(cls, data: object) -> TreeHead:
        """Read the published form back; ValueError if it is not one."""
        if not isinstance(data, dict) or data.get("format") != TREE_HEAD_FORMAT:
            raise ValueError(f"not a tree head (format {TREE_HEAD_FORMAT!r} expected)")
        try:
            size, root, at = data["tree_size"], data["root_hash"], data["timestamp"]
            key_id, signature = data["key_id"], data["signature"]
            if not (isinstance(size, int) and size >= 0 and isinstance(key_id, str)):
                raise ValueError("tree_size or key_id has the wrong type")
            timestamp = datetime.fromisoformat(at)
            if timestamp.tzinfo is None:
                raise ValueError("timestamp has no time zone")
            return cls(
                tree_size=size,
                root_hash=bytes.fromhex(root),
                timestamp=timestamp.astimezone(UTC),
                key_id=key_id,
                signature=base64.b64decode(signature, validate=True),
            )
        except (KeyError, TypeError, binascii.Error) as exc:
            raise ValueError(f"not a tree head ({type(exc).__name__})") from None


def format_timestamp(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, e.g. 2026-03-01T12:00:00.250Z."""
    if at.tzinfo is None:
        raise ValueError("naive datetime; use aware UTC")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_millis(at: datetime) -> datetime:
    """`at` truncated to whole milliseconds, so it survives every database round trip."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)
