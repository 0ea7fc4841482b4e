"""The relay's lease (issue 12) is released cleanly when its connection is already unusable, as
when a worker stops while the relay's check on that connection is cancelled mid-statement: no
error from `Container.stop`, and the lock is free for another worker at once (the session is
ended rather than pooled with the lock still held)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from tests.integration import test_jetstream as _jetstream

from ledgerlink.adapters.db.engine import create_engine
from ledgerlink.adapters.db.kernel_outbox import AdvisoryLease

pg_url = _jetstream.pg_url  # the shared fixture


@pytest.mark.postgres
async def test_a_lease_whose_connection_failed_is_released_without_error_and_taken_elsewhere(
    pg_url: str,
) -> None:
    mine, theirs = create_engine(pg_url), create_engine(pg_url)
    try:
        lease, other = AdvisoryLease(mine), AdvisoryLease(theirs)
        assert await lease.acquire()
        assert not await other.acquire()
        conn = lease._conn
        assert conn is not None
        with pytest.raises(DBAPIError):  # the lease's connection is now in a failed transaction
            await conn.execute(text("SELECT 1 / 0"))
        await lease.release()  # raised InFailedSqlTransaction before, and pooled the session
        # The ended session's backend exits a moment later (the lock goes with it), so another
        # worker gets the lease on one of its next tries, as the relay's loop tries again.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await other.acquire():
            assert loop.time() < deadline, "the lease was not free 10 s after its release"
            await asyncio.sleep(0.1)
        await other.release()
        async with mine.connect() as check:  # every pooled session of ours is lock-free
            held = (await check.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            ))).scalar_one()
        assert held == 0
    finally:
        await mine.dispose()
        await theirs.dispose()
