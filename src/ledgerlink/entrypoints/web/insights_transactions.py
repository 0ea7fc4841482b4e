"""A transaction's detail and the search across threads (issue 13).

* `GET /transactions/{id}`: what a card opens: merchant, category and why (changeable in
  place), account and bank, the pending -> posted history, a note, the receipt when one is
  attached (`_receipt_section.html`, written by the receipts work, included when present).
* `POST /transactions/{id}/category`, `POST /transactions/{id}/note`: the two changes.
* `GET /search`: merchant, amount range, category, date range, account; every bad field is
  answered under that field, all at once (422), and nothing is searched.

Person-only, through `access` (purpose `show_to_person`, audited); another person's
transaction is the same "not found" page as one that does not exist. Ids only in URLs.
"""

from __future__ import annotations

from typing import Any

from babel.dates import format_datetime
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.mcc import Category
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.web import messaging_view as thread_view
from ledgerlink.entrypoints.web.kit import not_found, page, see_other, signed_in_form
from ledgerlink.services.insights import search as searching
from ledgerlink.services.insights import transactions
from ledgerlink.services.messaging import messenger

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


async def _back(request: Request, grant: Any, thread_id: str | None) -> str:
    """Where the back link goes: the thread the card was opened from (only if it is the person's)."""
    if thread_id:
        threads = await messenger.list_threads(get_deps(request), grant)
        if any(t.id == thread_id for t in threads):
            return f"/threads/{thread_id}"
    return "/"


async def _detail_page(request: Request, grant: Any, person: Any, txn_id: str, *, status: int = 200,
                       errors: dict[str, str] | None = None, typed: dict[str, str] | None = None,
                       saved: bool = False) -> Response:
    try:
        detail = await transactions.detail(get_deps(request), grant, txn_id)
    except NotFound:
        return not_found(request, person)
    thread_id = request.query_params.get("thread") or (typed or {}).get("thread")
    back = await _back(request, grant, thread_id)
    said = _saved_text(request, detail.merchant, detail.category.value) if saved else None
    zone = thread_view.person_zone(person)
    steps = [(s.label, s.when.isoformat() if s.when else "",
              format_datetime(s.when, "MMM d, y, HH:mm", tzinfo=zone, locale="en_US") if s.when else "")
             for s in detail.steps]
    return page(request, "transaction.html", status, person=person, t=detail, steps=steps,
                choices=[c.value for c in transactions.CHOICES], errors=errors or {}, typed=typed or {},
                saved=said, back=back,
                thread=thread_id if back != "/" else "", max_note=transactions.MAX_NOTE)


def _saved_text(request: Request, merchant: str, category: str) -> str | None:
    """The confirmation after a redirect: only known words and an integer come from the URL."""
    q = request.query_params
    if q.get("saved") == "note":
        return "Note saved."
    if q.get("saved") == "category" and (q.get("moved") or "").isdigit():
        moved = int(q["moved"])
        return (f"{merchant} is {category} now: {moved:,} past "
                f"{'purchase' if moved == 1 else 'purchases'} moved, and new ones follow.")
    return None


@router.get("/transactions/{txn_id}", response_class=HTMLResponse)
async def transaction_page(request: Request, txn_id: str) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    return await _detail_page(request, grant, person, txn_id, saved=True)


def _after(txn_id: str, form: dict[str, str], query: str) -> str:
    thread = form.get("thread", "")
    suffix = f"&thread={thread}" if thread and thread.isascii() and thread.replace("_", "").isalnum() else ""
    return f"/transactions/{txn_id}?{query}{suffix}"


@router.post("/transactions/{txn_id}/category")
async def change_category(request: Request, txn_id: str) -> Response:
    """File the merchant under another category: past and future purchases there follow."""
    form_session = await signed_in_form(request, back=f"/transactions/{txn_id}")
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    try:
        _, moved = await transactions.set_category(get_deps(request), grant, txn_id, form.get("category", ""))
    except NotFound:
        return not_found(request, person)
    except InvalidInput as exc:
        return await _detail_page(request, grant, person, txn_id, status=422,
                                  errors={"category": exc.detail}, typed=form)
    return see_other(_after(txn_id, form, f"saved=category&moved={moved}"))


@router.post("/transactions/{txn_id}/note")
async def change_note(request: Request, txn_id: str) -> Response:
    form_session = await signed_in_form(request, back=f"/transactions/{txn_id}")
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    try:
        await transactions.set_note(get_deps(request), grant, txn_id, form.get("note", ""))
    except NotFound:
        return not_found(request, person)
    except InvalidInput as exc:
        return await _detail_page(request, grant, person, txn_id, status=422,
                                  errors={"note": exc.detail}, typed=form)
    return see_other(_after(txn_id, form, "saved=note"))


@router.get("/search", response_class=HTMLResponse)
async def search_page(request: Request) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    deps = get_deps(request)
    typed = {k: request.query_params.get(k, "") for k in searching.FIELDS}
    if not typed["merchant"] and not typed["category"]:  # `q`: a plain search box or a link
        typed.update(searching.from_words(request.query_params.get("q", "")))
    asked = any(typed.values())
    try:
        query = searching.parse(typed, today=deps.clock.now().date())
        found = await searching.search(deps, grant, query)
    except searching.BadQuery as exc:
        found = searching.Results(query=searching.parse({}, today=deps.clock.now().date()),
                                  accounts=await searching.choices(deps, grant))
        return page(request, "search.html", 422, person=person, found=found, asked=asked, typed=typed,
                    errors=exc.fields, categories=[c.value for c in Category], listed=False)
    shown = {**typed, "from": typed["from"] or query.start.isoformat(),
             "to": typed["to"] or query.end.isoformat()}
    return page(request, "search.html", person=person, found=found, asked=asked, typed=shown, errors={},
                categories=[c.value for c in Category], listed=True)
