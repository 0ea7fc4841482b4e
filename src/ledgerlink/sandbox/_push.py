"""What the sandbox bank's two pushers share (webhook events, its own signed messages): one
ordered queue per receiver, a worker task per queue, and POSTs retried with jittered
exponential backoff and `Retry-After`, each attempt recorded on the item's record."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar

import httpx

from ledgerlink.sandbox._tls import tls_context

T = TypeVar("T")


class Attempted(Protocol):
    """A record of one pushed item (DeliveryRecord, MessageRecord)."""

    attempts: int
    status: str
    last_status_code: int | None
    history: list[str]


class Pusher(Generic[T]):
    """Subclasses `_handle(key, item)` each queued item, in order per key."""

    def __init__(self, *, max_attempts: int, backoff_base: float, backoff_cap: float, timeout: float,
                 http: httpx.AsyncClient | None, task_name: str) -> None:
        self._max_attempts = max_attempts
        self._base = backoff_base
        self._cap = backoff_cap
        self._timeout = timeout
        self._http = http
        self._own_http = False
        self._task_name = task_name
        self._jitter = random.Random()  # timing only; never influences the simulated activity
        self._queues: dict[str, deque[T]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._running = False

    async def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout, verify=tls_context())
            self._own_http = True
        self._running = True
        for key, queue in self._queues.items():
            if queue:
                self._spawn(key)

    async def stop(self) -> None:
        self._running = False
        tasks = list(self._workers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None
            self._own_http = False

    async def drain(self) -> None:
        """Wait until nothing is queued or in flight (tests and shutdown; wrap in `asyncio.timeout`)."""
        await self._idle.wait()

    def _enqueue(self, key: str, item: T) -> None:
        self._queues.setdefault(key, deque()).append(item)
        self._idle.clear()
        if self._running:
            self._spawn(key)

    def _spawn(self, key: str) -> None:
        task = self._workers.get(key)
        if task is None or task.done():
            self._workers[key] = asyncio.create_task(self._work(key), name=f"{self._task_name}-{key}")

    async def _work(self, key: str) -> None:
        queue = self._queues[key]
        try:
            while queue:
                await self._handle(key, queue[0])
                queue.popleft()
        finally:
            if not any(self._queues.values()):
                self._idle.set()

    async def _handle(self, key: str, item: T) -> None:
        raise NotImplementedError

    async def _post(self, record: Attempted, url: str, *,
                    request: Callable[[], tuple[bytes, Mapping[str, str]]],
                    settle: Callable[[httpx.Response], str | None]) -> None:
        """POST until `settle(response)` names a final status (None: retry) or the attempts run
        out (status `failed`). `request()` builds body and headers afresh for each attempt
        (signatures carry the time)."""
        assert self._http is not None
        while record.attempts < self._max_attempts:
            record.attempts += 1
            retry_after: float | None = None
            body, headers = request()
            try:
                resp = await self._http.post(url, content=body, headers=dict(headers), timeout=self._timeout)
            except httpx.HTTPError as exc:
                record.history.append(f"network:{type(exc).__name__}")
            else:
                record.last_status_code = resp.status_code
                record.history.append(str(resp.status_code))
                final = settle(resp)
                if final is not None:
                    record.status = final
                    return
                retry_after = retry_after_seconds(resp.headers.get("retry-after"))
            if record.attempts < self._max_attempts:
                await asyncio.sleep(self._backoff(record.attempts, retry_after))
        record.status = "failed"

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self._cap, self._base * 2 ** (attempt - 1))
        delay = backoff / 2 + self._jitter.uniform(0, backoff / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._cap * 2))
        return float(delay)


def retry_after_seconds(raw: str | None) -> float | None:
    """`Retry-After` as seconds (a number or an HTTP date); None if absent or unreadable."""
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def problem_code(resp: httpx.Response) -> str:
    try:
        body: Any = resp.json()
    except ValueError:
        return "no problem body"
    code = body.get("code") if isinstance(body, dict) else None
    return str(code)[:60] if code else "no code"
