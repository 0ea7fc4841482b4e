"""Prompts: the person answers a bank's question, once, and the answer goes back.

The answer is taken once (a conditional update, so two devices answering at the same moment
cannot both win), written to the bank outbox in the same transaction, and sent to the bank by
`services.bank_dialogue`. An unanswered prompt is reminded once and closes at the bank's
deadline. Fraud is never held by quiet hours. The prompts themselves come from the bank's
fraud alerts (`dialogue.fraud`, imported here so its bank event is registered).
See docs/bank-dialogue.md.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from ledgerlink.domain.events import BankRequestQueued
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.dialogue.fraud import FRAUD_REPLIES, FraudAlert, parse_fraud_alert, post_fraud_card
from ledgerlink.services.dialogue.ports import BankOutboxRecord, PromptRecord
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork

# FRAUD_REPLIES, FraudAlert and parse_fraud_alert live in `dialogue.fraud`; still importable here.
__all__ = [
    "CHANNELS",
    "FRAUD_REPLIES",
    "FraudAlert",
    "answer",
    "open_prompts",
    "parse_fraud_alert",
    "run_checker",
    "run_due",
]

log = structlog.get_logger(__name__)

CHANNELS = frozenset({"web", "matrix", "email", "webhook", "messenger", "whatsapp"})  # issue 15: the last two


def _reply_label(reply_id: str | None) -> str | None:
    return next((r["label"] for r in FRAUD_REPLIES if r["id"] == reply_id), None)


# --------------------------------------------------------------------------- the person answers


async def _update_cards(deps: Deps, uow: UnitOfWork, prompt: PromptRecord, **changes: Any) -> None:
    """Edit the prompt's card (and its reminder) in place with `changes`."""
    grant = Grant.for_component(prompt.person_id, "fraud")
    thread = await uow.threads.lock(prompt.thread_id)
    if thread is None:
        return
    for subject in (f"fraud:{prompt.id}", f"fraud-reminder:{prompt.id}"):
        view = await access.read_message_by_subject(
            deps.vault, uow, grant, Purpose.FRAUD_CHECK, thread, subject, at=deps.clock.now()
        )
        if view is not None:
            await post_fraud_card(deps, uow, grant, thread, {**view.body, **changes}, subject)


