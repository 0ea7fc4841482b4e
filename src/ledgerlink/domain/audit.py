"""The audit log's entries and their RFC 6962 leaf hashing (the Merkle tree builds on this)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime


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
