"""Linking through a bank-data provider from the web messenger (docs/providers.md): the provider's
page (SimpleFIN: paste a setup token; Enable Banking, GoCardless: choose country and bank), the
scopes the person shares, the redirect to the bank and the provider's callback.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ledgerlink.domain.banking import Scope
from ledgerlink.domain.errors import DomainError, NotFound, TooManyRequests
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.web.kit import not_found, page, see_other, signed_in_form
from ledgerlink.entrypoints.web.messaging import NOTICES
from ledgerlink.entrypoints.web.messaging_view import locale_for
from ledgerlink.services.linking import links, provider_links
from ledgerlink.services.linking.provider_ports import Institution, LinkKind, PsuPresence

__all__ = ["SCOPE_LABELS", "router"]

router = APIRouter(include_in_schema=False)

# PSD2 countries the two redirect providers serve (ISO 3166-1 alpha-2); the first is the default.
COUNTRIES = ("FI", "NL", "DE", "FR", "AT", "BE", "DK", "EE", "ES", "GB", "IE", "IT", "LT", "LV", "NO",
             "PL", "PT", "SE")
_DEFAULT_COUNTRY = {"enablebanking": "FI", "gocardless": "NL"}
SCOPE_LABELS = {Scope.BALANCES: "Balances", Scope.TRANSACTIONS: "Transactions",
                 Scope.ALERTS: "Alerts in this thread"}


async def _page(request: Request, person: Any, slug: str, *, renews: str | None, country: str | None,
                error: str | None = None, status_code: int = 200, scopes: str | None = None) -> Response:
    """`scopes`: the comma-separated scopes ticked on the link page (all when absent)."""
    deps = get_deps(request)
    known = {s.value for s in provider_links.CHOOSABLE_SCOPES}
    ticked = {v for v in (scopes or "").split(",") if v in known} or known
    partner = await _partner(request, slug)
    partner_rec, provider = await provider_links.provider_for(deps, partner)
    country = (country or _DEFAULT_COUNTRY.get(slug, "FI")).upper()
    if country not in COUNTRIES:
        country = COUNTRIES[0]
    banks: list[Institution] = []
    setup_url = None
    if provider.link_kind is LinkKind.SETUP_TOKEN:
        setup_url = await provider_links.setup_token_page(deps, partner_id=partner)
    else:
        try:
            banks = await provider.institutions(country=country)
        except DomainError:
            error = error or "The list of banks cannot be read right now. Please try again in a moment."
    return page(request, "link_provider.html", status_code, person=person, slug=slug,
                provider_name=partner_rec.name.removesuffix(" (simulator)"),
                simulator=partner_rec.name.endswith("(simulator)"), setup_url=setup_url, banks=banks,
                countries=COUNTRIES, country=country, renews=renews, error=error,
                scopes_param=",".join(sorted(ticked)),
                scopes=[(s.value, SCOPE_LABELS[s], s.value in ticked)
                        for s in provider_links.CHOOSABLE_SCOPES])


async def _partner(request: Request, slug: str) -> str:
    async with get_deps(request).uow(readonly=True) as uow:
        found = await uow.partners.by_slug(slug)
    if found is None:
        raise NotFound("provider not found", code="bank_not_found")
    return found.id


@router.get("/link/provider/{slug}", response_class=HTMLResponse)
async def provider_page(request: Request, slug: str, renews: str | None = None,
                        country: str | None = None, scopes: str | None = None) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    _, person = session
    try:
        return await _page(request, person, slug, renews=renews, country=country, scopes=scopes)
    except NotFound:
        return not_found(request, person)


@router.post("/link/provider/{slug}", response_class=HTMLResponse)
async def provider_start(request: Request, slug: str) -> Response:
    form_session = await signed_in_form(request, back=f"/link/provider/{slug}")
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    deps = get_deps(request)
    renews = form.get("renews") or None
    try:
        partner = await _partner(request, slug)
        scopes = provider_links.chosen_scopes([v for k, v in form.items() if k.startswith("scope_")])
        if "setup_token" in form:
            thread_id = await provider_links.link_setup_token(
                deps, grant, partner_id=partner, token=form["setup_token"], scopes=scopes, renews=renews)
            return see_other(f"/threads/{thread_id}")
        url = await provider_links.start(deps, grant, partner_id=partner,
                                         institution_id=form.get("institution_id") or None,
                                         scopes=scopes, renews=renews)
    except NotFound:
        return not_found(request, person)
    except DomainError as exc:
        status = 400 if exc.status < 500 else 502
        ticked = ",".join(v for k, v in form.items() if k.startswith("scope_"))
        return await _page(request, person, slug, renews=renews, country=form.get("country"),
                           error=exc.detail, status_code=status, scopes=ticked or None)
    return see_other(url)


@router.get("/link/{slug}/callback")
async def provider_callback(request: Request, slug: str) -> Response:
    """Enable Banking (?state&code, or ?state&error) and GoCardless (?ref) send the person here."""
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, _ = session
    answer = {k: v[:512] for k, v in request.query_params.items()}
    try:
        thread_id = await provider_links.complete(get_deps(request), grant, answer=answer)
    except links.LinkAlreadyComplete as exc:
        return see_other(f"/threads/{exc.thread_id}?notice={exc.code}" if exc.thread_id
                         else f"/?notice={exc.code}")
    except DomainError as exc:
        return see_other(f"/?notice={exc.code if exc.code in NOTICES else 'link_failed'}")
    return see_other(f"/threads/{thread_id}")


@router.post("/links/{link_id}/refresh")
async def refresh(request: Request, link_id: str) -> Response:
    """An attended refresh (the person is here and asked): within the provider's rules, now."""
    form_session = await signed_in_form(request, back="/")
    if isinstance(form_session, Response):
        return form_session
    grant, person, _ = form_session
    worker = request.app.state.container.refresh_worker
    psu = PsuPresence(ip_address=request.client.host if request.client else "",
                      user_agent=request.headers.get("user-agent", "")[:200])
    back = request.headers.get("referer") or "/"
    back = back if back.startswith(str(request.base_url)) else "/"
    try:
        await worker.refresh_link(person_id=grant.person_id, link_id=link_id, psu=psu)
    except NotFound:
        return not_found(request, person)
    except TooManyRequests as exc:
        return JSONResponse({"code": exc.code, "detail": exc.detail, "retry_after": exc.retry_after},
                            status_code=429, headers={"retry-after": str(exc.retry_after)})
    except DomainError as exc:
        return JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=exc.status)
    return see_other(back)


@router.get("/links/{link_id}/freshness")
async def freshness(request: Request, link_id: str) -> Response:
    """The thread header's freshness line for a provider link (JSON: {"text": ...})."""
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    async with get_deps(request).uow(readonly=True) as uow:
        link = await uow.links.get(link_id)
    if link is None or link.person_id != grant.person_id:
        return not_found(request, person)
    text = await request.app.state.container.refresh_worker.freshness(link_id=link_id,
                                                                      locale=locale_for(request))
    return JSONResponse({"text": text})
