"""Partner-facing HTTP for merchants (issue 11): Standard Webhooks signed order, shipment and
refund events, verified on the raw body, deduped on their id, then applied (docs/receipts.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ledgerlink.domain.errors import DomainError

router = APIRouter(tags=["partners"])

_MAX_BODY = 256 * 1024


@router.post("/partners/merchants/{merchant_slug}/events", status_code=202,
             responses={200: {"description": "a resend of an event already applied: nothing stored again"},
                        **{c: {"description": "a problem (RFC 9457)"}
                           for c in (400, 401, 404, 409, 413, 422)}})
async def receive_merchant_event(merchant_slug: str, request: Request) -> JSONResponse:
    """Receive a signed merchant event (order.placed, shipment.updated, order.delivered,
    refund.issued): verify, dedupe, store sealed, match to the card charge, then 202; a resend
    of an event whose order version is applied: 200 already_received; the same id for another
    version (or without one): 409 duplicate_event."""
    receipts = request.app.state.container.receipts
    body = await request.body()
    if len(body) > _MAX_BODY:
        return _problem(DomainError("the event is larger than 256 KiB", code="payload_too_large"), 413)
    try:
        result = await receipts.receive(merchant_slug, body, dict(request.headers))
    except DomainError as exc:
        return _problem(exc, exc.status)
    # a resend of an event already applied: received (200), as for a bank's resend
    return JSONResponse(result, status_code=200 if result.get("status") == "already_received" else 202)


def _problem(exc: DomainError, status: int) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": exc.code.replace("_", " "), "status": status,
                         "code": exc.code, "detail": exc.detail},
                        status_code=status, media_type="application/problem+json")
