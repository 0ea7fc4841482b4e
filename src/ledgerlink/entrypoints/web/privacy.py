"""The person's privacy: consents, notification previews, export and erasure (`/settings`), and
"Who accessed my data" (`/privacy/accesses`, read from the audit log).

Downloads answer with `Content-Disposition: attachment`; an account that is not the person's
is a 404 exactly like one that does not exist. Downloads need the password entered within the
last 5 minutes (`auth.needs_confirmation`); erasure needs the person to type their handle and
their password, every time (ADR 0019).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.errors import DomainError, InvalidInput, NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.dependencies import current_session, forget_session, get_deps, signed_in
from ledgerlink.entrypoints.web import messaging_view as thread_view
from ledgerlink.entrypoints.web.auth import needs_confirmation, step_up
from ledgerlink.entrypoints.web.hub import get_hub
from ledgerlink.entrypoints.web.kit import not_found, page, see_other, signed_in_form
from ledgerlink.entrypoints.web.privacy_consents import consent_card
from ledgerlink.services.auth import sessions
from ledgerlink.services.linking import links
from ledgerlink.services.privacy import access_summary, audit, rights
from ledgerlink.services.privacy.export_formats import account_ofx, transactions_csv
from ledgerlink.services.receipts import address_command  # the receipt address line (issue 11)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

# The levels of `cards.DISCLOSURE_LEVELS`, as the settings page words them.
LEVELS: dict[str, tuple[str, str]] = {
    "full": ("Everything", "Posted: Blue Bottle Coffee -4.50 USD (Checking ••1234)"),
    "amount_hidden": ("Hide the amount", "Posted: Blue Bottle Coffee (Checking ••1234)"),
    "merchant_hidden": ("Hide the merchant", "Posted: -4.50 USD (Checking ••1234)"),
    "minimal": ("Say only that something happened", "You have an account update"),
}

NOTICES = {
    "revoked": ("success", "The link was revoked. Its bank access is gone and no more updates arrive."),
    "link_not_active": ("info", "That link had already ended."),
    "unlink_failed": ("error", "The bank could not be reached. Please try again."),
    "disclosure_saved": ("success", "Saved. New previews follow this setting."),
}

_TABLE_WORDS = {"messages": "messages", "threads": "conversations", "transactions": "transactions",
                "accounts": "accounts", "links": "bank links", "inbox": "bank notifications",
                "consent_receipts": "consent receipts", "sessions": "sign-in sessions"}


def _download(body: bytes | str, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
    })


async def _settings(request: Request, grant: Grant, person: Any, *, notice: str | None = None,
                    errors: dict[str, str] | None = None) -> Response:
    deps = get_deps(request)
    now, zone, locale = deps.clock.now(), thread_view.person_zone(person), thread_view.locale_for(request)
    consents = [consent_card(c, now=now, zone=zone, locale=locale)
                for c in await rights.consents(deps, grant)]
    accounts = await rights.downloadable_accounts(deps, grant)
    live = await current_session(request)
    confirmed = live is not None and sessions.recently_confirmed(deps, live)
    return page(request, "settings.html", 422 if errors else 200, person=person, consents=consents,
                levels=LEVELS, accounts=accounts, notice=NOTICES.get(notice or ""), confirmed=confirmed,
                errors=errors or {}, receipt_address_purpose=address_command.PURPOSE,  # issue 11
                receipt_address=await deps.receipt_address(grant) if deps.receipt_address else None)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, notice: str | None = None) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    return await _settings(request, *session, notice=notice)


@router.post("/settings/links/{link_id}/revoke")
async def revoke(request: Request, link_id: str) -> Response:
    form_session = await signed_in_form(request, back="/settings")
    if isinstance(form_session, Response):
        return form_session
    grant, person, _ = form_session
    try:
        await links.unlink(get_deps(request), grant, link_id=link_id)
    except NotFound:
        return not_found(request, person)
    except DomainError as exc:
        return see_other(f"/settings?notice={exc.code if exc.code in NOTICES else 'unlink_failed'}")
    return see_other("/settings?notice=revoked")


@router.post("/settings/disclosure")
async def disclosure(request: Request) -> Response:
    form_session = await signed_in_form(request, back="/settings")
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    level = form.get("level", "")
    if level not in LEVELS:
        return await _settings(request, grant, person, errors={
            "level": "Choose one of the four preview levels: nothing was changed."})
    await rights.set_disclosure(get_deps(request), grant, level)
    return see_other("/settings?notice=disclosure_saved#previews")


# --------------------------------------------------------------------------- export


@router.get("/settings/export.json")
async def export_json(request: Request) -> Response:
    if (confirm := await needs_confirmation(request)) is not None:
        return confirm
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    data = await rights.export_person(get_deps(request), session[0])
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return _download(body, "application/json", "ledgerlink-export.json")


@router.get("/settings/export.csv")
async def export_csv(request: Request) -> Response:
    if (confirm := await needs_confirmation(request)) is not None:
        return confirm
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    data = await rights.export_person(get_deps(request), session[0])
    # A byte order mark, so spreadsheet programs read the file as UTF-8.
    return _download("\ufeff" + transactions_csv(data), "text/csv; charset=utf-8",
                     "ledgerlink-transactions.csv")


@router.get("/settings/export/{account_id}.ofx")
async def export_ofx(request: Request, account_id: str) -> Response:
    if (confirm := await needs_confirmation(request)) is not None:
        return confirm
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    try:
        data = await rights.export_account(get_deps(request), grant, account_id)
    except NotFound:
        return not_found(request, person)
    return _download(account_ofx(data), "application/x-ofx", f"ledgerlink-{data['account']['last4']}.ofx")


# --------------------------------------------------------------------------- erasure


@router.get("/settings/erase", response_class=HTMLResponse)
async def erase_page(request: Request) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    return page(request, "settings_erase.html", person=session[1], error=None)


@router.post("/settings/erase", response_class=HTMLResponse)
async def erase(request: Request) -> Response:
    form_session = await signed_in_form(request, back="/settings/erase")
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    if form.get("handle", "").strip().lower() != person.handle:
        return page(request, "settings_erase.html", 422, person=person,
                    error="That is not your handle. Nothing was erased.")
    refusal = await step_up(request, form, field="password", always=True)
    if refusal is not None:
        return refusal.apply(page(request, "settings_erase.html", person=person,
                                  error=f"{refusal.message} Nothing was erased."))
    report = await rights.erase_person(get_deps(request), grant)  # every session ends with it
    get_hub(request).end_sessions(grant.person_id)
    request.session.clear()
    forget_session(request)
    erased = [(_TABLE_WORDS.get(name, name), count) for name, count in report.rows_deleted.items() if count]
    return page(request, "goodbye.html", report=report, erased=erased)


# --------------------------------------------------------------------------- who accessed my data
# Grouped per day and purpose (issue 13); a group opens its entries, paged, with their proofs.


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%d %b %Y, %H:%M:%S UTC")


def _link(path: str, params: dict[str, str], **extra: str | int) -> str:
    query = {**params, **{k: str(v) for k, v in extra.items()}}
    return f"{path}?{urlencode(query)}" if query else path


def _filters(request: Request) -> tuple[access_summary.AccessFilter, int, str | None]:
    """The filter and page asked for; on bad input the unfiltered first page and what was wrong."""
    q = request.query_params
    try:
        filt = access_summary.parse_filter(purpose=q.get("purpose", ""), who=q.get("who", ""),
                                           start=q.get("from", ""), end=q.get("to", ""))
        return filt, access_summary.parse_page(q.get("page", "")), None
    except InvalidInput as exc:
        return access_summary.AccessFilter(), 1, str(exc)


def _choices() -> dict[str, object]:
    return {
        "purpose_choices": [(p.value, words) for p, words in access_summary.PURPOSE_PLAIN.items()],
        "who_choices": list(access_summary.WHO.items()),
    }


@router.get("/privacy/accesses", response_class=HTMLResponse, include_in_schema=False)
async def accesses_page(request: Request) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    deps = get_deps(request)
    filt, number, error = _filters(request)
    grouped = await access_summary.grouped(deps, grant, filt, page=number)
    head = await audit.latest_tree_head(deps)
    params = filt.params()
    return page(
        request, "accesses.html", 422 if error else 200,
        person=person, view=grouped, error=error, params=params, filtered=bool(params),
        label=lambda d: access_summary.day_label(d, grouped.today),
        drill=lambda g: _link("/privacy/accesses/entries", params, purpose=g.purpose,
                              **{"from": g.day.isoformat(), "to": g.day.isoformat()}),
        page_link=lambda n: _link("/privacy/accesses", params, page=n),
        head=head, head_time=None if head is None else _when(head.timestamp), **_choices(),
    )


@router.get("/privacy/accesses/entries", response_class=HTMLResponse, include_in_schema=False)
async def access_entries_page(request: Request) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    deps = get_deps(request)
    filt, number, error = _filters(request)
    found = await access_summary.entries(deps, grant, filt, page=number)
    head = await audit.latest_tree_head(deps)
    params = filt.params()
    today = deps.clock.now().date()
    return page(
        request, "access_entries.html", 422 if error else 200,
        person=person, view=found, error=error, params=params, when=_when,
        purpose_words=dict(access_summary.PURPOSE_PLAIN.items()),
        who_words=access_summary.WHO_BY,
        day=(None if filt.start is None or filt.start != filt.end
             else access_summary.day_label(filt.start, today)),
        back=_link("/privacy/accesses", {k: v for k, v in params.items() if k == "who"}),
        page_link=lambda n: _link("/privacy/accesses/entries", params, page=n),
        head=head, head_time=None if head is None else _when(head.timestamp),
    )
