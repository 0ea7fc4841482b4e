"""SQL repositories of ingest: transactions and the inbox of bank events (see
`TransactionRepository`, `InboxRepository` in ledgerlink.services.ingest.ports). The group-commit
writer in front of the inbox is `ingest_writer`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, union_all, update
from sqlalchemy.dialects import sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _INSERT, _UPDATE, _by, _Remembering, _Repo, _set, _values
from ledgerlink.adapters.db.lean import lean
from ledgerlink.services.ingest.ports import InboxRecord, TransactionRecord

_TXN = _by(s.transactions, "id")


def _txn_find(*keys: Any) -> Any:
    """The transaction known by any of `keys` (its bank id, or a pending id it replaced), as two
    indexed lookups: `account_id = ? AND (source_key ... OR pending_source_key ...)` would use
    only the account prefix of an index and walk all of the account's transactions."""
    t = s.transactions
    by_key = select(t).where(t.c.account_id == bindparam("account_id"), t.c.source_key.in_(keys))
    by_pending = select(t).where(t.c.account_id == bindparam("account_id"), t.c.pending_source_key.in_(keys))
    return union_all(by_key, by_pending).limit(1)


_TXN_FIND = _txn_find(bindparam("keys", expanding=True))
# The usual case, one or two keys, without an expanding IN (which is rendered anew per call).
_TXN_FIND_1 = lean(_txn_find(bindparam("k1")))
_TXN_FIND_2 = lean(_txn_find(bindparam("k1"), bindparam("k2")))
# Several rows by id (the insights consumer opens a series' candidates together): one statement
# per power-of-two size, padded with the last id, so each size is compiled once and runs lean.
_TXN_MANY = {n: lean(select(s.transactions).where(
    s.transactions.c.id.in_([bindparam(f"k{i}") for i in range(n)])))
             for n in (1, 2, 4, 8, 16, 32, 64)}
_INBOX = _by(s.inbox, "id")
_INBOX_UNPROCESSED = lean(
    select(s.inbox).where(s.inbox.c.processed_at.is_(None))
    .order_by(s.inbox.c.received_at, s.inbox.c.id).limit(bindparam("limit"))
)
_INBOX_UNPROCESSED_AMONG = (
    select(s.inbox)
    .where(s.inbox.c.id.in_(bindparam("ids", expanding=True)), s.inbox.c.processed_at.is_(None))
    .order_by(s.inbox.c.received_at, s.inbox.c.id)
)
_INBOX_CLAIM = (  # the row lock it takes makes PostgreSQL's SKIP LOCKED scans pass these rows
    update(s.inbox)
    .where(s.inbox.c.id.in_(bindparam("ids", expanding=True)), s.inbox.c.processed_at.is_(None))
    .values(processed_at=bindparam("at"))
    .returning(s.inbox.c.id)
)
_INBOX_CLAIM_1 = lean(
    update(s.inbox)
    .where(s.inbox.c.id == bindparam("_id"), s.inbox.c.processed_at.is_(None))
    .values(processed_at=bindparam("at"))
    .returning(s.inbox.c.id)
)
_INBOX_PROCESSED = lean(
    update(s.inbox).where(s.inbox.c.id == bindparam("_id")).values(processed_at=bindparam("at"))
)


class SqlTransactions(_Remembering):
    async def add(self, txn: TransactionRecord) -> None:
        await self._conn.execute(_INSERT["transactions"], _values(txn, s.transactions))
        self._remember(txn.id, txn)

    async def find(self, account_id: str, source_keys: Sequence[str]) -> TransactionRecord | None:
        keys = list(source_keys)
        if len(keys) == 1:
            return await self._one(TransactionRecord, _TXN_FIND_1, {"account_id": account_id, "k1": keys[0]})
        if len(keys) == 2:
            params = {"account_id": account_id, "k1": keys[0], "k2": keys[1]}
            return await self._one(TransactionRecord, _TXN_FIND_2, params)
        return await self._one(TransactionRecord, _TXN_FIND, {"account_id": account_id, "keys": keys})

    async def get(self, txn_id: str) -> TransactionRecord | None:
        return await self._remembered(TransactionRecord, _TXN, txn_id)

    async def get_many(self, txn_ids: Sequence[str]) -> dict[str, TransactionRecord]:
        """The stored rows among `txn_ids`, by id (absent ids are left out), read together."""
        found = {i: r for i in txn_ids if (r := self._seen.get(i)) is not None}
        wanted = list(dict.fromkeys(i for i in txn_ids if i not in found))
        while wanted:
            chunk, wanted = wanted[:64], wanted[64:]
            size = next(n for n in _TXN_MANY if n >= len(chunk))
            padded = chunk + [chunk[-1]] * (size - len(chunk))
            for record in await self._many(TransactionRecord, _TXN_MANY[size],
                                           {f"k{i}": v for i, v in enumerate(padded)}):
                self._remember(record.id, record)
                found[record.id] = record
        return found

    async def for_account(self, account_id: str, *, limit: int = 50) -> list[TransactionRecord]:
        t = s.transactions
        return await self._many(
            TransactionRecord,
            # id breaks ties: a link's history is stored in one instant, and an export, a summary
            # or a match must read it in one order whatever plan the database picks
            select(t).where(t.c.account_id == account_id).order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit),
        )

    async def for_account_between(
        self, account_id: str, start: date, end: date, *, limit: int = 1000
    ) -> list[TransactionRecord]:
        """Rows booked in [start, end] (inclusive), or, not booked yet (pending), created then
        (UTC dates); newest first."""
        t = s.transactions
        since = datetime.combine(start, time.min, tzinfo=UTC)
        until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
        booked = t.c.booking_date.is_not(None) & t.c.booking_date.between(start, end)
        unbooked = t.c.booking_date.is_(None) & (t.c.created_at >= since) & (t.c.created_at < until)
        return await self._many(
            TransactionRecord,
            select(t)
            .where(t.c.account_id == account_id, or_(booked, unbooked))
            .order_by(t.c.created_at.desc())
            .limit(limit),
        )

    async def update(self, txn: TransactionRecord) -> None:
        await self._conn.execute(_UPDATE["transactions"], _set(txn, s.transactions))
        self._remember(txn.id, txn)


