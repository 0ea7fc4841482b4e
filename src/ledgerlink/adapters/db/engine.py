"""Engines for the two profiles: SQLite (WAL) by default, PostgreSQL at scale."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

READONLY_OPTION = "ledgerlink_readonly"


def normalise_url(url: str) -> str:
    """Accept plain `sqlite:///x.db` / `postgresql://...` and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def private_sqlite_file(url: str) -> None:
    """Make the SQLite file of `url` readable by its owner only (0600), whatever the umask:
    created here before the driver opens it, tightened if it exists with wider rights. SQLite
    gives its -wal, -shm and -journal files the database file's permissions, so those are 0600
    too (any already there are tightened as well). No-op for other databases and in-memory."""
    if not is_sqlite(url):
        return
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        try:
            if stat.S_IMODE(side.stat().st_mode) & 0o077:
                side.chmod(0o600)
        except FileNotFoundError:
            pass


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    url = normalise_url(url)
    if is_sqlite(url):
        private_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def create_null_pool_engine(url: str) -> AsyncEngine:
    """For one-off commands (migrations) that must not keep connections open."""
    url = normalise_url(url)
    if is_sqlite(url):
        private_sqlite_file(url)  # migrations create the file first
    engine = create_async_engine(url, poolclass=NullPool)
    if is_sqlite(url):
        _configure_sqlite(engine)
    return engine


def create_sqlite_direct_engine(url: str) -> Engine:
    """A synchronous SQLite engine whose statements run on the calling (event-loop) thread.

    SQLite answers in microseconds from the page cache; handing each statement to aiosqlite's
    worker thread cost 4 thread hops and up to milliseconds of GIL hand-over per statement
    (measured: ~23 statements per bank event took 40 ms under load). Direct calls block the
    loop for far less than a hop costs. See ADR 0009."""
    url = normalise_url(url).replace("sqlite+aiosqlite", "sqlite+pysqlite", 1)
    private_sqlite_file(url)
    engine = sa_create_engine(url, connect_args={"timeout": LOOP_BUSY_MS / 1000, "check_same_thread": False})
    _configure_sqlite(engine, busy_ms=LOOP_BUSY_MS)
    return engine


# A connection on the event-loop thread must never sit in SQLite's busy handler: while it
# waits, the loop is frozen, and a writer outside the in-process gate (an aiosqlite connection
# of the async engine, whose statements finish through the loop; the import CLI; another
# process) cannot finish either, until the busy timeout ends it (30 s: a CI test spent 66 s
# this way). Such a connection waits at most this long inside SQLite; the write lock itself
# is waited for on the loop (`take_write_lock`), which keeps running.
LOOP_BUSY_MS = 20
WRITE_LOCK_WAIT_S = 30.0
PREBEGUN = "ledgerlink_write_lock_taken"


async def take_write_lock(raw: Any, *, wait_s: float = WRITE_LOCK_WAIT_S) -> None:
    """`BEGIN IMMEDIATE` on the pysqlite connection `raw`, retried on "database is locked" with
    the loop free between tries (1 ms doubling to 50 ms), for at most `wait_s` seconds; then
    the last error is raised, as the busy timeout would have."""
    deadline = time.monotonic() + wait_s
    delay = 0.001
    while True:
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


def _configure_sqlite(engine: AsyncEngine | Engine, *, busy_ms: int = 30000) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN IMMEDIATE is ours:
        # a writer holds the lock from its first statement and never fails mid-way on
        # a read-to-write upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Readers (WAL) never wait for the writer; writers lock from their first statement.
        if conn.info.pop(PREBEGUN, False):
            return  # `take_write_lock` began it, waiting on the loop
        readonly = conn.get_execution_options().get(READONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
