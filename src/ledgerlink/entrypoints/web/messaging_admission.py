"""Admission control for `/ws` (issue 12): a bounded number of new connections at a time in
their session lookup, live subscription and replay, a bounded queue behind them, and a clear
"try again later" for the rest.

A gateway's cost per new connection is that work (tens of ms of CPU), not the socket. When a
gateway dies, every browser it held reconnects to the survivors at once; unbounded, their work
queued inside the survivor until connections timed out and were dropped. Now a connection
waits its turn in a queue of `waiting` (at most `wait` seconds); beyond that, or after that, it
is closed with 1013 "try again later" and a jittered `retry_after_ms` in the close reason,
which the browser honours before it reconnects (`web/static/messenger.js`). The hint grows with
the queue, so a storm spreads itself out instead of returning at once."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

__all__ = ["CLOSE_TRY_AGAIN_LATER", "Admission", "Busy", "Ticket"]

CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455 registry: "Try Again Later"
MAX_RETRY = 30.0  # seconds: the longest hint


class Busy(Exception):
    """Not admitted: the client should reconnect after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"try again in {retry_after:.1f} s")
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """The WebSocket close reason (at most 123 bytes): what the browser parses."""
        return f"try again later; retry_after_ms={round(self.retry_after * 1000)}"


class Ticket:
    """A held admission slot; `release` once the connection is live (idempotent)."""

    def __init__(self, admission: Admission) -> None:
        self._admission: Admission | None = admission
        self._since = time.monotonic()

    def release(self) -> None:
        if self._admission is not None:
            self._admission._release(time.monotonic() - self._since)
            self._admission = None


class Admission:
    """At most `concurrent` connections admitted and not yet live; at most `waiting` queued
    behind them, each for at most `wait` seconds."""

    def __init__(self, *, concurrent: int = 16, waiting: int = 512, wait: float = 10.0,
                 jitter: Callable[[], float] = random.random) -> None:
        if concurrent < 1 or waiting < 0 or wait <= 0:
            raise ValueError("concurrent >= 1, waiting >= 0 and wait > 0 required")
        self._slots = asyncio.Semaphore(concurrent)
        self._concurrent = concurrent
        self._waiting_max = waiting
        self._wait = wait
        self._jitter = jitter
        self.waiting = 0
        self.admitted = 0  # holding a slot now
        self.refused = 0  # told to try again later, since start
        self._hold = 0.05  # seconds a slot is held (running estimate)

    async def enter(self) -> Ticket:
        """A slot, after waiting in the queue if need be; `Busy` when the queue is full or the
        wait ran out."""
        if self.waiting >= self._waiting_max and self._slots.locked():
            raise self._busy()
        self.waiting += 1
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise self._busy() from None
        finally:
            self.waiting -= 1
        self.admitted += 1
        return Ticket(self)

    def _release(self, held: float) -> None:
        self.admitted -= 1
        self._hold = 0.8 * self._hold + 0.2 * held
        self._slots.release()

    def _busy(self) -> Busy:
        """The hint: about the time the queue ahead takes to drain, times 1-2 (jitter), so the
        refused clients come back spread over that time; at least 0.5 s, at most MAX_RETRY."""
        self.refused += 1
        drain = (self.waiting + self.admitted) / self._concurrent * self._hold
        return Busy(min(MAX_RETRY, max(0.5, drain) * (1.0 + self._jitter())))
