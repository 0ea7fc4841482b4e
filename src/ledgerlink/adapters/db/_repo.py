"""What every SQL repository shares: rows to records, records to values, prebuilt statements
and the base classes. The repositories themselves live in one module per services capability
(`kernel`, `linking`, `messaging`, `ingest`, ...), next to the port each implements."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.direct import DirectConnection
from ledgerlink.adapters.db.lean import LeanRow, lean

R = TypeVar("R")


_PICKS: dict[tuple[type, tuple[str, ...]], tuple[tuple[str, int], ...] | None] = {}


def _picks(cls: type, keys: tuple[str, ...]) -> tuple[tuple[str, int], ...] | None:
    """(field, column position) of each field of `cls` the row has, worked out once per
    (record class, columns); None when a column name repeats (the mapping decides then)."""
    key = (cls, keys)
    try:
        return _PICKS[key]
    except KeyError:
        pass
    position = {name: i for i, name in enumerate(keys)}
    picks = None if len(position) != len(keys) else tuple(
        (f.name, position[f.name]) for f in dataclasses.fields(cls) if f.name in position)
    _PICKS[key] = picks
    return picks


def _to_record(cls: type[R], row: Any) -> R:
    # By position, with the (field, position) pairs cached per columns: building the row's
    # mapping and looking every field up in it was 11 % of a profiled delivery burst (the
    # insights history reads thousands of rows per event). See bench/README.md.
    keys = row._keys if isinstance(row, LeanRow) else row._fields
    picks = _picks(cls, keys) if len(keys) == len(row) else None  # (a row with unnamed columns)
    if picks is None:
        mapping = row._mapping
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        return cls(**{n: mapping[n] for n in names if n in mapping})
    return cls(**{name: row[i] for name, i in picks})


_COLUMNS: dict[tuple[type, str], tuple[str, ...]] = {}


def _columns_of(cls: type, table: Table) -> tuple[str, ...]:
    key = (cls, table.name)
    names = _COLUMNS.get(key)
    if names is None:
        cols = set(table.c.keys())
        names = _COLUMNS[key] = tuple(f.name for f in dataclasses.fields(cls) if f.name in cols)
    return names


def _values(record: Any, table: Table) -> dict[str, Any]:
    # Shallow on purpose: dataclasses.asdict deep-copies every value (measured: 57% of an
    # inbox batch insert went to copying datetimes).
    return {name: getattr(record, name) for name in _columns_of(type(record), table)}


# --------------------------------------------------------------------------- prebuilt statements
# The statements of the per-event hot path are built once with bind parameters: SQLAlchemy then
# skips constructing the statement and computing its cache key on every call (measured on
# SQLite: 159 us per lookup built per call, 37 us prebuilt). See bench/README.md.


def _by(table: Table, *columns: str) -> Any:
    """SELECT * FROM table WHERE col = :col AND ...  (parameters named after the columns),
    registered for the direct SQLite path (`lean`)."""
    return lean(select(table).where(*(table.c[c] == bindparam(c) for c in columns)))


def _update_by_id(table: Table) -> Any:
    """UPDATE table SET <the given columns> WHERE id = :_id."""
    return update(table).where(table.c.id == bindparam("_id"))


def _set(record: Any, table: Table) -> dict[str, Any]:
    values = _values(record, table)
    values["_id"] = values.pop("id")
    return values


_HOT_TABLES = ("transactions", "messages", "links", "accounts")
_INSERT = {name: lean(insert(s.metadata.tables[name])) for name in _HOT_TABLES}
_UPDATE = {name: lean(_update_by_id(s.metadata.tables[name])) for name in _HOT_TABLES}


class _Repo:
    def __init__(self, conn: AsyncConnection | DirectConnection) -> None:
        self._conn = conn

    async def _one(self, cls: type[R], stmt: Any, params: dict[str, Any] | None = None) -> R | None:
        row = (await self._conn.execute(stmt, params)).first()
        return None if row is None else _to_record(cls, row)

    async def _many(self, cls: type[R], stmt: Any, params: dict[str, Any] | None = None) -> list[R]:
        return [_to_record(cls, row) for row in (await self._conn.execute(stmt, params)).all()]


class _Remembering(_Repo):
    """`get` by id remembers what it read for the rest of the unit of work (one event's apply,
    delivery and alerts ask for the same rows several times), and writes through this
    repository keep it in step. Within one unit of work a row is read once, as with
    REPEATABLE READ: on SQLite nothing else writes meanwhile (the writer holds the database);
    on PostgreSQL a concurrent change made after the first read is seen from the next unit of
    work on, which is no worse than the read-modify-write of `update`."""

    def __init__(self, conn: AsyncConnection | DirectConnection) -> None:
        super().__init__(conn)
        self._seen: dict[str, Any] = {}

    async def _remembered(self, cls: type[R], stmt: Any, row_id: str) -> R | None:
        seen = self._seen.get(row_id)
        if seen is not None:
            return seen  # type: ignore[no-any-return]
        record = await self._one(cls, stmt, {"id": row_id})
        if record is not None:
            self._seen[row_id] = record
        return record

    def _remember(self, row_id: str, record: Any) -> None:
        self._seen[row_id] = record
