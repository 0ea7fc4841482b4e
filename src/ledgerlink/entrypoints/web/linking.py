"""Linking a bank from the web messenger: choose a bank, the consent round trip and its
callback, unlinking, and renewing a link from the expiry warning.

How a link attempt ended comes back to the messenger as `?notice=<code>` (`messaging.NOTICES`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.errors import DomainError, NotFound
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.web import messaging_view as thread_view
from ledgerlink.entrypoints.web.kit import csrf_ok, not_found, page, see_other, signed_in_form
from ledgerlink.entrypoints.web.messaging import NOTICES
from ledgerlink.entrypoints.web.privacy_consents import renewal
from ledgerlink.entrypoints.web.provider_links import SCOPE_LABELS
from ledgerlink.services.linking import links
from ledgerlink.services.linking.provider_ports import provider_of
from ledgerlink.services.messaging import messenger
from ledgerlink.services.privacy import rights

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


async def _choices(request: Request) -> list[dict[str, Any]]:
    """The banks and providers to choose from; a provider's simulator is labelled so."""
    deps = get_deps(request)
    out = []
    for p in await messenger.bank_partners(deps):
        try:
            provider = provider_of(deps.banks.connector(p.id))
        except KeyError:  # a provider registered by an earlier start, not configured now
            continue
        out.append({"id": p.id, "slug": p.slug, "name": p.name.removesuffix(" (simulator)"),
                    "provider": provider is not None, "simulator": p.name.endswith("(simulator)")})
    return sorted(out, key=lambda c: c["provider"])  # banks first, then the providers (stable)


@router.get("/link", response_class=HTMLResponse)
async def linkpage(request: Request, bank: str | None = None) -> Response:
    """`bank`: a slug chosen in chat ("link a bank"): that one choice (still a POST to start)."""
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    _, person = session
    choices = await _choices(request)
    chosen = [c for c in choices if c["slug"] == bank]
    return page(request, "link.html", person=person, partners=chosen or choices, error=None,
                scopes=_scopes())


@router.post("/link", response_class=HTMLResponse)
async def link_start(request: Request) -> Response:
    form_session = await signed_in_form(request, back="/link")
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    deps = get_deps(request)
    try:
        # The page lists the scopes (`scopes_shown`); a form without them asks for every scope.
        scopes = (links.chosen_scopes([v for k, v in form.items() if k.startswith("scope_")])
                  if form.get("scopes_shown") else links.DEFAULT_SCOPES)
        url = await links.start_link(deps, grant, partner_id=form.get("partner_id", ""), scopes=scopes)
    except DomainError as exc:
        error = ("Please choose one of the banks below." if exc.code in ("bank_not_found", "not_found")
                 else "Please share at least your balances or your transactions."
                 if exc.code == "scopes_required"
                 else "That bank cannot be reached right now. Please try again in a moment.")
        return page(request, "link.html", 400 if exc.status < 500 else 502, person=person,
                     partners=await _choices(request), error=error, scopes=_scopes(form))
    return see_other(url)


def _scopes(form: Any | None = None) -> list[dict[str, Any]]:
    """The scope checkboxes: all ticked on a fresh page, the person's ticks after an error."""
    ticked = None if form is None else {v for k, v in form.items() if k.startswith("scope_")}
    return [{"value": s.value, "label": SCOPE_LABELS[s], "checked": ticked is None or s.value in ticked}
            for s in links.CHOOSABLE_SCOPES]


@router.get("/link/callback")
async def link_callback(request: Request, state: str | None = None, code: str | None = None,
                        error: str | None = None, error_description: str | None = None) -> Response:
    session = await signed_in(request)
    if session is None:
        # The consent round trip ended in a browser without our session: nothing to finish.
        return see_other("/login")
    grant, _ = session
    try:
        thread_id = await links.complete_link(get_deps(request), grant, state=state, code=code,
                                                error=error, error_description=error_description)
    except links.LinkAlreadyComplete as exc:  # a replayed or second callback: show where it lives
        return see_other(f"/threads/{exc.thread_id}?notice={exc.code}" if exc.thread_id
                         else f"/?notice={exc.code}")
    except DomainError as exc:
        return see_other(f"/?notice={exc.code if exc.code in NOTICES else 'link_failed'}")
    return see_other(f"/threads/{thread_id}")


@router.post("/links/{link_id}/unlink")
async def unlink(request: Request, link_id: str) -> Response:
    form_session = await signed_in_form(request, back="/")
    if isinstance(form_session, Response):
        return form_session
    grant, person, _ = form_session
    deps = get_deps(request)
    thread = next((t for t in await messenger.list_threads(deps, grant) if t.link_id == link_id), None)
    if thread is None:
        return not_found(request, person)
    try:
        await links.unlink(deps, grant, link_id=link_id)
    except NotFound:
        return not_found(request, person)
    except DomainError as exc:
        code = exc.code if exc.code in NOTICES else "unlink_failed"
        return see_other(f"/threads/{thread.id}?notice={code}")
    return see_other(f"/threads/{thread.id}")


async def _own_bank_thread(request: Request, grant: Any, link_id: str) -> Any:
    return next((t for t in await messenger.list_threads(get_deps(request), grant)
                 if t.link_id == link_id), None)


@router.get("/links/{link_id}/renew", response_class=HTMLResponse)
async def renew_page(request: Request, link_id: str) -> Response:
    """Where an older card's link or a bookmark lands: changes nothing, shows the one button
    that renews (a CSRF-checked POST)."""
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    thread = await _own_bank_thread(request, grant, link_id)
    if thread is None:
        return not_found(request, person)
    return await _renew_page(request, grant, person, link_id, thread)


async def _renew_page(request: Request, grant: Any, person: Any, link_id: str, thread: Any,
                      status_code: int = 200) -> Response:
    """What renewing keeps, in words (issue 13): bank, accounts, data, purposes, never-used-for,
    valid until now and after renewing."""
    deps = get_deps(request)
    view = next((c for c in await rights.consents(deps, grant) if c.link_id == link_id), None)
    if view is None:
        return not_found(request, person)
    words = renewal(view, now=deps.clock.now(), days=deps.link_duration_days,
                    zone=thread_view.person_zone(person), locale=thread_view.locale_for(request))
    return page(request, "renew.html", status_code, person=person, link_id=link_id, bank=view.bank,
                thread_id=thread.id, days=deps.link_duration_days, r=words, c=words.card)


@router.post("/links/{link_id}/renew")
async def renew(request: Request, link_id: str) -> Response:
    """One tap on the expiry warning's button (a form with the page's CSRF token): straight to
    the bank's consent page. Completing it renews this link (same thread, accounts and
    history); abandoning it changes nothing. Without a valid token nothing starts: the
    confirmation page is shown instead."""
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    ok, _ = await csrf_ok(request)
    if not ok:
        thread = await _own_bank_thread(request, grant, link_id)
        if thread is None:
            return not_found(request, person)
        return await _renew_page(request, grant, person, link_id, thread, 400)
    try:
        url = await links.start_link(get_deps(request), grant, partner_id="", renews=link_id)
    except NotFound:
        return not_found(request, person)
    except DomainError as exc:
        return see_other(f"/?notice={exc.code if exc.code in NOTICES else 'link_failed'}")
    return see_other(url)
