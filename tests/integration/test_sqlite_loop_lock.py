"""The embedded profile's SQLite units of work run on the event-loop thread (ADR 0009). A
writer outside the in-process gate (here an aiosqlite connection of the async engine, whose
statements finish through the loop; also the import CLI or another process) must never freeze
the loop: the gated writer waits for the write lock with the loop running, and begins as soon
as the other one commits. On the old code the gated writer sat in SQLite's busy handler on the
loop thread for 30 s, the outside writer could not commit meanwhile, and the gated one failed
with "database is locked" (a CI test spent 66 s this way)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from ledgerlink.adapters.db.engine import create_engine, take_write_lock
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory


async def test_a_writer_outside_the_gate_never_freezes_the_loop(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    factory = SqlUnitOfWorkFactory(engine)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        order: list[str] = []

        async def gated() -> None:
            async with factory() as uow:
                order.append("gated began")
                await uow._conn.exec_driver_sql("INSERT INTO t VALUES (2)")  # type: ignore[union-attr]
                await uow.commit()

        async with engine.connect() as outside:
            await outside.exec_driver_sql("INSERT INTO t VALUES (1)")  # holds the write lock
            task = asyncio.create_task(gated())
            await asyncio.sleep(0.3)  # needs the loop: frozen on the old code
            order.append("outside commits")
            await outside.commit()
        await asyncio.wait_for(task, 20)
        assert order == ["outside commits", "gated began"]
        async with engine.connect() as conn:
            rows = (await conn.exec_driver_sql("SELECT x FROM t ORDER BY x")).all()
        assert [r[0] for r in rows] == [1, 2]
    finally:
        factory.dispose()
        await engine.dispose()


async def test_the_write_lock_wait_is_bounded_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await take_write_lock(waiter, wait_s=0.2)
        holder.execute("COMMIT")
        await take_write_lock(waiter, wait_s=0.2)  # free now: taken at once
        assert waiter.in_transaction
        waiter.execute("ROLLBACK")
    finally:
        holder.close()
        waiter.close()
