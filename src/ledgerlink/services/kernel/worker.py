"""Background workers woken by events, whose queue is a table (inbox, channel deliveries, the
bank outbox)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import structlog

from ledgerlink.domain.clock import Clock

log = structlog.get_logger(__name__)


class WakeableWorker:
    """`poke()` wakes the loop (starting it if needed); `drain()` waits until it is idle;
    `stop()` cancels it, and a stopped worker ignores pokes (events still draining from the
    bus at shutdown must not start it again) until `start()`. Subclasses implement `_run`,
    setting `_idle` when nothing is due and waiting on `_wake`."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        """Run (again after `stop()`), looking for work at once."""
        self._stopped = False
        self.poke()

    def poke(self) -> None:
        if self._stopped:
            return
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def drain(self) -> None:
        await self._idle.wait()

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._idle.set()

    async def _run(self) -> None:
        raise NotImplementedError


class TimedWorker(WakeableWorker):
    """A `WakeableWorker` whose `run_once()` sends what is due and returns when the next
    waiting row is due (or None): the loop sleeps until then, at most `max_sleep`, or until
    poked. A failing round is logged and retried a second later. (Channel deliveries, the
    bank outbox.)"""

    def __init__(self, clock: Clock, *, max_sleep: float) -> None:
        self._clock = clock
        self._max_sleep = max_sleep
        super().__init__()

    async def run_once(self) -> datetime | None:
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                next_due = await self.run_once()
            except Exception:
                log.exception("worker_round_failed", worker=type(self).__name__)
                next_due = self._clock.now() + timedelta(seconds=1)
            if self._wake.is_set():
                continue
            self._idle.set()
            timeout = self._max_sleep
            if next_due is not None:
                timeout = min(timeout, max((next_due - self._clock.now()).total_seconds(), 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._idle.clear()
