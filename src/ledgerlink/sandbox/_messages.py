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
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from ledgerlink.domain.clock import Clock
from ledgerlink.sandbox._keys import MESSAGE_TYP, BankKey
from ledgerlink.sandbox._model import Consent
from ledgerlink.sandbox._push import Pusher, problem_code
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


class MessageOutbox(Pusher[tuple[MessageRecord, float]]):
    def __init__(self, *, clock: Clock, key: BankKey, issuer: str,
                 clients: list[OAuthClientConfig], delay: float, max_attempts: int,
                 backoff_base: float, backoff_cap: float, timeout: float,
                 http: httpx.AsyncClient | None) -> None:
        super().__init__(max_attempts=max_attempts, backoff_base=backoff_base, backoff_cap=backoff_cap,
                         timeout=timeout, http=http, task_name="sandbox-messages")
        self._clock = clock
        self._key = key
        self._issuer = issuer
        self._clients = {c.client_id: c for c in clients}
        self._delay = delay
        self.records: list[MessageRecord] = []

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
        self._enqueue(client.client_id, (record, time.monotonic() + self._delay))
        return record

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

    async def _handle(self, key: str, item: tuple[MessageRecord, float]) -> None:
        record, not_before = item
        wait = not_before - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        client = self._clients[key]
        assert client.messages_url is not None
        headers = {"authorization": f"Bearer {client.api_key}", "content-type": "application/jose",
                   "accept": "application/json"}
        refusal = ""

        def request() -> tuple[bytes, Mapping[str, str]]:
            return self._token(client, record).encode("ascii"), headers

        def settle(resp: httpx.Response) -> str | None:
            nonlocal refusal
            code = resp.status_code
            if 200 <= code < 300:  # 200 = the platform had it already (a retry): delivered
                return "delivered"
            if code == 429 or code >= 500:
                return None
            refusal = problem_code(resp)
            return "refused"

        await self._post(record, client.messages_url, request=request, settle=settle)
        if record.status == "refused":
            log.warning("message %s (%s) to client %s refused with %s (%s): giving up",
                        record.message_id, record.kind, client.client_id, record.last_status_code, refusal)
        elif record.status == "failed":
            log.warning("message %s to client %s failed after %s attempts", record.message_id,
                        client.client_id, record.attempts)
