"""Signed event push (Standard Webhooks), ordered per subscription, retried with backoff.

Each subscription has its own FIFO queue and at most one worker task draining it, so events
of one consent arrive in the order they happened. Outcomes: 2xx or 409 (the receiver already
has it) = delivered; 410 = the subscription is disabled; network errors, 5xx and 429 are
retried with exponential backoff and full jitter (Retry-After honoured), up to
`max_attempts`; any other 4xx is logged and given up.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from standardwebhooks import Webhook

from ledgerlink.domain.clock import Clock
from ledgerlink.sandbox._model import DeliveryRecord, Subscription
from ledgerlink.sandbox._push import Pusher

log = logging.getLogger("ledgerlink.sandbox.webhooks")


class WebhookDispatcher(Pusher[tuple[Subscription, DeliveryRecord, bytes]]):
    def __init__(self, *, clock: Clock, secret_for: Callable[[str], str],
                 on_gone: Callable[[str], None], max_attempts: int, backoff_base: float,
                 backoff_cap: float, timeout: float, http: httpx.AsyncClient | None) -> None:
        super().__init__(max_attempts=max_attempts, backoff_base=backoff_base, backoff_cap=backoff_cap,
                         timeout=timeout, http=http, task_name="sandbox-webhook")
        self._clock = clock
        self._secret_for = secret_for
        self._on_gone = on_gone
        self.records: list[DeliveryRecord] = []

    def enqueue(self, sub: Subscription, event_type: str, data: dict[str, Any]) -> DeliveryRecord:
        stamp = self._clock.now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
        body = json.dumps({"type": event_type, "timestamp": stamp, "data": data},
                          separators=(",", ":")).encode()
        record = DeliveryRecord(f"msg_{secrets.token_hex(12)}", sub.subscription_id, event_type)
        self.records.append(record)
        self._enqueue(sub.subscription_id, (sub, record, body))
        return record

    async def _handle(self, key: str, item: tuple[Subscription, DeliveryRecord, bytes]) -> None:
        sub, record, body = item
        if not sub.active:
            record.status = "gone"
            return
        signer = Webhook(self._secret_for(sub.client_id))

        def request() -> tuple[bytes, Mapping[str, str]]:
            sent_at = self._clock.now()
            return body, {
                "webhook-id": record.msg_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": signer.sign(record.msg_id, sent_at, body.decode()),
                "content-type": "application/json",
            }

        def settle(resp: httpx.Response) -> str | None:
            code = resp.status_code
            if 200 <= code < 300 or code == 409:
                return "delivered"
            if code == 410:
                return "gone"
            return None if code == 429 or code >= 500 else "failed"

        await self._post(record, sub.url, request=request, settle=settle)
        if record.status == "gone":
            sub.active = False
            self._on_gone(sub.subscription_id)
            log.warning("subscription %s answered 410: disabled", sub.subscription_id)
        elif record.status == "failed":
            log.warning("webhook %s to subscription %s failed (last status %s, %s attempts)",
                        record.msg_id, sub.subscription_id, record.last_status_code, record.attempts)
