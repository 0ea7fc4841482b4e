"""Partner-facing HTTP for carriers (issue 11): Standard Webhooks signed tracking updates,
verified on the raw body, deduped on their id, then applied as a poll's (docs/receipts.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ledgerlink.domain.errors import DomainError

router = APIRouter(tags=["partners"])

_MAX_BODY = 64 * 1024


@router.post("/partners/carriers/{carrier_slug}/events", status_code=202,
             responses={200: {"description": "a resend of an event already taken: nothing stored again"},
                        **{c: {"description": "a problem (RFC 9457)"} for c in (401, 404, 413, 422)}})
async def receive_carrier_event(carrier_slug: str, request: Request) -> JSONResponse:
    """Receive a signed `tracking.updated` event naming a parcel we follow: 202 applied (its
    card edited as a poll would), 200 `already_received` for a resent webhook-id; 401 a bad
    or missing signature, 404 `unknown_shipment` (no parcel under that reference) or
    `unknown_partner`, 422 `malformed_payload` naming the field."""
    events = request.app.state.container.carrier_events
    body = await request.body()
    if len(body) > _MAX_BODY:
        return _problem(DomainError("the event is larger than 64 KiB", code="payload_too_large"), 413)
    if events is None:
        return _problem(DomainError("no carrier pushes events here", code="unknown_partner"), 404)
    try:
        result = await events.receive(carrier_slug[:40], body, dict(request.headers))
    except DomainError as exc:
        return _problem(exc, exc.status)
    return JSONResponse(result, status_code=200 if result.get("status") == "already_received" else 202)


def _problem(exc: DomainError, status: int) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": exc.code.replace("_", " "), "status": status,
                         "code": exc.code, "detail": exc.detail},
                        status_code=status, media_type="application/problem+json")
