"""Signed event push (Standard Webhooks), ordered per subscription, retried with backoff.

Each subscription has its own FIFO queue and at most one worker task draining it, so events
of one consent arrive in the order they happened. Outcomes: 2xx or 409 (the receiver already
has it) = delivered; 410 = the subscription is disabled; network errors, 5xx and 429 are
retried with exponential backoff and full jitter (Retry-After honoured), up to
`max_attempts`; any other 4xx is logged and given up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from ledgerlink.domain.clock import Clock
from ledgerlink.sandbox._model import DeliveryRecord, Subscription

log = logging.getLogger("ledgerlink.sandbox.webhooks")


class WebhookDispatcher:
    def __init__(self, *, clock: Clock, secret_for: Callable[[str], str],
                 on_gone: Callable[[str], None], max_attempts: int, backoff_base: float,
                 backoff_cap: float, timeout: float, http: httpx.AsyncClient | None) -> None:
        self._clock = clock
        self._secret_for = secret_for
        self._on_gone = on_gone
        self._max_attempts = max_attempts
        self._base = backoff_base
        self._cap = backoff_cap
        self._timeout = timeout
        self._http = http
        self._own_http = False
        self._jitter = random.Random()  # timing only; never influences the simulated activity
        self._queues: dict[str, deque[tuple[Subscription, DeliveryRecord, bytes]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._running = False
        self.records: list[DeliveryRecord] = []

    async def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
            self._own_http = True
        self._running = True
        for sub_id, queue in self._queues.items():
            if queue:
                self._spawn(sub_id)

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

    def enqueue(self, sub: Subscription, event_type: str, data: dict[str, Any]) -> DeliveryRecord:
        stamp = self._clock.now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
        body = json.dumps({"type": event_type, "timestamp": stamp, "data": data},
                          separators=(",", ":")).encode()
        record = DeliveryRecord(f"msg_{secrets.token_hex(12)}", sub.subscription_id, event_type)
        self.records.append(record)
        self._queues.setdefault(sub.subscription_id, deque()).append((sub, record, body))
        self._idle.clear()
        if self._running:
            self._spawn(sub.subscription_id)
        return record

    async def drain(self) -> None:
        """Wait until every queue is empty (tests and shutdown; wrap in `asyncio.timeout`)."""
        await self._idle.wait()

    def _spawn(self, sub_id: str) -> None:
        task = self._workers.get(sub_id)
        if task is None or task.done():
            self._workers[sub_id] = asyncio.create_task(self._work(sub_id),
                                                        name=f"sandbox-webhook-{sub_id}")

    async def _work(self, sub_id: str) -> None:
        queue = self._queues[sub_id]
        try:
            while queue:
                sub, record, body = queue[0]
                if sub.active:
                    await self._deliver(sub, record, body)
                else:
                    record.status = "gone"
                queue.popleft()
        finally:
            if not any(self._queues.values()):
                self._idle.set()

    async def _deliver(self, sub: Subscription, record: DeliveryRecord, body: bytes) -> None:
        assert self._http is not None
        signer = Webhook(self._secret_for(sub.client_id))
        while record.attempts < self._max_attempts:
            record.attempts += 1
            sent_at = self._clock.now()
            headers = {
                "webhook-id": record.msg_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": signer.sign(record.msg_id, sent_at, body.decode()),
                "content-type": "application/json",
            }
            retry_after: float | None = None
            try:
                resp = await self._http.post(sub.url, content=body, headers=headers,
                                             timeout=self._timeout)
            except httpx.HTTPError as exc:
                record.history.append(f"network:{type(exc).__name__}")
            else:
                record.last_status_code = resp.status_code
                record.history.append(str(resp.status_code))
                if 200 <= resp.status_code < 300 or resp.status_code == 409:
                    record.status = "delivered"
                    return
                if resp.status_code == 410:
                    record.status = "gone"
                    sub.active = False
                    self._on_gone(sub.subscription_id)
                    log.warning("subscription %s answered 410: disabled", sub.subscription_id)
                    return
                if resp.status_code != 429 and resp.status_code < 500:
                    record.status = "failed"
                    log.warning("webhook %s to subscription %s refused with %s: giving up",
                                record.msg_id, sub.subscription_id, resp.status_code)
                    return
                retry_after = _retry_after(resp.headers.get("retry-after"))
            if record.attempts < self._max_attempts:
                await asyncio.sleep(self._delay(record.attempts, retry_after))
        record.status = "failed"
        log.warning("webhook %s to subscription %s failed after %s attempts",
                    record.msg_id, sub.subscription_id, record.attempts)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self._cap, self._base * 2 ** (attempt - 1))
        delay = backoff / 2 + self._jitter.uniform(0, backoff / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._cap * 2))
        return float(delay)


def _retry_after(raw: str | None) -> float | None:
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