# Bank-event ingest's insert on PostgreSQL, in psycopg's placeholders (`ingest_writer` sends it on
# the raw driver connection, `SqlInbox` with `exec_driver_sql`). One array per
# column, so the statement's text is the same for every batch size: psycopg converts and
# prepares it once (a multi-row VALUES was converted anew per batch: bench/README.md).
INBOX_INSERT_PG = (
    "INSERT INTO inbox (id, partner_id, person_id, event_type, sealed, received_at, processed_at, attempts, "
    "last_error) SELECT * FROM unnest("
    "%(id)s::text[], %(partner_id)s::text[], %(person_id)s::text[], %(event_type)s::text[], "
    "%(sealed)s::bytea[], %(received_at)s::timestamptz[], %(processed_at)s::timestamptz[], "
    "%(attempts)s::integer[], %(last_error)s::text[]"
    ") ON CONFLICT (id) DO NOTHING RETURNING inbox.id"
)
_INBOX_FIELDS = ("id", "partner_id", "person_id", "event_type", "sealed", "received_at", "processed_at",
                 "attempts", "last_error")


def inbox_columns(records: Sequence[InboxRecord]) -> dict[str, list[Any]]:
    """`INBOX_INSERT_PG`'s parameters: one list per column."""
    for r in records:  # as `schema.UtcDateTime` does, which this statement bypasses
        if r.received_at.tzinfo is None or (r.processed_at is not None and r.processed_at.tzinfo is None):
            raise ValueError("naive datetime given to the database; use aware UTC")
    return {name: [getattr(r, name) for r in records] for name in _INBOX_FIELDS}


class SqlInbox(_Repo):
    async def add(self, record: InboxRecord) -> bool:
        return bool(await self.add_many([record]))

    async def add_many(self, records: Sequence[InboxRecord]) -> set[str]:
        """Insert, skipping ids already present; returns the ids actually inserted.

        PostgreSQL: one INSERT .. SELECT FROM unnest(..) ON CONFLICT DO NOTHING RETURNING id
        (`INBOX_INSERT_PG`); the rows that conflict (stored before, or by a concurrent writer
        in this or another process) are neither written nor returned. SQLite (one writer at a
        time): one indexed lookup and one cached executemany (a multi-row VALUES statement
        would be compiled anew for every batch size)."""
        if not records:
            return set()
        if self._conn.dialect.name == "postgresql":
            rows = (await self._conn.exec_driver_sql(INBOX_INSERT_PG, inbox_columns(records))).all()
            return {row[0] for row in rows}
        ids = [r.id for r in records]
        present = {
            row[0]
            for row in (await self._conn.execute(select(s.inbox.c.id).where(s.inbox.c.id.in_(ids)))).all()
        }
        fresh = [r for r in records if r.id not in present]
        if fresh:
            stmt = sqlite.insert(s.inbox).on_conflict_do_nothing(index_elements=["id"])
            await self._conn.execute(stmt, [_values(r, s.inbox) for r in fresh])
        return {r.id for r in fresh}

    async def get(self, inbox_id: str) -> InboxRecord | None:
        return await self._one(InboxRecord, _INBOX, {"id": inbox_id})

    def _pg(self, stmt: Any) -> Any:
        # PostgreSQL: several workers share the inbox; each takes rows nobody else holds.
        return stmt.with_for_update(skip_locked=True) if self._conn.dialect.name == "postgresql" else stmt

    async def unprocessed(self, *, limit: int = 100) -> list[InboxRecord]:
        return await self._many(InboxRecord, self._pg(_INBOX_UNPROCESSED), {"limit": limit})

    async def unprocessed_among(self, ids: Sequence[str]) -> list[InboxRecord]:
        if not ids:
            return []
        return await self._many(InboxRecord, self._pg(_INBOX_UNPROCESSED_AMONG), {"ids": list(ids)})

    async def mark_processed(self, inbox_id: str, at: datetime) -> None:
        await self._conn.execute(_INBOX_PROCESSED, {"_id": inbox_id, "at": at})

    async def claim(self, ids: Sequence[str], at: datetime) -> set[str]:
        if not ids:
            return set()
        if len(ids) == 1:  # the usual case at a steady pace: no expanding IN to render
            rows = (await self._conn.execute(_INBOX_CLAIM_1, {"_id": ids[0], "at": at})).all()
        else:
            rows = (await self._conn.execute(_INBOX_CLAIM, {"ids": list(ids), "at": at})).all()
        return {row[0] for row in rows}

    async def mark_processed_many(self, ids: Sequence[str], at: datetime) -> None:
        if ids:
            await self._conn.execute(_INBOX_PROCESSED, [{"_id": i, "at": at} for i in ids])

    async def mark_failed(self, inbox_id: str, error_code: str) -> None:
        await self._conn.execute(
            update(s.inbox)
            .where(s.inbox.c.id == inbox_id)
            .values(attempts=s.inbox.c.attempts + 1, last_error=error_code[:64])
        )
