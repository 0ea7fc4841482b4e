"""Periodic jobs that run once across every worker process (scale-out profile, issue 12, ADR 0029).

Each job has a PostgreSQL session-level advisory lock, and this process's locks live on one
dedicated connection (`SessionLocks`). The server releases them the moment that connection
ends, SIGKILL included, and a survivor's next try takes them. Time is cut into periods aligned
on the epoch (`floor(now / interval)`); the holder of a job's lock runs it at most once per
period, and only in periods that began after it took the lock. Why that is enough: a holder
that runs period p read the clock at or after p's start and then found its lock connection
alive, so it held the lock at an instant >= the start of p; a second holder running p must
have taken the lock before p started and held it at an instant >= p's start too, and the two
holdings would overlap, which the lock forbids. So no period runs twice, even across a
hand-over, and a run that is still going at the next boundary makes that period skip rather
than overlap. The price: a new holder waits for the next boundary, and a holder killed between
a boundary and the end of its run loses that period's run (the jobs are sweeps of what is
due, so the next period catches up).

SQLite is one process by design: its locks are always granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerlink.domain.clock import Clock

__all__ = ["ClusterSchedule", "PeriodicJob", "SessionLocks", "job_lock_key"]

log = structlog.get_logger(__name__)


def job_lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key per job name (the relay's key is far away)."""
    digest = hashlib.sha256(f"ledgerlink.job.{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SessionLocks:
    """Advisory locks of this process on one connection kept while any is held. Calls are
    serialised: one connection runs one statement at a time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._local = engine.dialect.name == "sqlite"
        self._conn: AsyncConnection | None = None
        self._held: set[int] = set()
        self._mutex = asyncio.Lock()

    @property
    def held_keys(self) -> frozenset[int]:
        return frozenset(self._held)

    async def try_lock(self, key: int) -> bool:
        if self._local:
            self._held.add(key)
            return True
        async with self._mutex:
            conn = self._conn
            if conn is None:
                conn = self._conn = await self._engine.connect()
            try:
                result = await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                got = bool(result.scalar_one())
                await conn.commit()  # the lock is the session's: it outlives the transaction
            except Exception:
                await self._lost()
                raise
            if got:
                self._held.add(key)
            elif not self._held:
                await self._close()
            return got

    async def alive(self) -> bool:
        """Whether the held locks are still ours: their connection answers. When it does not,
        every lock is gone on the server's side too, and this process forgets them."""
        if self._local:
            return True
        if not self._held:
            return False
        async with self._mutex:
            if self._conn is None:
                return False
            try:
                await self._conn.execute(text("SELECT 1"))
                await self._conn.commit()
            except Exception:
                await self._lost()
                return False
            return True

    async def release_all(self) -> None:
        async with self._mutex:
            if self._conn is not None and self._held:
                with contextlib.suppress(Exception):
                    await self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                    await self._conn.commit()
            self._held.clear()
            await self._close()

    async def _lost(self) -> None:
        self._held.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()  # never back to the pool: it may still hold locks

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                with contextlib.suppress(Exception):
                    await conn.invalidate()


@dataclass
class PeriodicJob:
    name: str
    interval: float  # seconds, > 0
    step: Callable[[], Awaitable[object]]


@dataclass
class _State:
    key: int
    held: bool = False
    last_period: int = -1  # the newest period this holder may no longer run
    task: asyncio.Task[None] | None = None
    runs: int = 0


@dataclass
class ClusterSchedule:
    """Runs `jobs` once per period across all processes sharing the database (see module doc).
    `tick`: how often locks are tried and checked; a dead holder's jobs move within about
    one tick plus the time to the next period boundary."""

    locks: SessionLocks
    jobs: Sequence[PeriodicJob]
    clock: Clock
    tick: float = 0.5
    _states: dict[str, _State] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for job in self.jobs:
            if job.interval <= 0 or not math.isfinite(job.interval):
                raise ValueError(f"job {job.name!r}: interval must be a positive number of seconds")
            self._states[job.name] = _State(key=job_lock_key(job.name))

    def holds(self, name: str) -> bool:
        return self._states[name].held

    def runs(self, name: str) -> int:
        return self._states[name].runs

    async def run(self) -> None:
        """Until cancelled; then the running steps are cancelled and the locks released."""
        try:
            while True:
                try:
                    await self.step()
                except Exception as exc:  # the database is away: try again next tick
                    log.warning("schedule_tick_failed", error=type(exc).__name__)
                await asyncio.sleep(self.tick)
        finally:
            await self._stop()

    async def step(self) -> None:
        now = self.clock.now().timestamp()  # read before the liveness check (module doc)
        if any(s.held for s in self._states.values()) and not await self.locks.alive():
            self._lose_all()
        for job in self.jobs:
            state = self._states[job.name]
            period = math.floor(now / job.interval)
            if not state.held:
                if await self.locks.try_lock(state.key):
                    after = self.clock.now().timestamp()  # at or after the lock was taken
                    state.held, state.last_period = True, math.floor(after / job.interval)
                    log.info("job_lease_taken", job=job.name, period=state.last_period)
                continue
            if period <= state.last_period:
                continue
            state.last_period = period
            if state.task is not None and not state.task.done():
                log.warning("job_still_running", job=job.name, period=period)
                continue
            state.task = asyncio.create_task(self._run(job, state, period), name=f"job-{job.name}")

    async def _run(self, job: PeriodicJob, state: _State, period: int) -> None:
        try:
            await job.step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed run is logged; the next period tries again
            log.warning("job_failed", job=job.name, period=period, error=type(exc).__name__)
            return
        state.runs += 1
        log.info("job_ran", job=job.name, period=period)

    def _lose_all(self) -> None:
        for name, state in self._states.items():
            if state.held:
                state.held = False
                log.warning("job_lease_lost", job=name)
                if state.task is not None:
                    state.task.cancel()  # a survivor takes the job over

    async def _stop(self) -> None:
        tasks = [s.task for s in self._states.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for state in self._states.values():
            state.held, state.task = False, None
        with contextlib.suppress(Exception):
            await self.locks.release_all()
