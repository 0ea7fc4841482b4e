"""Linking a shop from the web messenger (issue 11, ADR 0031): choose a shop, the OAuth round
trip with PKCE and its callback, the person's shop links with revoke and renew, and each
link's signed consent receipt (`services/receipts/merchant_link.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from ledgerlink.domain.errors import DomainError, NotFound
from ledgerlink.entrypoints.dependencies import signed_in
from ledgerlink.entrypoints.web.kit import not_found, page, see_other, signed_in_form

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

# What a failed link, revoke or renewal says (by code); never the query string echoed back.
MESSAGES = {
    "shop_link_denied": "You did not approve the link at the shop, so nothing was linked.",
    "shop_link_timed_out": "The shop link took too long and expired. Please start again.",
    "shop_link_refused": "The shop refused the link request. Nothing was linked.",
    "unknown_link_state": "That shop link could not be completed. Nothing was linked.",
    "link_already_complete": "This shop link is already complete.",
    "link_state_used": "That shop link request already ended. Nothing was linked; please start again.",
    "shop_account_linked_elsewhere": "That shop account is linked by someone else. Nothing was linked.",
    "unknown_partner": "Please choose one of the shops below.",
    "link_not_active": "This shop link has already ended.",
    "link_not_renewable": "This shop link ended; link the shop again to continue.",
}
SCOPE_WORDS = {
    "orders": "Your orders: items, totals and order numbers",
    "shipments": "Your parcels: carrier, tracking number and status",
}


def _links(request: Request) -> Any:
    return request.app.state.container.merchant_links


async def _page(
    request: Request, grant: Any, person: Any, *, error: str | None = None, done: str | None = None
) -> HTMLResponse:
    links = _links(request)
    shops = [] if links is None else links.shops()
    consents = [] if links is None else await links.consents(grant)
    return page(
        request,
        "link_shop.html",
        400 if error else 200,
        person=person,
        shops=shops,
        consents=consents,
        scopes=list(SCOPE_WORDS.values()),
        error=error,
        done=done,
    )


@router.get("/link/shop", response_class=HTMLResponse)
async def shop_page(request: Request) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    return await _page(request, grant, person)


@router.post("/link/shop", response_class=HTMLResponse)
async def shop_start(request: Request) -> Response:
    form_session = await signed_in_form(request, back="/link/shop")
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    if _links(request) is None:
        return await _page(request, grant, person, error=MESSAGES["unknown_partner"])
    try:
        url = await _links(request).start(
            grant, slug=form.get("shop", "")[:60], renews=form.get("renews") or None
        )
    except DomainError as exc:
        return await _page(
            request, grant, person, error=MESSAGES.get(exc.code, MESSAGES["shop_link_refused"])
        )
    return see_other(url)


@router.get("/link/shop/callback")
async def shop_callback(
    request: Request, state: str | None = None, code: str | None = None, error: str | None = None
) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    if _links(request) is None:
        return not_found(request, person)
    try:
        await _links(request).complete(grant, state=state or "", code=code, error=error)
    except DomainError as exc:
        return await _page(
            request, grant, person, error=MESSAGES.get(exc.code, MESSAGES["shop_link_refused"])
        )
    return see_other("/link/shop?linked=1")


@router.post("/link/shop/{consent_id}/revoke", response_class=HTMLResponse)
async def shop_revoke(request: Request, consent_id: str) -> Response:
    form_session = await signed_in_form(request, back="/link/shop")
    if isinstance(form_session, Response):
        return form_session
    grant, person, _ = form_session
    try:
        await _links(request).revoke(grant, consent_id)
    except NotFound:
        return not_found(request, person)
    except DomainError as exc:
        return await _page(request, grant, person, error=MESSAGES.get(exc.code, exc.detail))
    return await _page(request, grant, person, done="The shop is unlinked.")


@router.get("/link/shop/{consent_id}/receipt.jws")
async def shop_receipt(request: Request, consent_id: str) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    try:
        token = await _links(request).receipt(grant, consent_id)
    except NotFound:
        return not_found(request, person)
    return PlainTextResponse(
        token,
        media_type="application/jose",
        headers={"content-disposition": f'attachment; filename="{consent_id[:40]}.jws"'},
    )
