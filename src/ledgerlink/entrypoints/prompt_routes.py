"""Quick replies in the web messenger: the person answers a bank's prompt ("Was this you?")."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ledgerlink.domain.errors import DomainError, NotFound
from ledgerlink.entrypoints.dependencies import get_deps
from ledgerlink.entrypoints.webkit import csrf_ok, expired_form, not_found, see_other, signed_in
from ledgerlink.services import prompts

router = APIRouter(include_in_schema=False)


@router.post("/threads/{thread_id}/replies")
async def reply(request: Request, thread_id: str) -> Response:
    """The browser sends it with fetch (Accept: application/json) and gets 204, or a problem
    with the reason (already answered, expired, unknown reply); the card changes over the live
    stream. Without JavaScript the form posts and the thread reloads."""
    session = await signed_in(request)
    wants_json = "application/json" in request.headers.get("accept", "")
    if session is None:
        return JSONResponse({"code": "unauthorized"}, status_code=401) if wants_json else see_other("/login")
    grant, person = session
    ok, form = await csrf_ok(request)
    if not ok:
        if wants_json:
            return JSONResponse({"code": "csrf_failed", "detail": "reload the page"}, status_code=400)
        return expired_form(request, f"/threads/{thread_id}")
    deps = get_deps(request)
    try:
        await prompts.answer(
            deps,
            grant,
            message_id=form.get("message_id", ""),
            reply_id=form.get("reply_id", ""),
            channel="web",
        )
    except NotFound:
        if wants_json:
            return JSONResponse(
                {"code": "prompt_not_found", "detail": "there is no such question to answer"}, status_code=404
            )
        return not_found(request, person)
    except DomainError as exc:
        if wants_json:
            return JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=exc.status)
        return see_other(f"/threads/{thread_id}")
    return Response(status_code=204) if wants_json else see_other(f"/threads/{thread_id}")
