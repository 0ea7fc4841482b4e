"""The group-commit writer behind bank-event ingest (the platform's hottest write).

SQLite: one synchronous `executemany` + commit on a dedicated connection, run on the event
loop while holding the in-process writer gate (priority). A batch costs well under a
millisecond of loop time, far less than handing each statement to aiosqlite's thread and
waiting for it to win the GIL back from a busy loop (measured: 15-25 ms per batch under load).
PostgreSQL: `PgInboxWriter`, the inbox rows and (scale-out profile) the batch's outbox row in
one transaction, in two round trips, several batches at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerlink.adapters.db.engine import LOOP_BUSY_MS, is_sqlite, normalise_url, take_write_lock
from ledgerlink.adapters.db.ingest import INBOX_INSERT_PG, inbox_columns
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.domain.events import Event
from ledgerlink.services.ingest.ports import InboxRecord

# psycopg's own placeholders: these are sent on the raw driver connection.
_OUTBOX_INSERT = "INSERT INTO outbox (id, subject, payload, created_at) VALUES (%s, %s, %s, %s)"

_INSERT = (
    "INSERT INTO inbox (id, partner_id, person_id, event_type, sealed, received_at, attempts) "
    "VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING"
)


class PgInboxWriter:
    """PostgreSQL: a batch is one transaction of one INSERT .. SELECT FROM unnest(..) ON CONFLICT
    DO NOTHING RETURNING id (`ingest.INBOX_INSERT_PG`) and, in the scale-out profile, the
    batch's `BankEventsReceived` outbox row. Per batch the cost was in the round trips and the
    layers around them (pool check-out with its ping, BEGIN, the unit of work's 30 repositories,
    two INSERTs, COMMIT): here the connections stay checked out of the engine's pool, one per
    batch in flight, and psycopg's pipeline mode sends BEGIN with the INSERT and the outbox row
    with the COMMIT (two round trips). A connection that fails mid-batch is discarded (the
    transaction is rolled back with it; the next batch checks out a new one). Several batches
    may be in flight at once: ON CONFLICT settles an id sent twice at once (the second insert
    waits for the first transaction, then skips the row)."""

    concurrency = 2

    def __init__(self, uow: SqlUnitOfWorkFactory) -> None:
        self._uow = uow
        self._idle: list[AsyncConnection] = []

    @property
    def announces(self) -> bool:
        return self._uow.outbox is not None

    async def add_many(
        self, records: Sequence[InboxRecord], *, announce: Callable[[list[str]], Event] | None = None
    ) -> set[str]:
        if not records:
            return set()
        conn = self._idle.pop() if self._idle else await self._uow.engine.connect()
        try:
            inserted = await self._write(conn, records, announce)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.invalidate())
            raise
        self._idle.append(conn)
        routing = self._uow.outbox
        if inserted and announce is not None and routing is not None and routing.wake is not None:
            routing.wake()
        return inserted

    async def _write(self, conn: AsyncConnection, records: Sequence[InboxRecord],
                     announce: Callable[[list[str]], Event] | None) -> set[str]:
        raw: Any = (await conn.get_raw_connection()).driver_connection  # psycopg.AsyncConnection
        routing = self._uow.outbox
        columns = inbox_columns(records)
        async with raw.pipeline(), raw.transaction():
            cursor = raw.cursor()
            await cursor.execute(INBOX_INSERT_PG, columns)
            inserted = {row[0] for row in await cursor.fetchall()}
            if inserted and announce is not None and routing is not None:
                [row] = routing.records([announce([r.id for r in records if r.id in inserted])])
                await cursor.execute(_OUTBOX_INSERT,
                                     (row.id, row.subject, row.payload.decode(), row.created_at))
        return inserted

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close()
            except Exception:
                await conn.invalidate()


class SqliteInboxWriter:
    concurrency = 1  # one writer at a time is SQLite's own rule
    announces = False  # the embedded profile's bus is in process: the caller publishes

    def __init__(self, url: str, uow: SqlUnitOfWorkFactory) -> None:
        self._path = make_url(normalise_url(url)).database or ""
        self._uow = uow
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={LOOP_BUSY_MS}")  # on the loop thread: ADR 0009
            self._conn = conn
        return self._conn

    async def add_many(
        self, records: Sequence[InboxRecord], *, announce: Callable[[list[str]], Event] | None = None
    ) -> set[str]:
        gate = self._uow.write_gate
        assert gate is not None
        await gate.acquire(priority=True)
        try:
            conn = self._connection()
            await take_write_lock(conn)  # waited for with the loop running (ADR 0009 amendment)
            return self._write(records)
        finally:
            gate.release()

    def _write(self, records: Sequence[InboxRecord]) -> set[str]:
        """The batch, in the transaction `take_write_lock` began."""
        conn = self._connection()
        ids = [r.id for r in records]
        try:
            marks = ",".join("?" * len(ids))
            present = {row[0] for row in conn.execute(f"SELECT id FROM inbox WHERE id IN ({marks})", ids)}  # noqa: S608
            fresh = [r for r in records if r.id not in present]
            conn.executemany(
                _INSERT,
                [(r.id, r.partner_id, r.person_id, r.event_type, r.sealed, _sqlite_instant(r.received_at))
                 for r in fresh],
            )  # fmt: skip
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return {r.id for r in fresh}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        self.close()


def _sqlite_instant(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DATETIME reads back (naive UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def inbox_writer(url: str, uow: SqlUnitOfWorkFactory) -> PgInboxWriter | SqliteInboxWriter:
    return SqliteInboxWriter(url, uow) if is_sqlite(url) else PgInboxWriter(uow)
