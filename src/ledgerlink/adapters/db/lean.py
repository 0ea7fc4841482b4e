"""Registered statements run straight on the SQLite driver: the per-event hot path.

SQLAlchemy still builds and compiles each statement, once: the SQL text, the order of its
parameters and each type's bind and result processors all come from its public API
(`compile`, `positiontup`, `construct_params`, `TypeEngine.bind_processor` and
`result_processor`). What is skipped is the per-call execution context, which costs 25-40 us
a statement against 5 us for SQLite itself (bench/README.md, "delivery vs Synapse").

Only statements registered with `lean()` take this path, only on the direct SQLite connection
(`DirectConnection`), and only when they are plain: no expanding (IN-list) parameter, and for
INSERT/UPDATE every column with a Python-side default or onupdate given (SQLAlchemy would
fill those in). An INSERT or UPDATE without `.values()` is compiled per set of parameter names,
as SQLAlchemy does. Everything else, and everything on PostgreSQL, goes through SQLAlchemy as
before. Results have what the repositories use of SQLAlchemy's: `first`, `all`, `one`,
`scalar`, `rowcount`, and rows indexable by position with a `_mapping`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Dialect

__all__ = ["LeanResult", "LeanRow", "lean", "plan_for"]

Processor = Callable[[Any], Any] | None
S = TypeVar("S")

_REGISTERED: dict[int, Any] = {}  # id -> statement (held, so an id is never reused)
_PLANS: dict[tuple[int, frozenset[str]], Plan | None] = {}


def lean(stmt: S) -> S:
    """Mark a module-level statement for the direct SQLite path; returns it unchanged."""
    _REGISTERED[id(stmt)] = stmt
    return stmt


_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class Slot:
    """One positional parameter as `construct_params` fills it: the value given under the bind's
    key, else under its compiled name, else the statement's own (LIMIT 1), else required."""

    key: str
    name: str
    default: Any  # _REQUIRED: none


@dataclass(frozen=True, slots=True)
class Plan:
    sql: str
    compiled: Any  # SQLCompiler: construct_params merges given and built-in values (LIMIT 1)
    names: tuple[str, ...]  # positional parameters, in order
    binds: tuple[Processor, ...]
    keys: tuple[str, ...]  # result columns
    results: tuple[Processor, ...]
    slots: tuple[Slot, ...] | None = None  # None: every call asks `construct_params`

    def values(self, given: Mapping[str, Any] | None) -> tuple[Any, ...]:
        """The positional values before bind processing, as `construct_params` gives them."""
        given = given or {}
        if self.slots is not None:
            out = []
            for slot in self.slots:
                if slot.key in given:
                    out.append(given[slot.key])
                elif slot.name in given:
                    out.append(given[slot.name])
                elif slot.default is not _REQUIRED:
                    out.append(slot.default)
                else:
                    break  # missing: SQLAlchemy's own error below
            else:
                return tuple(out)
        built = self.compiled.construct_params(dict(given))
        return tuple(built[name] for name in self.names)

    def parameters(self, given: Mapping[str, Any] | None) -> tuple[Any, ...]:
        return tuple(value if process is None or value is None else process(value)
                     for value, process in zip(self.values(given), self.binds, strict=True))


def plan_for(statement: Any, dialect: Dialect, keys: frozenset[str] = frozenset()) -> Plan | None:
    """The plan of a registered statement for parameters named `keys`, compiled on first use;
    None when not registered or not eligible (then SQLAlchemy runs it)."""
    ident = id(statement)
    if _REGISTERED.get(ident) is not statement:
        return None
    cache_key = (ident, keys)
    if cache_key in _PLANS:
        return _PLANS[cache_key]
    plan = _compile(statement, dialect, keys)
    _PLANS[cache_key] = plan
    return plan


def _compile(statement: Any, dialect: Dialect, keys: frozenset[str]) -> Plan | None:
    if statement.is_dml:
        table = statement.table
        filled = [c for c in table.c
                  if (c.default is not None and statement.is_insert) or c.onupdate is not None]
        if any(c.key not in keys for c in filled):
            return None
        compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
        columns = list(statement.exported_columns)  # RETURNING, if any
    else:
        compiled = statement.compile(dialect=dialect)
        columns = list(statement.selected_columns)
    names = tuple(compiled.positiontup or ())
    if any(compiled.binds[name].expanding for name in names):
        return None
    return Plan(
        sql=compiled.string,
        compiled=compiled,
        names=names,
        binds=tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                    for name in names),
        keys=tuple(str(c.key) for c in columns),
        results=tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns),
        slots=_slots(compiled, names),
    )


def _slots(compiled: Any, names: tuple[str, ...]) -> tuple[Slot, ...] | None:
    """`construct_params`'s lookup, done once (it was a tenth of the delivery bench's samples):
    only for the plain case, else None (escaped names, callable values, post-compile state)."""
    if compiled.escaped_bind_names or getattr(compiled, "_render_postcompile", False) \
            or (getattr(compiled, "_collect_params", False) and compiled._collected_params):
        return None
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    slots = []
    for name in names:
        bind = by_name.get(name)
        if bind is None or bind.callable is not None:
            return None
        slots.append(Slot(bind.key, name, _REQUIRED if bind.required else bind.value))
    return tuple(slots)


class LeanRow:
    __slots__ = ("_keys", "_values")

    def __init__(self, keys: tuple[str, ...], values: tuple[Any, ...]) -> None:
        self._keys = keys
        self._values = values

    def __getitem__(self, index: int) -> Any:
        return self._values[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._keys, self._values, strict=True))


class LeanResult:
    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[LeanRow], rowcount: int = -1) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> LeanRow | None:
        return self._rows[0] if self._rows else None

    def all(self) -> list[LeanRow]:
        return list(self._rows)

    def one(self) -> LeanRow:
        if len(self._rows) != 1:
            raise ValueError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None


def run(driver: Any, plan: Plan, given: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> LeanResult:
    """Execute on the DB-API connection (inside the transaction SQLAlchemy began on it); a
    list of parameter sets is an executemany."""
    if isinstance(given, list):
        cursor = driver.executemany(plan.sql, [plan.parameters(p) for p in given])
        try:
            return LeanResult([], cursor.rowcount)
        finally:
            cursor.close()
    cursor = driver.execute(plan.sql, plan.parameters(given))  # type: ignore[arg-type]
    try:
        fetched: Sequence[tuple[Any, ...]] = cursor.fetchall() if plan.keys else []
        rowcount = cursor.rowcount
    finally:
        cursor.close()
    keys, results = plan.keys, plan.results
    if not any(results):
        return LeanResult([LeanRow(keys, tuple(r)) for r in fetched], rowcount)
    return LeanResult([
        LeanRow(keys, tuple(v if p is None or v is None else p(v) for v, p in zip(r, results, strict=True)))
        for r in fetched
    ], rowcount)
