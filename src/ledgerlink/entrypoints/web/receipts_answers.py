"""The person answers "Is this your $42.10 order from Acme?" in the web messenger (issue 11):
Yes attaches the receipt to that charge and remembers the shop's descriptor; No keeps it
waiting. The card changes over the live stream."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.web.kit import fetch_action

router = APIRouter(include_in_schema=False)


@router.post("/threads/{thread_id}/receipt-answers")
async def answer(request: Request, thread_id: str) -> Response:
    """Sent with fetch (204, or a problem: 409 already answered, 422 not yes/no, 404 not
    theirs) or as a plain form (back to the thread)."""
    async def act(grant: Grant, form: dict[str, str]) -> None:
        await request.app.state.container.receipts.answer_question(
            grant, order_id=form.get("order_id", ""), reply_id=form.get("reply_id", ""))

    return await fetch_action(request, back=f"/threads/{thread_id}", action=act)
