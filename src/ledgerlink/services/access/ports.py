"""The access layer's vocabulary: the key crypto and key store under the vault, and the audit
log every read writes to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol


class KeyCrypto(Protocol):
    """Envelope encryption with per-person data keys wrapped by a master key."""

    def new_wrapped_key(self) -> tuple[bytes, str]:
        """A fresh data key, returned wrapped, with the id of the master key that wraps it."""
        ...

    def seal(self, person_id: str, wrapped_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes: ...

    def open(self, person_id: str, wrapped_key: bytes, sealed: bytes, *, aad: bytes) -> bytes: ...

    def forget(self, person_id: str) -> None:
        """Drop any cached unwrapped key of this person."""
        ...

    def forget_all(self) -> None:
        """Drop every cached unwrapped key."""
        ...


class KeyStore(Protocol):
    """Per-person wrapped data keys, kept outside the main database (see ADR 0008)."""

    async def put(self, person_id: str, wrapped_key: bytes, master_key_id: str, at: datetime) -> None: ...

    async def get(self, person_id: str) -> bytes | None:
        """The wrapped key, or None if the person has none or it was destroyed."""
        ...

    async def destroy(self, person_id: str) -> bool: ...


@dataclass(slots=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    person_id: str
    purpose: str
    action: str
    subject: str  # e.g. "transactions:3" or "account:acc_..." (ids only, never values)
    leaf_hash: str  # hex RFC 6962 leaf hash of the entry


# The person's grouped view of their log (issue 13, the access page): a filter and a count.
@dataclass(frozen=True, slots=True)
class AuditQuery:
    """One person's entries with since <= at < until, of these purposes (None: any) but not
    those excluded, by actors whose id starts with `actor_prefix` (None: anyone)."""

    person_id: str
    since: datetime | None = None
    until: datetime | None = None
    purposes: tuple[str, ...] | None = None
    exclude_purposes: tuple[str, ...] = ()
    actor_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class AuditCount:
    day: date  # the UTC day of the entries
    purpose: str
    actor: str
    count: int


class AuditRepository(Protocol):
    async def append(
        self, *, at: datetime, actor: str, person_id: str, purpose: str, action: str, subject: str
    ) -> None:
        """Record one access; written at the latest when the unit of work commits."""
        ...

    async def flush(self) -> None: ...
    async def for_person(self, person_id: str, *, limit: int = 100) -> list[AuditRecord]:
        """The person's entries, newest first."""
        ...

    async def all(self) -> list[AuditRecord]: ...
    async def size(self) -> int:
        """The tree size: the highest leaf index + 1 (0 when empty)."""
        ...

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Stored leaf hashes of the entries with start <= seq < end, in order (gaps skipped)."""
        ...

    async def entries(self, start: int, end: int) -> list[AuditRecord]:
        """The entries with start <= seq < end, in order (gaps skipped)."""
        ...

    # The grouped access page (issue 13): counted in SQL, never by loading the rows.
    async def days(self, query: AuditQuery, *, limit: int, offset: int = 0) -> list[date]:
        """The UTC days that have matching entries, newest first."""
        ...

    async def count_days(self, query: AuditQuery) -> int: ...
    async def counts(self, query: AuditQuery) -> list[AuditCount]:
        """Matching entries counted per UTC day, purpose and actor."""
        ...

    async def first_seen(self, person_id: str) -> dict[str, datetime]:
        """When each purpose first appears in the person's log."""
        ...

    async def find(self, query: AuditQuery, *, limit: int, offset: int = 0) -> list[AuditRecord]:
        """Matching entries, newest first."""
        ...
