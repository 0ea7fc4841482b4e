"""The platforms' webhooks: `/channels/messenger/webhook` and `/channels/whatsapp/webhook`
(issue 15, ADR 0023).

GET is the subscription handshake: `hub.mode=subscribe` with the configured `hub.verify_token`
echoes `hub.challenge` as the body; anything else is 403. POST checks the size, then the
`X-Hub-Signature-256` HMAC of the raw body (constant time) before anything is parsed: a missing
signature is 401, a wrong one 403, and nothing is stored or queued. A signed body is parsed,
its events queued, and answered 200 at once, also when every event in it is ignored, so the
platform does not retry; the events are handled after the answer (`platform_inbound`).
Refused requests are throttled per client address; signed ones never are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ledgerlink.domain.errors import TooManyRequests
from ledgerlink.entrypoints.dependencies import client_address, get_deps
from ledgerlink.entrypoints.problems import problem
from ledgerlink.services.kernel import throttle
from ledgerlink.services.kernel.ports import RateRule
from ledgerlink.services.messaging.platform_events import parse_messenger, parse_whatsapp
from ledgerlink.services.messaging.platform_ports import MESSENGER, WHATSAPP, InboundEvent, WebhookGate

__all__ = ["MAX_BODY", "router"]

router = APIRouter(include_in_schema=False)

MAX_BODY = 1024 * 1024  # the platforms batch events; a megabyte is far above what they send
REFUSED = RateRule(
    "platform_webhook_refused",
    ((100, 60), (1000, 3600)),
    "Too many unverifiable webhook requests from this network.",
)
_PARSERS: dict[str, Callable[[Any], list[InboundEvent]]] = {
    MESSENGER: parse_messenger,
    WHATSAPP: parse_whatsapp,
}


def _problem(status: int, code: str, detail: str, *, retry_after: int | None = None) -> JSONResponse:
    response = problem(status, code, detail)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _gate(request: Request, platform: str) -> WebhookGate | None:
    container = getattr(request.app.state, "container", None)
    gates = getattr(container, "platform_gates", None) or {}
    gate: WebhookGate | None = gates.get(platform)
    return gate


def _off(platform: str) -> JSONResponse:
    return _problem(404, "channel_off", f"the {platform} channel is not set up on this server")


async def _verify(request: Request, platform: str) -> Response:
    gate = _gate(request, platform)
    if gate is None:
        return _off(platform)
    query = request.query_params
    challenge = query.get("hub.challenge", "")
    if query.get("hub.mode") != "subscribe" or not gate.verify_token(query.get("hub.verify_token", "")):
        return PlainTextResponse("verification failed", status_code=403)
    if not 0 < len(challenge) <= 256 or not challenge.isprintable():
        return PlainTextResponse("hub.challenge is missing or too long", status_code=400)
    return PlainTextResponse(challenge)


async def _body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _refuse(request: Request, status: int, code: str, detail: str) -> JSONResponse:
    limiter = get_deps(request).limiter
    if limiter is not None:
        await limiter.hit(REFUSED, f"{REFUSED.name}:{client_address(request)}")
    return _problem(status, code, detail)


async def _receive(request: Request, platform: str) -> Response:
    gate = _gate(request, platform)
    if gate is None:
        return _off(platform)
    key = f"{REFUSED.name}:{client_address(request)}"
    try:
        await throttle.check(get_deps(request).limiter, REFUSED, key, count=False)
    except TooManyRequests as exc:
        return _problem(429, "too_many_requests", exc.detail, retry_after=exc.retry_after)
    body = await _body(request)
    if body is None:
        return await _refuse(request, 413, "payload_too_large", f"the body is over {MAX_BODY} bytes")
    header = request.headers.get("x-hub-signature-256")
    if not header:
        return await _refuse(
            request, 401, "signature_missing", "X-Hub-Signature-256 is missing: every delivery must be signed"
        )
    if not gate.signature_ok(body, header):
        return await _refuse(
            request, 403, "bad_signature", "X-Hub-Signature-256 does not match this body and the app secret"
        )
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return _problem(400, "malformed_json", "the signed body is not JSON")
    events = _PARSERS[platform](payload)
    container = request.app.state.container
    inbound = getattr(container, "platform_inbound", None)
    queued = 0 if inbound is None else inbound.accept(events)
    return JSONResponse({"status": "received", "events": len(events), "queued": queued})


@router.get("/channels/messenger/webhook")
async def messenger_verify(request: Request) -> Response:
    return await _verify(request, MESSENGER)


@router.post("/channels/messenger/webhook")
async def messenger_receive(request: Request) -> Response:
    return await _receive(request, MESSENGER)


@router.get("/channels/whatsapp/webhook")
async def whatsapp_verify(request: Request) -> Response:
    return await _verify(request, WHATSAPP)


@router.post("/channels/whatsapp/webhook")
async def whatsapp_receive(request: Request) -> Response:
    return await _receive(request, WHATSAPP)
