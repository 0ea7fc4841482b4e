"""The bank's messages to the platform (docs/bank-dialogue.md, "Bank -> platform").

Each message is a compact JWS signed with the bank's key (`typ: bank-message+jwt`), posted
to the client's `messages_url` with its partner API key. One ordered queue per client; a
message is signed afresh at each attempt (new `iat`/`exp`, same `jti`), so a retry after a
long backoff is not refused as expired and the platform still sees one message. Network
errors, 5xx and 429 are retried with exponential backoff and jitter; any other 4xx is final.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from ledgerlink.domain.clock import Clock
from ledgerlink.sandbox._keys import MESSAGE_TYP, BankKey
from ledgerlink.sandbox._model import Consent
from ledgerlink.sandbox.config import OAuthClientConfig

log = logging.getLogger("ledgerlink.sandbox.messages")

KINDS = ("service", "fraud_outcome", "notice")
MESSAGE_LIFETIME = 300  # seconds between iat and exp of one signed attempt


@dataclass(slots=True)
class MessageRecord:
    """One bank message and its delivery (readable in tests; `text` never goes to a log)."""

    message_id: str  # the token's jti
    client_id: str
    consent_id: str
    kind: str
    text: str
    in_reply_to: dict[str, str] | None
    status: str = "queued"  # queued | delivered | refused | failed | no_endpoint
    attempts: int = 0
    last_status_code: int | None = None
    history: list[str] = field(default_factory=list)


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: the platform's audience, derived from messages_url."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class MessageOutbox:
    def __init__(self, *, clock: Clock, key: BankKey, issuer: str,
                 clients: list[OAuthClientConfig], delay: float, max_attempts: int,
                 backoff_base: float, backoff_cap: float, timeout: float,
                 http: httpx.AsyncClient | None) -> None:
        self._clock = clock
        self._key = key
        self._issuer = issuer
        self._clients = {c.client_id: c for c in clients}
        self._delay = delay
        self._max_attempts = max_attempts
        self._base = backoff_base
        self._cap = backoff_cap
        self._timeout = timeout
        self._http = http
        self._own_http = False
        self._jitter = random.Random()  # timing only
        self._queues: dict[str, deque[tuple[MessageRecord, float]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._running = False
        self.records: list[MessageRecord] = []

    async def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
            self._own_http = True
        self._running = True
        for client_id, queue in self._queues.items():
            if queue:
                self._spawn(client_id)

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

    def send(self, consent: Consent, *, kind: str, text: str,
             in_reply_to: dict[str, str] | None = None) -> MessageRecord:
        """Queue a message to the consent's thread; it leaves after `reply_delay_seconds`."""
        if kind not in KINDS:
            raise ValueError(f"unknown message kind {kind!r}")
        if not 1 <= len(text) <= 2000:
            raise ValueError("a bank message has 1-2000 characters")
        record = MessageRecord(f"bmsg_{secrets.token_hex(12)}", consent.client_id,
                               consent.consent_id, kind, text, in_reply_to)
        self.records.append(record)
        client = self._clients.get(consent.client_id)
        if client is None or not client.messages_url or not client.api_key:
            record.status = "no_endpoint"
            log.info("message %s not sent: client %s registered no messages_url/api_key",
                     record.message_id, consent.client_id)
            return record
        self._queues.setdefault(client.client_id, deque()).append(
            (record, time.monotonic() + self._delay))
        self._idle.clear()
        if self._running:
            self._spawn(client.client_id)
        return record

    async def drain(self) -> None:
        """Wait until no message is queued or in flight (wrap in `asyncio.timeout`)."""
        await self._idle.wait()

    def _spawn(self, client_id: str) -> None:
        task = self._workers.get(client_id)
        if task is None or task.done():
            self._workers[client_id] = asyncio.create_task(
                self._work(client_id), name=f"sandbox-messages-{client_id}")

    async def _work(self, client_id: str) -> None:
        queue = self._queues[client_id]
        try:
            while queue:
                record, not_before = queue[0]
                wait = not_before - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._deliver(self._clients[client_id], record)
                queue.popleft()
        finally:
            if not any(self._queues.values()):
                self._idle.set()

    def _token(self, client: OAuthClientConfig, record: MessageRecord) -> str:
        assert client.messages_url is not None
        iat = int(self._clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": self._issuer, "aud": origin(client.messages_url), "iat": iat,
            "exp": iat + MESSAGE_LIFETIME, "jti": record.message_id,
            "consent_id": record.consent_id, "kind": record.kind, "text": record.text}
        if record.in_reply_to is not None:
            claims["in_reply_to"] = record.in_reply_to
        return self._key.sign(claims, typ=MESSAGE_TYP)

    async def _deliver(self, client: OAuthClientConfig, record: MessageRecord) -> None:
        assert self._http is not None and client.messages_url is not None
        while record.attempts < self._max_attempts:
            record.attempts += 1
            retry_after: float | None = None
            try:
                resp = await self._http.post(
                    client.messages_url, content=self._token(client, record).encode("ascii"),
                    headers={"authorization": f"Bearer {client.api_key}",
                             "content-type": "application/jose", "accept": "application/json"},
                    timeout=self._timeout)
            except httpx.HTTPError as exc:
                record.history.append(f"network:{type(exc).__name__}")
            else:
                code = resp.status_code
                record.last_status_code = code
                record.history.append(str(code))
                if 200 <= code < 300:  # 200 = the platform had it already (a retry): delivered
                    record.status = "delivered"
                    return
                if code != 429 and code < 500:
                    record.status = "refused"
                    log.warning("message %s (%s) to client %s refused with %s (%s): giving up",
                                record.message_id, record.kind, client.client_id, code,
                                _problem_code(resp))
                    return
                retry_after = _seconds(resp.headers.get("retry-after"))
            if record.attempts < self._max_attempts:
                await asyncio.sleep(self._backoff(record.attempts, retry_after))
        record.status = "failed"
        log.warning("message %s to client %s failed after %s attempts", record.message_id,
                    client.client_id, record.attempts)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self._cap, self._base * 2 ** (attempt - 1))
        delay = backoff / 2 + self._jitter.uniform(0, backoff / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._cap * 2))
        return float(delay)


def _seconds(raw: str | None) -> float | None:
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


def _problem_code(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return "no problem body"
    code = body.get("code") if isinstance(body, dict) else None
    return str(code)[:60] if code else "no code"
