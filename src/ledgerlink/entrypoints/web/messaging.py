"""The built-in web messenger: the thread view, the composer, read marks.

HTML routes catch domain errors themselves and answer with a page or a banner, never a
stack trace. Every form carries the session's CSRF token. Signing in and up is `auth.py`,
linking a bank `linking.py`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.chat import ThreadKind
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.dependencies import client_address, get_deps, signed_in
from ledgerlink.entrypoints.web import messaging_view as thread_view
from ledgerlink.entrypoints.web.kit import fetch_action, not_found, page, see_other
from ledgerlink.services.ingest import link_summary
from ledgerlink.services.insights import transactions
from ledgerlink.services.kernel import throttle
from ledgerlink.services.linking.provider_ports import PsuPresence
from ledgerlink.services.messaging import messenger, read_state
from ledgerlink.services.messaging.messenger import ThreadSummary
from ledgerlink.services.questions import commands, refresh_command

__all__ = ["GENERIC_NOTICE", "NOTICES", "router"]

router = APIRouter(include_in_schema=False)

# Banners for `?notice=<code>` (how a bank link ended, see `linking.py`): only known codes get
# specific words; the query string is never echoed back into the page.
NOTICES: dict[str, tuple[str, str]] = {
    "consent_denied": ("info", "You declined the consent at your bank, so nothing was linked."),
    "bank_refused": ("error", "Your bank refused the link request. Nothing was linked."),
    "link_state_unknown": ("error", "That bank link could not be completed. Nothing was linked."),
    "link_state_used": ("info", "That bank link was already completed or cancelled."),
    "link_already_complete": ("info", "This bank link is already complete: its thread is below."),
    "link_in_progress": ("info", "This bank link is still being completed; it appears here in a moment."),
    "link_flow_expired": ("error", "The bank consent took too long and expired. Please start again."),
    "missing_code": ("error", "The bank did not complete the link. Nothing was linked."),
    "no_accounts": ("info", "No accounts were shared, so nothing was linked."),
    "link_not_active": ("info", "This bank is already unlinked."),
    "unlink_failed": ("error", "The bank could not be unlinked just now. Please try again."),
    "link_not_renewable": ("info", "This link was ended; link the bank again to continue."),
}
# Suggested questions under the composer (issue 13): one tap fills the composer.
_CHIPS = ("balance", "last 5 transactions", "spending last month", "recurring charges",
          "who accessed my data", "help")
GENERIC_NOTICE = ("error", "The bank link did not complete. The message below explains why.")


# --------------------------------------------------------------------------- helpers


def _ordered(threads: list[ThreadSummary]) -> list[ThreadSummary]:
    return sorted(threads, key=lambda t: (t.kind is not ThreadKind.SYSTEM, not (t.active or t.from_files)))


# --------------------------------------------------------------------------- the messenger


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, notice: str | None = None) -> Response:
    return await _messenger(request, None, notice, home=not notice)


@router.get("/threads/{thread_id}", response_class=HTMLResponse)
async def threadpage(request: Request, thread_id: str, notice: str | None = None,
                     peek: bool = False) -> Response:
    """Opening a thread marks it read up to what the page shows; `peek=1` (the page's own
    refresh of the thread list, maybe in a hidden tab) does not."""
    return await _messenger(request, thread_id, notice, mark=not peek)


async def _messenger(request: Request, thread_id: str | None, notice: str | None, *,
                     home: bool = False, mark: bool = False) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    deps = get_deps(request)
    # Threads first, then messages: the page's revs are then never ahead of what it shows,
    # and a resume from them may re-send a message but never skip one.
    threads = _ordered(await messenger.list_threads(deps, grant))
    if thread_id is None:
        if not threads:
            return not_found(request, person)
        thread_id = threads[0].id
    current = next((t for t in threads if t.id == thread_id), None)
    if current is None:
        return not_found(request, person)
    try:
        views = await messenger.thread_messages(deps, grant, thread_id)
    except NotFound:
        return not_found(request, person)
    banner = None
    if notice:
        banner = NOTICES.get(notice, GENERIC_NOTICE)
    if mark and views:
        await read_state.mark_read(deps, grant, thread_id, max(v.seq for v in views))
    locale = thread_view.locale_for(request)
    now = deps.clock.now()
    zone = thread_view.person_zone(person)
    said = await transactions.corrections(deps, grant)
    if said:  # older cards follow the person's word about their merchant
        views = thread_view.refiled(views, {
            str(v.body.get("transaction_id")): c for v in views if v.kind.value == "transaction"
            and (c := transactions.corrected_category(v.body, said)) is not None})
    view = thread_view.build(views, now=now, zone=zone, locale=locale)
    header = None
    if current.kind is ThreadKind.BANK and current.link_id:
        accounts = await link_summary.header_accounts(deps, grant, link_id=current.link_id)
        worker = getattr(request.app.state.container, "refresh_worker", None)
        fresh = None if worker is None else await worker.freshness(link_id=current.link_id, locale=locale)
        header = {"accounts": thread_view.header_rows(accounts, locale=locale),
                  "freshness": fresh or thread_view.freshness_text(accounts, now=now, locale=locale)}
    return page(request, "messenger.html", person=person, threads=threads, current=current,
                 thread=view, header=header, today=now.astimezone(zone).date().isoformat(), zone=zone.key,
                 locale=locale.replace("_", "-"), max_text=commands.MAX_TEXT, chips=_CHIPS,
                 notice=banner, home=home, reads=await read_state.read_marks(deps, grant))


@router.post("/threads/{thread_id}/messages")
async def send_message(request: Request, thread_id: str) -> Response:
    """The composer: the person's text goes into the thread and is answered there. The
    browser sends it with fetch (the answer arrives over the live connection); without
    JavaScript the form posts and the page reloads. Throttled per person and per address
    (429 with Retry-After: a problem document for fetch, a page for the plain form)."""
    async def say(grant: Grant, form: dict[str, str]) -> None:
        deps = get_deps(request)
        await throttle.check(deps.limiter, throttle.COMPOSE_PERSON, grant.person_id)
        await throttle.check(deps.limiter, throttle.COMPOSE_ADDRESS, client_address(request))
        # present while this message is answered: "refresh" is an attended one (issue 10)
        present = refresh_command.PRESENT_PSU.set(PsuPresence(
            ip_address=client_address(request), user_agent=request.headers.get("user-agent", "")[:200]))
        try:
            await commands.handle_text(deps, grant, thread_id, form.get("text", ""))
        finally:
            refresh_command.PRESENT_PSU.reset(present)

    return await fetch_action(request, back=f"/threads/{thread_id}", action=say)


@router.post("/threads/{thread_id}/read")
async def mark_read(request: Request, thread_id: str) -> Response:
    """The open thread was seen up to `seq` (form field; the page uses it when its live
    connection is down). Never moves back. JSON: `{thread_id, last_read_seq, unread}`."""
    async def mark(grant: Grant, form: dict[str, str]) -> dict[str, Any]:
        done = await read_state.mark_read(get_deps(request), grant, thread_id, form.get("seq", ""))
        return {"thread_id": done.thread_id, "last_read_seq": done.last_read_seq, "unread": done.unread}

    return await fetch_action(request, back=f"/threads/{thread_id}", action=mark)
