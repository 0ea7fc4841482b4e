"""Quick replies in the web messenger: the person answers a bank's prompt ("Was this you?")."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ledgerlink.domain.errors import DomainError
from ledgerlink.entrypoints.dependencies import get_deps
from ledgerlink.entrypoints.webkit import fetch_done, fetch_failed, fetch_form
from ledgerlink.services import prompts

router = APIRouter(include_in_schema=False)


@router.post("/threads/{thread_id}/replies")
async def reply(request: Request, thread_id: str) -> Response:
    """The browser sends it with fetch (Accept: application/json) and gets 204, or a problem
    with the reason (409 already answered or expired, 422 unknown reply, 404 not theirs); the
    card changes over the live stream. Without JavaScript the form posts and the thread
    reloads."""
    back = f"/threads/{thread_id}"
    form_session = await fetch_form(request, back=back)
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    try:
        await prompts.answer(get_deps(request), grant, message_id=form.get("message_id", ""),
                             reply_id=form.get("reply_id", ""), channel="web")
    except DomainError as exc:
        return fetch_failed(request, person, exc, back=back)
    return fetch_done(request, back)
