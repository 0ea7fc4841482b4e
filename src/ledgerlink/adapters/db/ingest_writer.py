"""The group-commit writer behind bank-event ingest (the platform's hottest write).

SQLite: one synchronous `executemany` + commit on a dedicated connection, run on the event
loop while holding the in-process writer gate (priority). A batch costs well under a
millisecond of loop time, far less than handing each statement to aiosqlite's thread and
waiting for it to win the GIL back from a busy loop (measured: 15-25 ms per batch under load).
PostgreSQL: `PgInboxWriter`, the inbox rows and (scale-out profile) the batch's outbox row in
one transaction of one statement, several batches at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import errors
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerlink.adapters.db.engine import LOOP_BUSY_MS, is_sqlite, normalise_url, take_write_lock
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.domain.events import Event
from ledgerlink.services.ingest.ports import InboxRecord

# psycopg's own placeholders: these are sent on the raw driver connection, every parameter in
# binary (`%(name)b`). One array per column, so the text is the same for every batch size and
# psycopg prepares it once. Rows are as received: processed_at, attempts and last_error are the
# inbox worker's to set.
_OUTBOX_INSERT = "INSERT INTO outbox (id, subject, payload, created_at) VALUES (%b, %b, %b, %b)"
_INSERT_PG = (
    "INSERT INTO inbox (id, partner_id, person_id, event_type, sealed, received_at, attempts) "
    "SELECT i, p, pe, e, s, r, 0 FROM unnest(%(id)b::text[], %(partner_id)b::text[], "
    "%(person_id)b::text[], %(event_type)b::text[], %(sealed)b::bytea[], %(received_at)b::timestamptz[]) "
    "AS batch(i, p, pe, e, s, r) "
    "ON CONFLICT (id) DO NOTHING RETURNING inbox.id"
)
# The scale-out profile's batch in one statement (one transaction in autocommit): the inbox
# rows and, when any was inserted, the batch's outbox row announcing all of them. When only some
# were (others stored before: a bank's resend in the same batch), that announcement would name
# ids this batch did not store: its id is then NULL, which the outbox's NOT NULL refuses, so the
# whole statement fails and nothing of it is stored (`_PARTLY_STORED`); the writer then stores
# the batch in a transaction that announces exactly the ids it inserted.
_BATCH_PG = (
    f"WITH ins AS ({_INSERT_PG}), "  # noqa: S608 (constant text: the parameters are bound)
    "announced AS (INSERT INTO outbox (id, subject, payload, created_at) "
    "SELECT CASE WHEN (SELECT count(*) FROM ins) = %(n)b THEN %(ob_id)b END, %(ob_subject)b, %(ob_payload)b, "
    "%(ob_at)b WHERE EXISTS (SELECT 1 FROM ins)) "
    "SELECT id FROM ins"
)
_PARTLY_STORED = errors.NotNullViolation
_BATCH_FIELDS = ("id", "partner_id", "person_id", "event_type", "sealed", "received_at")


def _batch_params(records: Sequence[InboxRecord]) -> dict[str, Any]:
    """`_INSERT_PG`'s parameters: one list per column."""
    for r in records:
        if r.received_at.tzinfo is None:  # as `schema.UtcDateTime` does, which this bypasses
            raise ValueError("naive datetime given to the database; use aware UTC")
        if r.processed_at is not None or r.attempts or r.last_error is not None:
            raise ValueError("the ingest writer stores events as received (not processed, no attempts)")
    return {name: [getattr(r, name) for r in records] for name in _BATCH_FIELDS}

_INSERT = (
    "INSERT INTO inbox (id, partner_id, person_id, event_type, sealed, received_at, attempts) "
    "VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING"
)


class PgInboxWriter:
    """PostgreSQL: a batch is one statement in autocommit, i.e. one transaction and one round
    trip (`_BATCH_PG`): the INSERT .. SELECT FROM unnest(..) ON CONFLICT DO NOTHING RETURNING id
    of its inbox rows and, in the scale-out profile, the batch's `BankEventsReceived` outbox
    row (a data-modifying CTE). A batch of which only some rows are new (a bank's resend among
    them) is stored instead in a transaction whose announcement names exactly the ids it
    inserted. Every parameter is sent in binary (the sealed payloads as bytea, not as hex text
    inside an array literal: bench/README.md, 2026-12-08). The connections stay checked out of
    the engine's pool, in autocommit, one per batch in flight; one that fails mid-batch is
    discarded (a transaction open on it is rolled back with it; the next batch checks out a new
    one). One batch is in flight at a time: with one round trip per batch, a second one in
    flight made the batches smaller and cost more api CPU per event (bench/README.md,
    2026-12-08: 0.153-0.173 ms with one, 0.170-0.188 ms with two). Batches of other processes
    may be in flight beside it: ON CONFLICT settles an id sent twice at once (the second insert
    waits for the first transaction, then skips the row)."""

    concurrency = 1

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
        params = _batch_params(records)
        conn = self._idle.pop() if self._idle else await self._uow.engine.connect()
        try:
            raw: Any = (await conn.get_raw_connection()).driver_connection  # psycopg.AsyncConnection
            if not raw.autocommit:  # a connection just checked out of the pool
                if raw.info.transaction_status != TransactionStatus.IDLE:
                    await raw.rollback()
                await raw.set_autocommit(True)
            inserted = await self._write(raw, records, params, announce)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.invalidate())
            raise
        self._idle.append(conn)
        routing = self._uow.outbox
        if inserted and announce is not None and routing is not None and routing.wake is not None:
            routing.wake()
        return inserted

    async def _write(self, raw: Any, records: Sequence[InboxRecord], params: dict[str, Any],
                     announce: Callable[[list[str]], Event] | None) -> set[str]:
        routing = self._uow.outbox if announce is not None else None
        cursor = raw.cursor()
        if routing is None or announce is None:
            await cursor.execute(_INSERT_PG, params)
            return {got[0] for got in await cursor.fetchall()}
        [row] = routing.records([announce([r.id for r in records])])
        try:
            await cursor.execute(_BATCH_PG, {**params, "n": len(records), "ob_id": row.id,
                                             "ob_subject": row.subject, "ob_payload": row.payload.decode(),
                                             "ob_at": row.created_at})
            return {got[0] for got in await cursor.fetchall()}
        except _PARTLY_STORED:
            pass  # nothing of the statement was stored: again, announcing what is inserted
        async with raw.transaction():
            await cursor.execute(_INSERT_PG, params)
            inserted = {got[0] for got in await cursor.fetchall()}
            if inserted:
                [row] = routing.records([announce([r.id for r in records if r.id in inserted])])
                await cursor.execute(_OUTBOX_INSERT,
                                     (row.id, row.subject, row.payload.decode(), row.created_at))
        return inserted

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                raw: Any = (await conn.get_raw_connection()).driver_connection
                await raw.set_autocommit(False)  # back to the pool as it came
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
