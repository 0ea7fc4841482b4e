"""Importing a statement file from the messenger (issue 10, docs/imports.md "In the messenger").

`GET /imports/new` is the upload page (the "Import a statement" button; a file dragged into a
thread is posted to the same place by imports.js). `POST /imports` takes the file; a CSV goes
to its preview first (the detected mapping, which the person corrects), any file may then ask
which date order its dates are in and which account it is about. Only the last step stores
anything, whole or not at all, and the thread gets one summary card. Errors name the format,
the line or element and what was wrong; they are pages (or JSON for imports.js), never a 500.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ledgerlink.adapters.statements import detect_format
from ledgerlink.domain.errors import DomainError
from ledgerlink.domain.statements import DateOrder, ReadOptions, StatementFormat
from ledgerlink.entrypoints.dependencies import signed_in
from ledgerlink.entrypoints.web import imports_mapping as mapping_form
from ledgerlink.entrypoints.web.imports_upload import (
    MAX_UPLOAD_BYTES,
    Staged,
    UploadRefused,
    read_upload,
    staging_of,
)
from ledgerlink.entrypoints.web.kit import CSRF_KEY, expired_form, page, same_origin, see_other, wants_json
from ledgerlink.services.imports.importer import StatementImporter
from ledgerlink.services.imports.results import CREATE, ImportResult, ImportStatus, Needs, Proposal

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _importer(request: Request) -> StatementImporter:
    importer = request.app.state.container.imports
    assert isinstance(importer, StatementImporter)
    return importer


def _now(request: Request) -> Any:
    return request.app.state.deps.clock.now()


async def _upload_page(
    request: Request, grant: Any, person: Any, *, status: int = 200, error: str | None = None,
    thread_id: str | None = None, code: str | None = None,
) -> Response:
    if wants_json(request) and error is not None:
        return JSONResponse({"code": code or "import_failed", "detail": error}, status_code=status)
    accounts = await _importer(request).accounts(grant)
    return page(request, "import.html", status, person=person, accounts=accounts, error=error,
                thread_id=thread_id, max_mb=MAX_UPLOAD_BYTES // (1024 * 1024))


@router.get("/imports/new", response_class=HTMLResponse)
async def upload_page(request: Request, thread: str | None = None) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    return await _upload_page(request, grant, person, thread_id=_thread_hint(thread))


def _thread_hint(value: str | None) -> str | None:
    """The thread the person came from (for "back" only): an id, or nothing."""
    return value if value and len(value) <= 64 and value.replace("_", "").isalnum() else None


def _go(request: Request, url: str) -> Response:
    """Where the next step is: a redirect for the form, `{"location"}` for imports.js."""
    return JSONResponse({"location": url}) if wants_json(request) else see_other(url)


@router.post("/imports", response_class=HTMLResponse)
async def upload(request: Request) -> Response:
    session = await signed_in(request)
    if session is None:
        return JSONResponse({"code": "unauthorized"}, status_code=401) if wants_json(request) \
            else see_other("/login")
    grant, person = session
    try:
        form = await read_upload(request)
    except UploadRefused as exc:
        return await _upload_page(request, grant, person, status=exc.status, error=exc.detail, code=exc.code)
    if not _csrf_ok(request, form.fields.get(CSRF_KEY, "")):
        if wants_json(request):
            return JSONResponse({"code": "csrf_failed", "detail": "reload the page"}, status_code=400)
        return expired_form(request, "/imports/new")
    thread_id = _thread_hint(form.fields.get("thread"))
    if form.data is None:
        return await _upload_page(request, grant, person, status=400, thread_id=thread_id, code="no_file",
                                  error="Choose a statement file to import.")
    filename = form.filename or "statement"
    try:
        fmt = detect_format(form.data, filename)
    except DomainError as exc:
        return await _upload_page(request, grant, person, status=400, thread_id=thread_id, code=exc.code,
                                  error=f"{filename}: {exc.detail}")
    staged = staging_of(request).add(
        person_id=grant.person_id, data=form.data, filename=filename, now=_now(request), thread_id=thread_id,
        account_id=form.fields.get("account") or None, currency=_currency(form.fields.get("currency")),
        csv=fmt is StatementFormat.CSV,
    )  # fmt: skip
    if staged.csv:
        if staged.account_id is not None:  # the account's saved mapping: one step when it reads the file
            try:
                preview, saved = await _importer(request).csv_preview(
                    grant, staged.data, options=ReadOptions(currency=staged.currency),
                    account_id=staged.account_id)
            except DomainError:
                saved = False
            if saved and not preview.problems:
                staged.mapping, staged.mapping_done = preview.mapping, True
                return await _advance(request, grant, person, staged)
        return _go(request, f"/imports/{staged.id}")
    return await _advance(request, grant, person, staged)


def _csrf_ok(request: Request, offered: str) -> bool:
    """kit.csrf_ok's check, for a body already read (the upload is not parsed by Starlette)."""
    expected = request.session.get(CSRF_KEY)
    return (isinstance(expected, str) and hmac.compare_digest(expected.encode(), offered.encode())
            and same_origin(request))


def _currency(value: str | None) -> str | None:
    code = (value or "").strip().upper()
    return code if len(code) == 3 and code.isalpha() else None


def _options(staged: Staged) -> ReadOptions:
    return ReadOptions(format=StatementFormat.CSV if staged.csv else None, date_order=staged.date_order,
                       csv_mapping=staged.mapping, currency=staged.currency)


