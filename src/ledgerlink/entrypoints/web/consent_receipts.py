"""Consent receipts for their owner: the readable page and the signed file (`application/jose`).

Someone else's receipt answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Purpose
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.web.kit import not_found, page, see_other
from ledgerlink.services.linking import consent_receipts

__all__ = ["router"]

router = APIRouter(tags=["verification"])

JOSE_MEDIA_TYPE = "application/jose"


# Registered before `/receipts/{receipt_id}`, which would otherwise match "<id>.jws" too.
@router.get("/receipts/{receipt_id}.jws", response_class=Response)
async def download_receipt(request: Request, receipt_id: str) -> Response:
    """The signed receipt (compact JWS), for its owner only."""
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    try:
        view = await consent_receipts.read(
            get_deps(request), grant, receipt_id, purpose=Purpose.PERSON_EXPORT)
    except NotFound:
        return not_found(request, person)
    return Response(
        view.jws,
        media_type=JOSE_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="consent-receipt-{view.id}.jws"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/receipts/{receipt_id}", response_class=HTMLResponse, include_in_schema=False)
async def receipt_page(request: Request, receipt_id: str) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    deps = get_deps(request)
    try:
        view = await consent_receipts.read(deps, grant, receipt_id, purpose=Purpose.SHOW_TO_PERSON)
    except NotFound:
        return not_found(request, person)
    checked = consent_receipts.check(deps, view.jws, person_id=grant.person_id)
    return page(
        request,
        "receipt.html",
        person=person,
        receipt_id=view.id,
        rows=[] if checked.receipt is None else consent_receipts.describe(checked.receipt),
        valid=checked.valid,
        problem=checked.problem,
        download=f"/receipts/{view.id}.jws",
        jwks_url=f"{deps.public_url.rstrip('/')}/.well-known/jwks.json",
    )
