"""SQL repository of statement imports (`ImportRepository` in ledgerlink.services.imports.ports):
token keys, imported entries, imports, CSV mappings, and the bulk insert of imported rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Date, and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _INSERT, _columns_of, _Repo, _values
from ledgerlink.adapters.db.lean import lean
from ledgerlink.services.imports.ports import (
    FILE_SOURCE_PREFIX,
    CsvMappingRecord,
    ImportKeyRecord,
    StatementEntryRecord,
    StatementImportRecord,
)
from ledgerlink.services.ingest.ports import TransactionRecord

_CHUNK = 500  # keys per IN list
# The prefix as a range ("file:" <= key < "file;"), so the (account_id, source_key) index
# serves it on both databases.
_PREFIX_END = FILE_SOURCE_PREFIX[:-1] + chr(ord(FILE_SOURCE_PREFIX[-1]) + 1)

_KEY = lean(select(s.import_keys).where(s.import_keys.c.person_id == bindparam("person_id")))
_ENTRY_INSERT = lean(insert(s.statement_entries))


def _file_rows_near() -> Any:
    t = s.transactions
    start: Any = bindparam("start")
    end: Any = bindparam("end")
    return lean(
        select(t).where(
            t.c.account_id == bindparam("account_id"),
            t.c.source_key >= bindparam("lo"),
            t.c.source_key < bindparam("hi"),
            or_(
                t.c.booking_date.between(start, end),
                and_(t.c.booking_date.is_(None), t.c.value_date.between(start, end)),
            ),
        )
    )


_FILE_ROWS_NEAR = _file_rows_near()


def _instant(value: datetime | None) -> str | None:
    """As SQLAlchemy's SQLite DATETIME stores an aware UTC instant: naive UTC text."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sqlite_converter(column: Any) -> Any:
    if isinstance(column.type, s.UtcDateTime):
        return _instant
    if isinstance(column.type, Date):
        return _day
    return None


class SqlImports(_Repo):
    async def _bulk(self, table: Any, records: Sequence[Any], statement: Any) -> None:
        """A file's rows in one executemany. On SQLite straight on the driver (no per-row
        parameter processing: 50k rows cost milliseconds, not seconds); elsewhere SQLAlchemy's
        executemany (batched INSERT ... VALUES on PostgreSQL)."""
        if not records:
            return
        if self._conn.dialect.name != "sqlite":
            await self._conn.execute(statement, [_values(r, table) for r in records])
            return
        names = _columns_of(type(records[0]), table)
        plain = [n for n in names if _sqlite_converter(table.c[n]) is None]
        converted = [(n, _sqlite_converter(table.c[n])) for n in names if n not in plain]
        columns = [*plain, *(n for n, _ in converted)]
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
        take: Callable[[Any], tuple[Any, ...]] = (
            attrgetter(*plain) if len(plain) > 1 else lambda r: tuple(getattr(r, n) for n in plain)
        )
        rows = [(*take(r), *(convert(getattr(r, n)) for n, convert in converted)) for r in records]
        await self._conn.exec_driver_sql(sql, rows)

    def _insert_ignoring(self, table: Any) -> Any:
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        return ins(table).on_conflict_do_nothing()

    async def import_key(self, person_id: str) -> ImportKeyRecord | None:
        return await self._one(ImportKeyRecord, _KEY, {"person_id": person_id})

    async def add_import_key(self, record: ImportKeyRecord) -> bool:
        result = await self._conn.execute(
            self._insert_ignoring(s.import_keys).values(**_values(record, s.import_keys))
        )
        return bool(result.rowcount)

    async def known_keys(self, account_id: str, keys: Sequence[str]) -> dict[str, str]:
        e, t = s.statement_entries, s.transactions
        found: dict[str, str] = {}
        unique = sorted(set(keys))
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            merged = select(e.c.entry_key, e.c.transaction_id).where(
                e.c.account_id == account_id, e.c.entry_key.in_(chunk)
            )
            found.update({row[0]: row[1] for row in (await self._conn.execute(merged)).all()})
            first_seen = select(t.c.source_key, t.c.id).where(
                t.c.account_id == account_id, t.c.source_key.in_([FILE_SOURCE_PREFIX + k for k in chunk])
            )
            found.update({row[0][len(FILE_SOURCE_PREFIX):]: row[1]
                          for row in (await self._conn.execute(first_seen)).all()})
        return found

    async def keys_of(self, transaction_ids: Sequence[str]) -> dict[str, set[str]]:
        e = s.statement_entries
        out: dict[str, set[str]] = {}
        unique = sorted(set(transaction_ids))
        for i in range(0, len(unique), _CHUNK):
            stmt = select(e.c.transaction_id, e.c.entry_key).where(
                e.c.transaction_id.in_(unique[i : i + _CHUNK])
            )
            for txn_id, key in (await self._conn.execute(stmt)).all():
                out.setdefault(txn_id, set()).add(key)
        return out

    async def add_entries(self, records: Sequence[StatementEntryRecord]) -> None:
        await self._bulk(s.statement_entries, records, _ENTRY_INSERT)

    async def add_transactions(self, records: Sequence[TransactionRecord]) -> None:
        await self._bulk(s.transactions, records, _INSERT["transactions"])

    async def file_rows_near(self, account_id: str, start: date, end: date) -> list[TransactionRecord]:
        params = {"account_id": account_id, "lo": FILE_SOURCE_PREFIX, "hi": _PREFIX_END,
                  "start": start, "end": end}
        return await self._many(TransactionRecord, _FILE_ROWS_NEAR, params)

    async def import_by_file(self, person_id: str, file_token: str) -> StatementImportRecord | None:
        i = s.statement_imports
        return await self._one(
            StatementImportRecord, select(i).where(i.c.person_id == person_id, i.c.file_token == file_token)
        )

    async def put_import(self, record: StatementImportRecord) -> None:
        i = s.statement_imports
        values = _values(record, i)
        result = await self._conn.execute(update(i).where(i.c.id == record.id).values(**values))
        if not result.rowcount:
            await self._conn.execute(insert(i).values(**values))

    async def csv_mapping(self, account_id: str) -> CsvMappingRecord | None:
        m = s.csv_mappings
        return await self._one(CsvMappingRecord, select(m).where(m.c.account_id == account_id))

    async def put_csv_mapping(self, record: CsvMappingRecord) -> None:
        m = s.csv_mappings
        values = _values(record, m)
        stmt = update(m).where(m.c.account_id == record.account_id).values(**values)
        result = await self._conn.execute(stmt)
        if not result.rowcount:
            await self._conn.execute(insert(m).values(**values))
