"""A tap, a number or a keycap reaction in Matrix, Messenger or WhatsApp answers whichever
question its message shows: a bank's "Was this you?" (`prompts`) or a doubtful receipt match,
"Is this your $42.10 order from Acme?" (`receipts.questions`, answered by
`Receipts.answer_question` as the web's buttons are). A bare number answers the thread's
newest open question of either kind."""

from __future__ import annotations

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.privacy import Grant
from ledgerlink.services import access
from ledgerlink.services.dialogue import prompts
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.receipts.questions import REPLIES

__all__ = ["Replies", "answer"]

_REPLY_IDS = tuple(r["id"] for r in REPLIES)  # yes, no: option 1 and 2


def _option(index: int) -> str:
    if not 0 <= index < len(_REPLY_IDS):
        raise InvalidInput(f"{index + 1} is not an answer here; answers: 1 (yes), 2 (no)",
                           code="unknown_reply")
    return _REPLY_IDS[index]


async def _question_of(deps: Deps, grant: Grant, message_id: str) -> str | None:
    if deps.receipts is None:
        return None
    async with deps.uow(readonly=True) as uow:
        return await uow.shop_receipts.question_of(grant.person_id, message_id[:64])


async def answer(deps: Deps, grant: Grant, *, message_id: str, reply_id: str, channel: str) -> None:
    """A quick reply, button or postback we made (`PlatformInbound`'s `PromptAnswer`)."""
    order_id = await _question_of(deps, grant, message_id)
    if order_id is not None and deps.receipts is not None:
        await deps.receipts.answer_question(grant, order_id=order_id, reply_id=reply_id)
        return
    await prompts.answer(deps, grant, message_id=message_id, reply_id=reply_id, channel=channel)


async def answer_open(deps: Deps, grant: Grant, thread_id: str, index: int, *, channel: str) -> bool:
    """Option `index` of the thread's newest open question; False when none is open."""
    question = None
    if deps.receipts is not None:
        async with deps.uow(readonly=True) as uow:
            thread = await access.read_thread(uow, grant, thread_id)
            question = await uow.shop_receipts.open_question(grant.person_id, thread.id)
    if question is not None:
        open_prompts = await prompts.open_prompts(deps, grant, thread_id)
        if not open_prompts or open_prompts[0].created_at <= question[1]:
            assert deps.receipts is not None
            await deps.receipts.answer_question(grant, order_id=question[0], reply_id=_option(index))
            return True
    return await prompts.answer_open(deps, grant, thread_id, index, channel=channel)


async def answer_message(deps: Deps, grant: Grant, message_id: str, index: int, *, channel: str) -> bool:
    """Option `index` of the question message `message_id` shows (a keycap reaction on it)."""
    order_id = await _question_of(deps, grant, message_id)
    if order_id is not None and deps.receipts is not None:
        await deps.receipts.answer_question(grant, order_id=order_id, reply_id=_option(index))
        return True
    return await prompts.answer_message(deps, grant, message_id, index, channel=channel)


class Replies:
    """Answers by option number, for channels without buttons (`matrix_inbound.PromptReplies`)."""

    answer_open = staticmethod(answer_open)
    answer_message = staticmethod(answer_message)
