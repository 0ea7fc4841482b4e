"""Messaging's vocabulary: persons, threads, messages and their live views, read state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ledgerlink.domain.chat import CardKind


@dataclass(slots=True)
class PersonRecord:
    id: str
    handle: str
    display_name: str
    password_hash: str
    created_at: datetime
    erased_at: datetime | None = None
    disclosure: str = "full"
    zone: str | None = None  # IANA time zone for quiet hours and digests (issue 13); None: not chosen


@dataclass(slots=True)
class ThreadRecord:
    id: str
    person_id: str
    kind: str
    title: str
    partner_id: str | None
    link_id: str | None
    created_at: datetime
    last_rev: int
    last_seq: int


@dataclass(slots=True)
class MessageRecord:
    id: str
    thread_id: str
    person_id: str
    seq: int
    rev: int
    kind: str
    subject_key: str | None
    sealed: bytes  # JSON card body
    created_at: datetime
    edited_at: datetime | None


class PersonRepository(Protocol):
    async def add(self, person: PersonRecord) -> None: ...
    async def get(self, person_id: str) -> PersonRecord | None: ...
    async def by_handle(self, handle: str) -> PersonRecord | None: ...
    async def set_disclosure(self, person_id: str, level: str) -> None: ...
    async def set_zone(self, person_id: str, zone: str) -> None: ...  # issue 13
    async def erase(self, person_id: str, at: datetime) -> dict[str, int]:
        """Delete everything held about the person and scrub their account row, keeping only
        the opaque id (the audit log refers to it). Returns rows deleted per table."""
        ...


class ThreadRepository(Protocol):
    async def add(self, thread: ThreadRecord) -> None: ...
    async def get(self, thread_id: str) -> ThreadRecord | None: ...
    async def for_person(self, person_id: str) -> list[ThreadRecord]: ...
    async def system_thread(self, person_id: str) -> ThreadRecord | None: ...
    async def for_link(self, link_id: str) -> ThreadRecord | None: ...
    async def lock(self, thread_id: str) -> ThreadRecord | None:
        """Read the thread and hold its row lock until the end of the unit of work, so
        deliveries into one thread are serialised and converge to the latest state."""
        ...

    async def bump(self, thread_id: str, *, new_message: bool) -> tuple[int, int]:
        """Atomically advance the thread's revision (and sequence for a new message);
        returns (seq or current last_seq, rev)."""
        ...

    async def add_message(self, message: MessageRecord) -> None: ...
    async def update_message(self, message: MessageRecord) -> None: ...
    async def message_by_subject(self, thread_id: str, subject_key: str) -> MessageRecord | None: ...
    async def messages_since(
        self, thread_id: str, after_rev: int, *, limit: int = 500
    ) -> list[MessageRecord]: ...
    async def latest_messages(self, thread_id: str, *, limit: int = 100) -> list[MessageRecord]: ...


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as the person sees it: opened body, thread revision, edit state."""

    id: str
    thread_id: str
    seq: int
    rev: int
    kind: CardKind
    subject_key: str | None
    body: dict[str, Any]
    created_at: datetime
    edited_at: datetime | None


class LiveFeed(Protocol):
    """This process's live connections (the web messenger's hub). After a unit of work
    commits, the messages it wrote are handed over here, so they can be pushed without being
    read back. Process-local: nothing here is published or stored (ADR 0015)."""

    def written(self, fresh: Sequence[tuple[str, MessageView]]) -> None:
        """(person id, view) of each message written, in the order written."""
        ...


class ThreadReadRepository(Protocol):
    """How far the person has read each thread: ids and counters only (owner: read state)."""

    async def advance(self, person_id: str, thread_id: str, seq: int, *, at: datetime) -> int | None:
        """Raise the thread's last read seq to `seq`, never lower it (atomic, also between
        processes). The new value, or None when it was already at or past `seq`."""
        ...

    async def last_read(self, person_id: str, thread_id: str) -> int:
        """The last read seq of the thread (0 when never opened)."""
        ...

    async def for_person(self, person_id: str) -> dict[str, int]:
        """Thread id -> last read seq, for the threads the person has opened."""
        ...
