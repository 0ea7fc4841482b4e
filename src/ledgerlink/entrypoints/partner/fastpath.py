"""The bank-event endpoint as a raw ASGI handler: the platform's hottest path.

`POST /partners/{slug}/events` is answered here, before sessions, routing and the framework's
request objects, which cost more than the work itself (verify, dedupe, persist, enqueue). The
FastAPI route of the same path stays for the OpenAPI document and behaves identically.

Throttling (ADR 0019): verified events are never counted or limited; refused ones (unknown
partner, missing or bad signature, stale timestamp) are counted per client address, and an
address past `throttle.BANK_EVENT_REFUSED_ADDRESS` gets 429 before any other work. The look
costs a hash and two window reads per event, so an address found under the limit is
remembered as such (`_UnderLimit`) until this process counts a refusal for it: only a counted
refusal can bring an address to the limit, and time only takes counts away. A limiter shared
with other processes (a `limits` store such as Redis) also counts their refusals, which this
process does not see: for that case the memory lasts at most `_UNDER_LIMIT_SECONDS`.
"""

from __future__ import annotations

import json
import time
import weakref
from typing import Any

import structlog

from ledgerlink.adapters.db.outage import RETRY_AFTER, store_unavailable
from ledgerlink.domain.errors import DomainError, TooManyRequests
from ledgerlink.entrypoints import metrics
from ledgerlink.entrypoints.problems import STORE_UNAVAILABLE, problem_body
from ledgerlink.services.ingest.inbox import MAX_BODY, Accepted, Ingest, too_large
from ledgerlink.services.kernel import throttle
from ledgerlink.services.kernel.ports import RateLimiter

log = structlog.get_logger(__name__)

_PREFIX = "/partners/"
_SUFFIX = "/events"
_JSON = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", b"application/problem+json")]
# The answers to a stored event, built once but for the id and the length (the bytes
# `json.dumps` gives `accepted_answer`'s dict; `NoStoreByDefault` finds its Cache-Control).
_STORED_HEAD = b'{"id": '
_STORED_TAIL = {200: b', "status": "already_received"}', 202: b', "status": "accepted"}'}
_STORED_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
_UNDER_LIMIT_SECONDS = 1.0
# The headers `Ingest.admit` and `Ingest.receive` read (size, media type, the Standard Webhooks
# three); the others are not decoded. ASGI names are lower-case.
_HEADERS_READ = frozenset({b"content-length", b"content-type", b"webhook-id", b"webhook-timestamp",
                           b"webhook-signature"})

Scope = dict[str, Any]


class _Looks:
    """One limiter's addresses found under the limit (monotonic time of the look) and the count
    of refusals counted through it."""

    __slots__ = ("refusals", "seen")

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.refusals = 0


class _UnderLimit:
    """The addresses a look found under the refused-event limit, per limiter: forgotten when a
    refusal is counted for them, after `_UNDER_LIMIT_SECONDS`, and all at once past `bound`
    addresses. A look is remembered only when no refusal was counted while it ran."""

    def __init__(self, bound: int = 65_536) -> None:
        self._of_limiter: weakref.WeakKeyDictionary[Any, _Looks] = weakref.WeakKeyDictionary()
        self._bound = bound

    def looks(self, limiter: RateLimiter) -> _Looks | None:
        try:
            looks = self._of_limiter.get(limiter)
            if looks is None:
                looks = self._of_limiter[limiter] = _Looks()
        except TypeError:  # a limiter that takes no weak reference: remember nothing
            return None
        return looks

    def known(self, looks: _Looks | None, address: str) -> bool:
        at = None if looks is None else looks.seen.get(address)
        return at is not None and time.monotonic() - at < _UNDER_LIMIT_SECONDS

    def note(self, looks: _Looks | None, address: str, refusals_before: int) -> None:
        if looks is not None and looks.refusals == refusals_before:
            if len(looks.seen) >= self._bound:
                looks.seen.clear()
            looks.seen[address] = time.monotonic()

    def forget(self, limiter: RateLimiter, address: str) -> None:
        looks = self.looks(limiter)
        if looks is not None:
            looks.refusals += 1
            looks.seen.pop(address, None)


_under_limit = _UnderLimit()


class _Outcomes:
    """`metrics.bank_events`' children by (partner label, outcome), looked up once (bounded)."""

    def __init__(self, bound: int = 1024) -> None:
        self._children: dict[tuple[str, str], Any] = {}
        self._bound = bound

    def inc(self, partner: str, outcome: str) -> None:
        child = self._children.get((partner, outcome))
        if child is None:
            child = metrics.bank_events.labels(partner=partner, outcome=outcome)
            if len(self._children) < self._bound:
                self._children[(partner, outcome)] = child
        child.inc()


