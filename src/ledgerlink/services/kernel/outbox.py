"""The transactional outbox and its relay (scale-out profile, issue 12, ADR 0027).

With the NATS profile a unit of work does not publish its events after commit: it writes them
to the `outbox` table in the same transaction, so an event exists exactly when the state change
it describes does. The `Relay` then publishes the rows in order, each with its id as the
message id (JetStream drops a repeat within its duplicate window), and deletes them once the
broker has acknowledged them. Several relays may run: only the holder of the `Lease` works.

Events cross process boundaries here, so they are encoded as JSON of their fields (ids, flags,
counts: events never hold personal data) under a subject that names their type.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from ledgerlink.domain.events import Event
from ledgerlink.domain.ids import new_id

__all__ = [
    "EVENT_PREFIX",
    "Lease",
    "OutboxRecord",
    "OutboxStore",
    "Publisher",
    "Relay",
    "UnknownEvent",
    "decode_event",
    "encode_event",
    "event_types",
    "subject_for",
    "to_records",
]

_log = structlog.get_logger(__name__)

EVENT_PREFIX = "ledgerlink.events"


class UnknownEvent(ValueError):
    """A message that is not an event this code knows (unknown type, bad JSON, wrong fields)."""


def event_types() -> dict[str, type[Event]]:
    """Every `Event` subclass by class name (names are unique across the codebase)."""
    found: dict[str, type[Event]] = {}
    pending: list[type[Event]] = [Event]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if getattr(sys.modules.get(sub.__module__), sub.__qualname__, None) is not sub:
                continue  # the class `dataclass(slots=True)` replaced, or a local one
            if sub.__name__ in found and found[sub.__name__] is not sub:
                raise RuntimeError(f"two event classes are named {sub.__name__}")
            found[sub.__name__] = sub
    return found


def subject_for(event_type: type[Event] | str, *, prefix: str = EVENT_PREFIX) -> str:
    name = event_type if isinstance(event_type, str) else event_type.__name__
    return f"{prefix}.{name}"


def encode_event(event: Event) -> bytes:
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def decode_event(type_name: str, payload: bytes) -> Event:
    """The event of type `type_name` from `encode_event`'s bytes, or `UnknownEvent`."""
    cls = event_types().get(type_name)
    if cls is None:
        raise UnknownEvent(f"unknown event type {type_name[:60]!r}")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnknownEvent(f"{type_name}: payload is not JSON") from exc
    if not isinstance(data, dict):
        raise UnknownEvent(f"{type_name}: payload is not a JSON object")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue  # a field added later: its default applies
        value = data[f.name]
        if isinstance(value, list) and str(f.type).startswith("tuple"):
            value = tuple(value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise UnknownEvent(f"{type_name}: fields do not match") from exc


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: str  # the event id: also the JetStream message id
    subject: str
    payload: bytes
    created_at: datetime
    seq: int = 0  # set by the database; the relay publishes in this order


def to_records(events: Iterable[Event], *, now: datetime, prefix: str = EVENT_PREFIX) -> list[OutboxRecord]:
    return [
        OutboxRecord(id=new_id("evt"), subject=subject_for(type(e), prefix=prefix),
                     payload=encode_event(e), created_at=now)
        for e in events
    ]


class OutboxStore(Protocol):
    """The relay's view of the outbox table (its own connections, not a unit of work)."""

    async def add(self, records: Sequence[OutboxRecord]) -> None: ...
    async def pending(self, *, limit: int) -> list[OutboxRecord]: ...
    async def remove(self, ids: Sequence[str]) -> None: ...
    async def depth(self) -> int: ...


class Lease(Protocol):
    """Who may relay. `acquire` tries once (no waiting); `held` checks the lease is still ours."""

    async def acquire(self) -> bool: ...
    async def held(self) -> bool: ...
    async def release(self) -> None: ...


Publisher = Callable[[str, bytes, str], Awaitable[None]]
"""publish(subject, payload, message id): returns once the broker has stored it, else raises."""


class Relay:
    """Publishes the outbox while it holds the lease; wakes on `wake()` or every `poll` seconds."""

    def __init__(
        self, store: OutboxStore, lease: Lease, publish: Publisher, *,
        batch: int = 256, poll: float = 0.5, retry: float = 1.0,
    ) -> None:
        self._store = store
        self._lease = lease
        self._publish = publish
        self._batch = batch
        self._poll = poll
        self._retry = retry
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._holding = False
        self.published = 0  # messages this relay handed to the broker (tests, metrics)

    @property
    def holding(self) -> bool:
        return self._holding

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ledgerlink-outbox-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._holding:
            self._holding = False
            await self._lease.release()

    async def relay_once(self) -> int:
        """Publish one batch if the lease is ours; the number of rows published."""
        if not self._holding:
            self._holding = await self._lease.acquire()
        elif not await self._lease.held():
            self._holding = False
            _log.warning("outbox_lease_lost")
        if not self._holding:
            return 0
        rows = await self._store.pending(limit=self._batch)
        done: list[str] = []
        try:
            for row in rows:  # in order, one at a time: the stream keeps the outbox's order
                await self._publish(row.subject, row.payload, row.id)
                self.published += 1
                done.append(row.id)
        finally:
            if done:  # a crash before this line republishes them: the message id dedupes
                await self._store.remove(done)
        return len(done)

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                count = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("outbox_relay_failed", error=type(exc).__name__)
                await asyncio.sleep(self._retry)
                continue
            if count >= self._batch:
                continue  # more are waiting
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wakeup.wait()
