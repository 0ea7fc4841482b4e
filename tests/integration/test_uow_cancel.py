"""A unit of work cancelled while it opens gives its connection back.

`async with` runs no __aexit__ when __aenter__ raises, so a connection opened there and then
cancelled in begin() (what shutdown does to a periodic job) would stay checked out until the
garbage collector found it: SQLAlchemy's "garbage collector is trying to clean up non-checked-in
connection" and aiosqlite's ResourceWarning, seen in CI runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerlink.adapters.db.engine import create_engine
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory


async def test_a_unit_of_work_cancelled_in_begin_returns_its_connection_to_the_pool(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(db_url)
    factory = SqlUnitOfWorkFactory(engine, direct=False)  # the pooled path (aiosqlite, psycopg)

    async def cancelled_begin(self: Any) -> None:
        raise asyncio.CancelledError

    monkeypatch.setattr(AsyncConnection, "begin", cancelled_begin)
    try:
        with pytest.raises(asyncio.CancelledError):
            async with factory():
                pytest.fail("the body must not run")
        assert engine.pool.checkedout() == 0, engine.pool.status()  # type: ignore[attr-defined]
        gate = factory.write_gate
        if gate is not None:  # the writer gate is free again: taking it does not wait
            await asyncio.wait_for(gate.acquire(), timeout=5)
            gate.release()
    finally:
        factory.dispose()
        await engine.dispose()
