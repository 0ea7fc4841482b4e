"""The group-commit writer behind bank-event ingest (the platform's hottest write).

SQLite: one synchronous `executemany` + commit on a dedicated connection, run on the event
loop while holding the in-process writer gate (priority). A batch costs well under a
millisecond of loop time, far less than handing each statement to aiosqlite's thread and
waiting for it to win the GIL back from a busy loop (measured: 15-25 ms per batch under load).
Other databases: the ordinary unit of work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from ledgerlink.adapters.db.engine import is_sqlite, normalise_url
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.services.ingest.ports import InboxRecord

_INSERT = (
    "INSERT INTO inbox (id, partner_id, person_id, event_type, sealed, received_at, attempts) "
    "VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING"
)


class UowInboxWriter:
    def __init__(self, uow: SqlUnitOfWorkFactory) -> None:
        self._uow = uow

    async def add_many(self, records: Sequence[InboxRecord]) -> set[str]:
        async with self._uow(priority=True) as uow:
            inserted = await uow.inbox.add_many(records)
            await uow.commit()
        return inserted


class SqliteInboxWriter:
    def __init__(self, url: str, uow: SqlUnitOfWorkFactory) -> None:
        self._path = make_url(normalise_url(url)).database or ""
        self._uow = uow
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._conn = conn
        return self._conn

    async def add_many(self, records: Sequence[InboxRecord]) -> set[str]:
        gate = self._uow.write_gate
        assert gate is not None
        await gate.acquire(priority=True)
        try:
            return self._write(records)
        finally:
            gate.release()

    def _write(self, records: Sequence[InboxRecord]) -> set[str]:
        conn = self._connection()
        ids = [r.id for r in records]
        conn.execute("BEGIN IMMEDIATE")
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


def _sqlite_instant(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DATETIME reads back (naive UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def inbox_writer(url: str, uow: SqlUnitOfWorkFactory) -> UowInboxWriter | SqliteInboxWriter:
    return SqliteInboxWriter(url, uow) if is_sqlite(url) else UowInboxWriter(uow)
