"""A background worker woken by events, whose queue is a table (inbox, channel deliveries)."""

from __future__ import annotations

import asyncio
import contextlib


class WakeableWorker:
    """`poke()` wakes the loop (starting it if needed); `drain()` waits until it is idle;
    `stop()` cancels it. Subclasses implement `_run`, setting `_idle` when nothing is due and
    waiting on `_wake`."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def drain(self) -> None:
        await self._idle.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._idle.set()

    async def _run(self) -> None:
        raise NotImplementedError
