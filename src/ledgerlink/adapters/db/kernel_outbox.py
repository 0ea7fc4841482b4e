"""The outbox table (scale-out profile, issue 12, ADR 0027) and the relay's lease.

`SqlOutbox` writes rows on a unit of work's connection (the events commit with the data).
`SqlOutboxStore` is the relay's side, on connections of its own. The lease is a PostgreSQL
session-level advisory lock held on one dedicated connection: it is released by the server as
soon as that connection ends, including when the holder's process is killed. SQLite is one
process by design, so its lease is always granted there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerlink.adapters.db.schema import outbox
from ledgerlink.domain.clock import Clock
from ledgerlink.domain.events import Event
from ledgerlink.services.kernel.outbox import (
    EVENT_PREFIX,
    Lease,
    OutboxRecord,
    to_records,
)

__all__ = [
    "RELAY_LOCK_KEY",
    "AdvisoryLease",
    "LocalLease",
    "OutboxRouting",
    "SqlOutbox",
    "SqlOutboxStore",
    "lease_for",
]

# pg_advisory_lock key of the relay: any constant shared by every process of one deployment.
RELAY_LOCK_KEY = 0x4C4C_0027  # "LL", ADR 0027


def _rows(records: Sequence[OutboxRecord]) -> list[dict[str, Any]]:
    return [
        {"id": r.id, "subject": r.subject, "payload": r.payload.decode(), "created_at": r.created_at}
        for r in records
    ]


class SqlOutbox:
    """Outbox rows on the unit of work's own connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def add(self, records: Sequence[OutboxRecord]) -> None:
        if records:
            await self._conn.execute(insert(outbox), _rows(records))


class SqlOutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, records: Sequence[OutboxRecord]) -> None:
        if records:
            async with self._engine.begin() as conn:
                await conn.execute(insert(outbox), _rows(records))

    async def pending(self, *, limit: int) -> list[OutboxRecord]:
        query = select(outbox).order_by(outbox.c.seq).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            OutboxRecord(id=r.id, subject=r.subject, payload=r.payload.encode(),
                         created_at=r.created_at, seq=r.seq)
            for r in rows
        ]

    async def remove(self, ids: Sequence[str]) -> None:
        if ids:
            async with self._engine.begin() as conn:
                await conn.execute(delete(outbox).where(outbox.c.id.in_(list(ids))))

    async def depth(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())


class AdvisoryLease:
    """`pg_try_advisory_lock` on a connection kept for as long as the lease is held."""

    def __init__(self, engine: AsyncEngine, *, key: int = RELAY_LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._conn is not None:
            return await self.held()
        conn = await self._engine.connect()
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})).scalar_one()
            await conn.commit()  # the lock is the session's: it outlives the transaction
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            await self._conn.execute(text("SELECT 1"))
            await self._conn.commit()
        except Exception:  # the connection died: so did the lock, on the server's side
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        if self._conn is None:
            return
        conn = self._conn
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            await conn.commit()
        except Exception:
            # The connection is unusable (a check cancelled mid-statement at shutdown, a failed
            # transaction, the server gone). Back in the pool its session would keep the lock:
            # end the session instead, which frees the lock on the server's side.
            self._conn = None
            await conn.invalidate()
            return
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                await conn.invalidate()


class LocalLease:
    """SQLite: one process owns the database file, so its relay always holds the lease."""

    async def acquire(self) -> bool:
        return True

    async def held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


def lease_for(engine: AsyncEngine) -> Lease:
    return LocalLease() if engine.dialect.name == "sqlite" else AdvisoryLease(engine)


class OutboxRouting:
    """How units of work hand their events to the outbox instead of the bus (NATS profile):
    the rows' instants come from `clock`, and `wake` nudges the relay after each commit."""

    def __init__(self, *, clock: Clock, wake: Callable[[], None] | None = None,
                 prefix: str = EVENT_PREFIX) -> None:
        self.clock = clock
        self.wake = wake
        self.prefix = prefix

    def records(self, events: Sequence[Event]) -> list[OutboxRecord]:
        return to_records(events, now=self.clock.now(), prefix=self.prefix)
