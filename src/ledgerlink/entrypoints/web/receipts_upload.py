"""Upload a saved order email (`.eml`) into a thread (issue 11, docs/receipts.md "Uploading a
.eml"): `POST /threads/{thread_id}/receipt-emails`, multipart with the form's CSRF token, read in
memory with a size cap (imports_upload.read_upload: never spooled to disk, an email is personal
data). The thread then says what happened ("Receipt email read: …" or "Couldn't read this
receipt: …"). A refused file is answered with what is wrong (a page, or JSON for fetch), never
a 500, and nothing is stored."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ledgerlink.domain.errors import DomainError
from ledgerlink.entrypoints.dependencies import signed_in
from ledgerlink.entrypoints.web.imports_upload import UploadRefused, read_upload
from ledgerlink.entrypoints.web.kit import CSRF_KEY, expired_form, page, same_origin, see_other, wants_json
from ledgerlink.services.receipts.upload import MAX_EML_BYTES, upload_eml

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_STATUS = {"eml_too_large": 413}


def _refused(request: Request, person: object, *, back: str, status: int, code: str, detail: str) -> Response:
    if wants_json(request):
        return JSONResponse({"code": code, "detail": detail}, status_code=status)
    return page(request, "error.html", status, person=person, status=status, back=back,
                title="This receipt email was not taken", message=detail)


def _csrf_ok(request: Request, offered: str) -> bool:
    expected = request.session.get(CSRF_KEY)
    return (isinstance(expected, str) and hmac.compare_digest(expected.encode(), offered.encode())
            and same_origin(request))


@router.post("/threads/{thread_id}/receipt-emails")
async def upload(request: Request, thread_id: str) -> Response:
    """The form goes back to the thread (303); fetch gets `{"state", "text"}`."""
    if not (len(thread_id) <= 64 and thread_id.replace("_", "").isalnum()):
        thread_id = "none"  # no such thread: refused below, and the way back stays a plain path
    back = f"/threads/{thread_id}"
    session = await signed_in(request)
    if session is None:
        return JSONResponse({"code": "unauthorized"}, status_code=401) if wants_json(request) \
            else see_other("/login")
    grant, person = session
    try:
        form = await read_upload(request, limit=MAX_EML_BYTES)
    except UploadRefused as exc:
        detail = exc.detail
        if exc.code == "file_too_large":
            detail = f"the file is larger than {MAX_EML_BYTES // (1024 * 1024)} MB, more than an order email"
        elif "statement" in detail:
            detail = "send one .eml file at a time"
        return _refused(request, person, back=back, status=exc.status, code=exc.code, detail=detail)
    if not _csrf_ok(request, form.fields.get(CSRF_KEY, "")):
        if wants_json(request):
            return JSONResponse({"code": "csrf_failed", "detail": "reload the page"}, status_code=400)
        return expired_form(request, back)
    if form.data is None:
        return _refused(request, person, back=back, status=400, code="no_file",
                        detail="Choose the order email (.eml) to upload.")
    try:
        outcome = await upload_eml(request.app.state.container.receipt_mail, grant, thread_id=thread_id,
                                   filename=form.filename, content_type="", data=form.data)
    except DomainError as exc:  # refused: named, nothing stored
        return _refused(request, person, back=back, status=_STATUS.get(exc.code, exc.status), code=exc.code,
                        detail=exc.detail)
    if wants_json(request):
        return JSONResponse({"state": outcome.state, "text": outcome.text})
    return see_other(back)
