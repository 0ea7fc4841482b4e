"""An `AsyncConnection`-shaped facade over a synchronous connection (SQLite in-process)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

from ledgerlink.adapters.db import lean
from ledgerlink.adapters.db.engine import PREBEGUN, READONLY_OPTION, take_write_lock


def _keys(parameters: Any) -> frozenset[str] | None:
    """The parameter names, or None when the lean path cannot take them (an empty or mixed
    executemany)."""
    if isinstance(parameters, list):
        keys = frozenset(parameters[0]) if parameters else None
        return keys if keys is not None and all(frozenset(p) == keys for p in parameters) else None
    return frozenset(parameters or ())


class DirectConnection:
    """The slice of `AsyncConnection` the repositories use, over a synchronous connection
    (SQLite in-process: see `engine.create_sqlite_direct_engine`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        keys = _keys(parameters)
        plan = None if keys is None else lean.plan_for(statement, self._conn.dialect, keys)
        if plan is not None:
            return lean.run(self._conn.connection.driver_connection, plan, parameters)
        if parameters is None:
            return self._conn.execute(statement)
        return self._conn.execute(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        return self._conn.exec_driver_sql(statement, parameters)

    async def execution_options(self, **options: Any) -> DirectConnection:
        self._conn.execution_options(**options)
        return self

    async def begin(self) -> None:
        if not self._conn.get_execution_options().get(READONLY_OPTION, False):
            # The write lock is waited for with the loop running, never in SQLite's busy
            # handler on the loop thread (see `engine.LOOP_BUSY_MS`).
            await take_write_lock(self._conn.connection.driver_connection)
            self._conn.info[PREBEGUN] = True
        self._conn.begin()

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def in_transaction(self) -> bool:
        return self._conn.in_transaction()
