"""The embedded profile's event bus: an asyncio queue and one worker task in this process.

`publish` only enqueues. The worker hands each event to every handler subscribed to its exact
type, running up to `max_in_flight` handler calls at once; order between events and between
handlers is not guaranteed. A handler that raises is logged (event type, handler, exception
type: never the event's contents) and retried with exponential backoff; after the last retry
the event is dropped for that handler and counted in `failed_count`. Handlers must therefore
be idempotent. Events published but not yet handled are lost if the process stops: durable
delivery is the NATS profile's job.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from ledgerlink.domain.events import Event
from ledgerlink.services.kernel.bus import Handler

__all__ = ["InProcessBus", "handler_name"]

_log = structlog.get_logger(__name__)


class InProcessBus:
    """`EventBus` in one process. Started lazily by the first `publish`, or by `start()`."""

    def __init__(
        self, *, max_in_flight: int = 64, retries: int = 3, retry_backoff: float = 0.05
    ) -> None:
        if max_in_flight < 1 or retries < 0 or retry_backoff < 0:
            raise ValueError("max_in_flight >= 1, retries >= 0 and retry_backoff >= 0 required")
        self._max_in_flight = max_in_flight
        self._retries = retries
        self._retry_backoff = retry_backoff
        self._handlers: dict[type[Event], list[Handler]] = {}
        self._published = 0
        self._failed = 0
        # Loop-bound state, made in start() so the bus can be built outside a running loop.
        self._queue: asyncio.Queue[Event] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0  # events queued or being dispatched + handler calls in flight

    @property
    def published_count(self) -> int:
        return self._published

    @property
    def failed_count(self) -> int:
        """Handler calls dropped after their last retry."""
        return self._failed

    def subscribe(self, event_type: type[Event], handler: Handler) -> None:
        """Call `handler` for every event of exactly `event_type`; subscribing twice is a no-op."""
        handlers = self._handlers.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)

    async def start(self) -> None:
        if self._worker is not None:
            return
        self._queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(self._max_in_flight)
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending = 0
        self._worker = asyncio.create_task(self._run(), name="ledgerlink-inprocess-bus")

    async def stop(self, *, grace: float | None = None) -> None:
        """Let queued events finish (for up to `grace` seconds), then stop the worker."""
        if self._worker is None:
            return
        try:
            async with asyncio.timeout(grace):
                await self.drain()
        except TimeoutError:
            _log.warning("event_bus_stopped_with_pending_work", pending=self._pending)
        worker, tasks = self._worker, list(self._tasks)
        for task in (worker, *tasks):
            task.cancel()
        await asyncio.gather(worker, *tasks, return_exceptions=True)
        self._worker = self._queue = self._slots = self._idle = None
        self._tasks.clear()
        self._pending = 0

    async def publish(self, event: Event) -> None:
        if self._worker is None:
            await self.start()
        assert self._queue is not None
        assert self._idle is not None
        self._published += 1
        self._pending += 1
        self._idle.clear()
        self._queue.put_nowait(event)

    async def drain(self) -> None:
        """Wait until the queue is empty and no handler runs. Never call it from a handler."""
        if self._idle is not None:
            await self._idle.wait()

    async def _run(self) -> None:
        assert self._queue is not None
        assert self._slots is not None
        while True:
            event = await self._queue.get()
            try:
                for handler in tuple(self._handlers.get(type(event), ())):
                    await self._slots.acquire()
                    self._pending += 1
                    task = asyncio.create_task(self._deliver(event, handler))
                    self._tasks.add(task)
                    task.add_done_callback(self._handler_done)
            finally:
                self._settle()

    async def _deliver(self, event: Event, handler: Handler) -> None:
        for attempt in range(1, self._retries + 2):
            try:
                await handler(event)
            except Exception as exc:
                context = {
                    "event_type": type(event).__name__,
                    "handler": handler_name(handler),
                    "error": type(exc).__name__,
                    "attempt": attempt,
                }
                if attempt > self._retries:
                    self._failed += 1
                    _log.error("event_handler_gave_up", **context)
                    return
                _log.warning("event_handler_failed", **context)
                await asyncio.sleep(self._retry_backoff * 2 ** (attempt - 1))
            else:
                return

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._slots is not None:
            self._slots.release()
        self._settle()

    def _settle(self) -> None:
        self._pending -= 1
        if self._pending <= 0 and self._idle is not None:
            self._pending = 0
            self._idle.set()


def handler_name(handler: Any) -> str:
    """A handler's dotted name, through functools.partial (logs; JetStream's durable names)."""
    target = handler
    with contextlib.suppress(AttributeError):
        while True:  # unwrap functools.partial
            target = target.func
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{name}" if module else name