_outcomes = _Outcomes()


class BankEventFastPath:
    def __init__(self, app: Any, *, ingest: Ingest, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self._ingest = ingest
        self._limiter = limiter

    def __getattr__(self, name: str) -> Any:
        # `.state`, `.openapi()`, `.routes`...: the wrapped FastAPI app answers.
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(_PREFIX) and path.endswith(_SUFFIX):
                slug = path[len(_PREFIX) : -len(_SUFFIX)]
                if slug and "/" not in slug:
                    await self._handle(slug, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _handle(self, slug: str, scope: Scope, receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1")
                   for k, v in scope["headers"] if k in _HEADERS_READ}
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"  # as `dependencies.client_address`
        try:
            # Throttled address; partner, declared size, media type, webhook id: all before a
            # byte of the body is read.
            await refuse_if_throttled(self._limiter, address)
            await self._ingest.admit(slug, headers)
            body = await read_capped(receive)
            if body is None:
                return  # the client went away
            accepted = await self._ingest.receive(slug, body, headers, admitted=True)
        except DomainError as exc:
            await count_refusal(self._limiter, address, exc)
            partner = "unknown" if exc.code == "unknown_partner" else label(slug)
            _outcomes.inc(partner, exc.code)
            if isinstance(exc, TooManyRequests):
                retry = str(exc.retry_after)
                await _respond(send, exc.status, [*_PROBLEM, (b"retry-after", retry.encode())],
                               problem_body(exc.status, exc.code, exc.detail, retry_after=exc.retry_after))
            else:
                await _respond(send, exc.status, _PROBLEM, problem_body(exc.status, exc.code, exc.detail))
            return
        except Exception as exc:
            if store_unavailable(exc):  # PostgreSQL down or restarting: the bank retries later
                log.warning("bank_event_store_unavailable", error_type=type(exc).__name__)
                await _respond(send, 503, [*_PROBLEM, (b"retry-after", str(RETRY_AFTER).encode())],
                               problem_body(503, "store_unavailable", STORE_UNAVAILABLE,
                                            retry_after=RETRY_AFTER))
                return
            log.error("bank_event_failed", error_type=type(exc).__name__)
            await _respond(
                send, 500, _PROBLEM, problem_body(500, "internal_error", "the event was not stored")
            )
            return
        status = 200 if accepted.repeat else 202
        _outcomes.inc(label(slug), "already_received" if accepted.repeat else "accepted")
        body = b"".join((_STORED_HEAD, json.dumps(accepted.webhook_id).encode(), _STORED_TAIL[status]))
        await send({"type": "http.response.start", "status": status,
                    "headers": [*_STORED_HEADERS, (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})


def accepted_answer(accepted: Accepted) -> tuple[int, dict[str, str]]:
    """202 for an event stored now; 200 for a resend of one stored before with the same content
    (Standard Webhooks senders retry until 2xx: issue 12)."""
    if accepted.repeat:
        return 200, {"id": accepted.webhook_id, "status": "already_received"}
    return 202, {"id": accepted.webhook_id, "status": "accepted"}


async def refuse_if_throttled(limiter: RateLimiter | None, address: str) -> None:
    """`TooManyRequests` when `address` sent too many refused events lately (looks, counts nothing;
    an address found under the limit since its last counted refusal is not looked at again:
    `_UnderLimit`)."""
    if limiter is None:
        return
    looks = _under_limit.looks(limiter)
    if _under_limit.known(looks, address):
        return
    refusals = 0 if looks is None else looks.refusals
    await throttle.check(limiter, throttle.BANK_EVENT_REFUSED_ADDRESS, address, count=False)
    _under_limit.note(looks, address, refusals)


async def count_refusal(limiter: RateLimiter | None, address: str, exc: DomainError) -> None:
    """Count an event refused as unverifiable (401: signature headers, signature, timestamp;
    or an unknown partner) against `address`. Other refusals come from a verified bank or are
    decided by headers alone, before any signature work, and are not counted."""
    if limiter is not None and (exc.status == 401 or exc.code == "unknown_partner"):
        _under_limit.forget(limiter, address)  # before the count and after it: a look that
        try:  # ran meanwhile is not remembered either
            await limiter.hit(throttle.BANK_EVENT_REFUSED_ADDRESS, address)
        finally:
            _under_limit.forget(limiter, address)


async def read_capped(receive: Any) -> bytes | None:
    """The request body, read until it ends or passes `MAX_BODY` (then `PayloadTooLarge`,
    without reading the rest). None when the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def label(slug: str) -> str:
    # Slugs come from the outside: keep metric label cardinality bounded.
    return slug if len(slug) <= 40 and slug.replace("-", "").isalnum() else "invalid"
