"""Quick replies in the web messenger: the person answers a bank's prompt ("Was this you?")."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.dependencies import get_deps
from ledgerlink.entrypoints.web.kit import fetch_action
from ledgerlink.services.dialogue import prompts

router = APIRouter(include_in_schema=False)


@router.post("/threads/{thread_id}/replies")
async def reply(request: Request, thread_id: str) -> Response:
    """The browser sends it with fetch (Accept: application/json) and gets 204, or a problem
    with the reason (409 already answered or expired, 422 unknown reply, 404 not theirs); the
    card changes over the live stream. Without JavaScript the form posts and the thread
    reloads."""
    async def answer(grant: Grant, form: dict[str, str]) -> None:
        await prompts.answer(get_deps(request), grant, message_id=form.get("message_id", ""),
                             reply_id=form.get("reply_id", ""), channel="web")

    return await fetch_action(request, back=f"/threads/{thread_id}", action=answer)
