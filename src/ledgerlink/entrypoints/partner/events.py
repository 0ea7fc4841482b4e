"""Partner-facing HTTP: signed bank events in. (Served by `fastpath.BankEventFastPath`; this
route documents it in OpenAPI and answers identically when the fast path is not installed.)"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ledgerlink.domain.errors import BadRequest, DomainError
from ledgerlink.entrypoints import metrics
from ledgerlink.entrypoints.dependencies import client_address, get_deps
from ledgerlink.entrypoints.partner.fastpath import (
    accepted_answer,
    count_refusal,
    label,
    read_capped,
    refuse_if_throttled,
)
from ledgerlink.entrypoints.problems import PROBLEM_SCHEMA

router = APIRouter(tags=["partners"])

_EVENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "A Standard Webhooks event: {type, timestamp, data}. The signature "
        "headers webhook-id, webhook-timestamp and webhook-signature are required "
        "and are checked on the raw body before anything else.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "type": {
                            "type": "string",
                            "enum": [
                                "transaction.updated",
                                "transaction.removed",
                                "balance.updated",
                                "consent.revoked",
                            ],
                        },
                        "timestamp": {"type": "string", "format": "date-time"},
                        "data": {"type": "object"},
                    },
                    "required": ["type", "data"],
                }
            }
        },
    }
}


_ACCEPTED = {
    "application/json": {
        "schema": {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string"}}}
    }
}


@router.post(
    "/partners/{partner_slug}/events",
    status_code=202,
    openapi_extra=_EVENT_BODY,
    responses={
        200: {
            "description": "already received: a resend of a stored event with the same webhook-id "
            "and body (status `already_received`); nothing is stored again",
            "content": _ACCEPTED,
        },
        202: {"description": "stored; it will be applied shortly", "content": _ACCEPTED},
        400: PROBLEM_SCHEMA,
        401: PROBLEM_SCHEMA,
        403: PROBLEM_SCHEMA,  # scope_not_granted: the consent does not share what the event carries
        404: PROBLEM_SCHEMA,
        409: PROBLEM_SCHEMA,  # the same webhook-id with a different body
        410: PROBLEM_SCHEMA,
        413: PROBLEM_SCHEMA,
        415: PROBLEM_SCHEMA,
        422: PROBLEM_SCHEMA,
        429: PROBLEM_SCHEMA,
        503: PROBLEM_SCHEMA,  # store_unavailable (the database out of reach) or not_ready: resend later
    },
)
async def receive_event(partner_slug: str, request: Request) -> JSONResponse:
    """Receive a signed event from a bank partner (verify, dedupe, persist, then 202)."""
    ingest = request.app.state.container.ingest
    limiter, address = get_deps(request).limiter, client_address(request)
    try:
        # Throttled address; partner, declared size, media type, webhook id; then the body,
        # never past 256 KiB.
        await refuse_if_throttled(limiter, address)
        await ingest.admit(partner_slug, request.headers)
        body = await read_capped(request.receive)
        if body is None:  # the client went away (nobody reads this answer)
            raise BadRequest("the request body did not arrive", code="incomplete_body")
        accepted = await ingest.receive(partner_slug, body, request.headers, admitted=True)
    except DomainError as exc:
        await count_refusal(limiter, address, exc)
        partner = "unknown" if exc.code == "unknown_partner" else label(partner_slug)
        metrics.bank_events.labels(partner=partner, outcome=exc.code).inc()
        raise
    status, answer = accepted_answer(accepted)
    metrics.bank_events.labels(partner=label(partner_slug), outcome=answer["status"]).inc()
    return JSONResponse(answer, status_code=status)