async def answer(deps: Deps, grant: Grant, *, message_id: str, reply_id: str, channel: str) -> None:
    """The person's quick reply to a prompt card (or its reminder). Errors change nothing:
    NotFound (no such prompt, or someone else's), InvalidInput (unknown reply or channel),
    Conflict (already answered, expired, the bank link ended)."""
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel[:16]!r}", code="unknown_channel")
    now = deps.clock.now()
    async with deps.uow() as uow:
        prompt = await uow.prompts.by_message(message_id[:64])
        if prompt is None or prompt.person_id != grant.person_id:
            raise NotFound("there is no such question to answer", code="prompt_not_found")
        replies = prompt.reply_ids.split(",")
        if reply_id not in replies:
            raise InvalidInput(
                f"{reply_id[:32]!r} is not an answer to this question; answers: {', '.join(replies)}",
                code="unknown_reply",
            )
        if prompt.status == "answered":
            raise Conflict(
                f"this question was already answered ({_reply_label(prompt.answer)})",
                code="prompt_already_answered",
            )
        if prompt.status == "expired" or now >= prompt.expires_at:
            raise Conflict("this question has expired: the bank's deadline has passed", code="prompt_expired")
        link = await uow.links.get(prompt.link_id)
        if link is None or link.status != LinkStatus.ACTIVE.value:
            raise Conflict("this bank is no longer linked, so the answer cannot reach it", code="link_ended")
        if not await uow.prompts.answer(prompt.id, answer=reply_id, via=channel, at=now):
            raise Conflict("this question was already answered", code="prompt_already_answered")
        outbox = BankOutboxRecord(
            id=new_id("req"),
            person_id=prompt.person_id,
            link_id=prompt.link_id,
            partner_id=prompt.partner_id,
            kind="fraud_answer",
            ref=prompt.id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        await uow.bank_outbox.add(outbox)
        await _update_cards(
            deps,
            uow,
            prompt,
            prompt_status="answered",
            answer=reply_id,
            answer_label=_reply_label(reply_id),
            delivery="sending",
        )
        uow.events.append(BankRequestQueued(outbox_id=outbox.id))
        await deps.commit_and_publish(uow)
    log.info("prompt_answered", prompt_id=prompt.id, via=channel)


async def open_prompts(deps: Deps, grant: Grant, thread_id: str) -> list[PromptRecord]:
    """The thread's open prompts, newest first (for channels that answer by number)."""
    async with deps.uow(readonly=True) as uow:
        thread = await access.read_thread(uow, grant, thread_id)
        return await uow.prompts.open_in_thread(thread.id)


async def answer_open(deps: Deps, grant: Grant, thread_id: str, index: int, *, channel: str) -> bool:
    """Answer the thread's newest open prompt with its option `index` (0-based), as a channel
    that answers by number does; False if the thread has no open prompt."""
    open_ = await open_prompts(deps, grant, thread_id)
    if not open_:
        return False
    prompt = open_[0]
    await answer(deps, grant, message_id=prompt.message_id, reply_id=_option(prompt, index), channel=channel)
    return True


async def answer_message(deps: Deps, grant: Grant, message_id: str, index: int, *, channel: str) -> bool:
    """Answer the prompt shown by message `message_id` with its option `index` (a reaction on
    it); False if that message shows no prompt."""
    async with deps.uow(readonly=True) as uow:
        prompt = await uow.prompts.by_message(message_id)
    if prompt is None:
        return False
    await answer(deps, grant, message_id=message_id, reply_id=_option(prompt, index), channel=channel)
    return True


class Replies:
    """Answers by option number, for channels without buttons (`matrix_inbound.PromptReplies`)."""

    answer_open = staticmethod(answer_open)
    answer_message = staticmethod(answer_message)


def _option(prompt: PromptRecord, index: int) -> str:
    replies = prompt.reply_ids.split(",")
    if not 0 <= index < len(replies):
        raise NoSuchOption(len(replies))
    return replies[index]


class NoSuchOption(DomainError):
    code = "unknown_reply"
    status = 422

    def __init__(self, count: int) -> None:
        super().__init__(f"this question has options 1 to {count}")


async def delivery_changed(
    deps: Deps, uow: UnitOfWork, prompt_id: str, *, delivery: str, outcome: str | None = None
) -> None:
    """The outbox reports how the answer fared with the bank: shown on the card."""
    prompt = await uow.prompts.get(prompt_id)
    if prompt is not None:
        await _update_cards(deps, uow, prompt, delivery=delivery, bank_outcome=outcome)


# --------------------------------------------------------------------------- reminders and deadlines


async def run_due(deps: Deps) -> int:
    """Remind once and close what passed the bank's deadline. Returns the prompts changed."""
    now = deps.clock.now()
    async with deps.uow(readonly=True) as uow:
        due = await uow.prompts.due(now)
    changed = 0
    for candidate in due:
        try:
            async with deps.uow() as uow:
                prompt = await uow.prompts.get(candidate.id)
                if prompt is None or prompt.status != "open":
                    continue
                if now >= prompt.expires_at:
                    if await uow.prompts.expire(prompt.id):
                        await _update_cards(deps, uow, prompt, prompt_status="expired")
                        changed += 1
                elif prompt.reminded_at is None and prompt.remind_at is not None and now >= prompt.remind_at:
                    changed += await _remind(deps, uow, prompt, now)
                await deps.commit_and_publish(uow)
        except Conflict:
            continue  # another process got there first; its change stands
    return changed


async def _remind(deps: Deps, uow: UnitOfWork, prompt: PromptRecord, now: datetime) -> int:
    grant = Grant.for_component(prompt.person_id, "fraud")
    thread = await uow.threads.lock(prompt.thread_id)
    if thread is None:
        return 0
    view = await access.read_message_by_subject(
        deps.vault, uow, grant, Purpose.FRAUD_CHECK, thread, f"fraud:{prompt.id}", at=now
    )
    if view is None:
        return 0
    body = {**view.body, "reminder": True, "title": "Reminder: was this you?"}
    reminder_id = await post_fraud_card(deps, uow, grant, thread, body, f"fraud-reminder:{prompt.id}")
    if reminder_id is None or not await uow.prompts.reminded(
        prompt.id, reminder_message_id=reminder_id, at=now
    ):
        raise Conflict("the prompt was reminded already", code="already_reminded")
    return 1


async def run_checker(deps: Deps, interval: float) -> None:
    """Background task: reminders and deadlines every `interval` seconds."""
    while True:
        try:
            await run_due(deps)
        except Exception:
            log.exception("prompt_checker_failed")
        await asyncio.sleep(interval)