async def _advance(request: Request, grant: Any, person: Any, staged: Staged) -> Response:
    """Run the import with everything said so far: the thread when it is done, the next
    question when one is left, the upload page with the precise error when the file fails."""
    result = await _importer(request).import_file(
        grant, staged.data, filename=staged.filename, options=_options(staged), account_id=staged.account_id,
        choices=staged.choices or None,
    )  # fmt: skip
    staging = staging_of(request)
    if result.status is ImportStatus.IMPORTED:
        staging.drop(staged.id)
        return _go(request, f"/threads/{result.thread_id}")
    if result.status is ImportStatus.NEEDS_CONFIRMATION:
        staged.result, staged.error = result, None
        return _go(request, f"/imports/{staged.id}")
    assert result.error is not None
    if result.error.code == "currency_needed" and staged.result is not None:
        staged.error = "The file does not say its currency: choose it."
        return _go(request, f"/imports/{staged.id}")
    if result.error.code == "currency_needed":  # ask for it with the account question
        staged.result = replace(result, status=ImportStatus.NEEDS_CONFIRMATION, needs=Needs.ACCOUNT)
        staged.error = "The file does not say its currency: choose it."
        return _go(request, f"/imports/{staged.id}")
    staging.drop(staged.id)
    return await _upload_page(request, grant, person, status=400, thread_id=staged.thread_id,
                              code=result.error.code, error=_failure(result))


def _failure(result: ImportResult) -> str:
    assert result.error is not None
    return f"{result.file} was not imported, nothing was stored. {result.error.detail}"


async def _staged(request: Request, staged_id: str) -> tuple[Any, Any, Staged | None] | Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    return grant, person, staging_of(request).get(staged_id, grant.person_id, now=_now(request))


async def _gone(request: Request, grant: Any, person: Any) -> Response:
    return await _upload_page(request, grant, person, status=404, code="upload_expired",
                              error="That upload is no longer here (it waits 30 minutes). Please choose the "
                                    "file again.")


@router.get("/imports/{staged_id}", response_class=HTMLResponse)
async def step_page(request: Request, staged_id: str) -> Response:
    found = await _staged(request, staged_id)
    if isinstance(found, Response):
        return found
    grant, person, staged = found
    if staged is None:
        return await _gone(request, grant, person)
    if staged.csv and not staged.mapping_done:
        return await _preview_page(request, grant, person, staged)
    return await _confirm_page(request, grant, person, staged)


async def _preview_page(
    request: Request, grant: Any, person: Any, staged: Staged, *, error: str | None = None, status: int = 200,
) -> Response:
    try:
        preview, saved = await _importer(request).csv_preview(
            grant, staged.data, options=_options(staged), account_id=staged.account_id)
    except DomainError as exc:
        staging_of(request).drop(staged.id)
        return await _upload_page(request, grant, person, status=400, thread_id=staged.thread_id,
                                  code=exc.code, error=f"{staged.filename} cannot be read: {exc.detail}")
    return page(request, "import_preview.html", status, person=person, staged=staged, preview=preview,
                saved=saved, error=error, form=mapping_form.fields_of(preview, staged))


async def _confirm_page(request: Request, grant: Any, person: Any, staged: Staged) -> Response:
    result = staged.result
    if result is None:
        return await _advance(request, grant, person, staged)
    accounts = {a.id: a for a in await _importer(request).accounts(grant)}
    asks_currency = staged.error is not None or any(
        p.currency is None and p.proposal is Proposal.CREATE for p in result.proposals)
    return page(request, "import_confirm.html", person=person, staged=staged, result=result,
                accounts=accounts, orders=[DateOrder(o) for o in result.date_orders], Proposal=Proposal,
                CREATE=CREATE, asks_currency=asks_currency, error=staged.error)


@router.post("/imports/{staged_id}", response_class=HTMLResponse)
async def step(request: Request, staged_id: str) -> Response:
    found = await _staged(request, staged_id)
    if isinstance(found, Response):
        return found
    grant, person, staged = found
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not _csrf_ok(request, fields.get(CSRF_KEY, "")):
        return expired_form(request, f"/imports/{staged_id}")
    if staged is None:
        return await _gone(request, grant, person)
    action = fields.get("action", "import")
    if action == "cancel":
        staging_of(request).drop(staged.id)
        return see_other(f"/threads/{staged.thread_id}" if staged.thread_id else "/")
    if staged.csv and not staged.mapping_done:
        try:
            base = await _base_mapping(request, grant, staged)
            staged.mapping = mapping_form.mapping_from(fields, staged, base=base)
        except DomainError as exc:
            staging_of(request).drop(staged.id)
            return await _upload_page(request, grant, person, status=400, thread_id=staged.thread_id,
                                      code=exc.code, error=f"{staged.filename} cannot be read: {exc.detail}")
        except mapping_form.MappingError as exc:
            return await _preview_page(request, grant, person, staged, error=str(exc), status=400)
        staged.currency = _currency(fields.get("currency")) or staged.currency
        if action == "preview":
            return see_other(f"/imports/{staged.id}")
        staged.mapping_done = True
        return await _advance(request, grant, person, staged)
    if fields.get("date_order") in {o.value for o in DateOrder}:
        staged.date_order = DateOrder(fields["date_order"])
    staged.currency = _currency(fields.get("currency")) or staged.currency
    for key, value in fields.items():
        if key.startswith("choice_") and key[7:].isdigit() and value:
            staged.choices[int(key[7:])] = value
    result = staged.result
    if result is not None and result.needs is Needs.DATE_ORDER and staged.date_order is None:
        staged.error = "Choose how the dates are written."
        return see_other(f"/imports/{staged.id}")
    return await _advance(request, grant, person, staged)


async def _base_mapping(request: Request, grant: Any, staged: Staged) -> Any:
    preview, _saved = await _importer(request).csv_preview(grant, staged.data, options=_options(staged),
                                                           account_id=staged.account_id, rows=0)
    return preview.mapping
