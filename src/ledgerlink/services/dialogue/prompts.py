"""Fraud prompts: a bank asks "Was this you?", the person answers, the answer goes back.

A `fraud.alert` bank event becomes a prompt (a row with ids and state only) and a card in the
bank's thread with quick replies. The answer is taken once (a conditional update, so two
devices answering at the same moment cannot both win), written to the bank outbox in the
same transaction, and sent to the bank by `services.bank_dialogue`. An unanswered prompt is
reminded once and closes at the bank's deadline. Fraud is never held by quiet hours.
See docs/bank-dialogue.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from ledgerlink.domain.events import BankRequestQueued
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.dialogue.ports import BankOutboxRecord, PromptRecord
from ledgerlink.services.ingest.account_events import account_event
from ledgerlink.services.ingest.wire import parse_instant, parse_money
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import AccountRecord, LinkRecord
from ledgerlink.services.messaging import outgoing
from ledgerlink.services.messaging.ports import ThreadRecord

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

FRAUD_REPLIES: tuple[dict[str, str], ...] = (
    {"id": "yes", "label": "Yes, it was me"},
    {"id": "no", "label": "No, it wasn't me"},
)
WIRE_ANSWERS = {"yes": "confirmed", "no": "denied"}
CHANNELS = frozenset({"web", "matrix", "email", "webhook"})
POLICIES = {
    "freeze_card": "the card is frozen until you contact the bank",
    "allow": "the charge goes through",
}
MAX_REMIND = timedelta(days=7)
MAX_OPEN = timedelta(days=30)
_MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class FraudAlert:
    alert_id: str
    transaction_id: str | None
    merchant: str
    amount: Money
    at: datetime
    reason: str
    remind_after: timedelta | None
    expires_at: datetime
    on_no_answer: str


def _text(obj: dict[str, Any], name: str, *, required: bool, limit: int = _MAX_TEXT) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"data.alert.{name} is required", code="malformed_event")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit or not value.isprintable():
        raise InvalidInput(
            f"data.alert.{name} must be printable text of 1-{limit} characters", code="malformed_event"
        )
    return value.strip()


def parse_fraud_alert(data: dict[str, Any]) -> FraudAlert:
    """The alert of a `fraud.alert` event's data, checked field by field."""
    alert = data.get("alert")
    if not isinstance(alert, dict):
        raise InvalidInput("data.alert must be a JSON object", code="malformed_event")
    alert_id = _text(alert, "alert_id", required=True, limit=128)
    currency = _text(alert, "currency", required=True, limit=3)
    assert alert_id is not None and currency is not None
    try:
        amount = parse_money(alert, "amount", currency.upper(), "data.alert")
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, code="malformed_event") from None
    remind = alert.get("remind_after_seconds")
    if remind is not None and (
        not isinstance(remind, int)
        or isinstance(remind, bool)
        or not 0 < remind <= MAX_REMIND.total_seconds()
    ):
        raise InvalidInput(
            "data.alert.remind_after_seconds must be a whole number of seconds, at most 7 days",
            code="malformed_event",
        )
    policy = alert.get("on_no_answer", "freeze_card")
    if policy not in POLICIES:
        raise InvalidInput(
            f"data.alert.on_no_answer must be one of {', '.join(POLICIES)}", code="malformed_event"
        )
    try:
        at = parse_instant(alert.get("at"), "data.alert.at")
        expires_at = parse_instant(alert.get("expires_at"), "data.alert.expires_at")
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, code="malformed_event") from None
    if expires_at <= at or expires_at - at > MAX_OPEN:
        raise InvalidInput(
            "data.alert.expires_at must be after data.alert.at, within 30 days", code="malformed_event"
        )
    return FraudAlert(
        alert_id=alert_id,
        transaction_id=_text(alert, "transaction_id", required=False, limit=128),
        merchant=_text(alert, "merchant_name", required=False) or "an unknown merchant",
        amount=amount,
        at=at,
        reason=_text(alert, "reason", required=False) or "unusual activity",
        remind_after=None if remind is None else timedelta(seconds=remind),
        expires_at=expires_at,
        on_no_answer=str(policy),
    )


def _validate(data: dict[str, Any]) -> None:
    parse_fraud_alert(data)


def _reply_label(reply_id: str | None) -> str | None:
    return next((r["label"] for r in FRAUD_REPLIES if r["id"] == reply_id), None)


async def _post(
    deps: Deps, uow: UnitOfWork, grant: Grant, thread: ThreadRecord, body: dict[str, Any], subject_key: str
) -> str | None:
    record = await outgoing.put_message(
        deps, uow, grant, thread, kind=CardKind.FRAUD, body=body, subject_key=subject_key
    )
    return None if record is None else record.id


@account_event("fraud.alert", _validate)
async def _on_fraud_alert(
    deps: Deps, uow: UnitOfWork, account: AccountRecord, link: LinkRecord, data: dict[str, Any]
) -> None:
    """Inside the inbox worker's unit of work: one prompt and one card per bank alert id."""
    alert = parse_fraud_alert(data)
    if await uow.prompts.by_ref(link.partner_id, alert.alert_id) is not None:
        return  # the same alert under another event id: asked once
    thread = await uow.threads.for_link(link.id)
    partner = await uow.partners.get(link.partner_id)
    if thread is None or partner is None:
        return
    thread = await uow.threads.lock(thread.id) or thread
    now = deps.clock.now()
    grant = Grant.for_component(account.person_id, "fraud")
    view = await access.read_account(deps.vault, uow, grant, Purpose.FRAUD_CHECK, account.id, at=now)
    prompt_id = new_id("prm")
    status = "open" if now < alert.expires_at else "expired"
    body: dict[str, Any] = {
        "title": "Was this you?",
        "from": "bank",
        "bank": partner.name,
        "verified": True,  # the event's signature was checked against the bank's secret
        "merchant": alert.merchant,
        "amount": str(alert.amount.amount),
        "currency": alert.amount.currency,
        "account": account_label(view),
        "at": alert.at.isoformat(),
        "reason": alert.reason,
        "expires_at": alert.expires_at.isoformat(),
        "on_no_answer": alert.on_no_answer,
        "prompt_id": prompt_id,
        "prompt_status": status,
        "quick_replies": [dict(r) for r in FRAUD_REPLIES],
        "answer": None,
        "delivery": None,
        "reminder": False,
    }
    message_id = await _post(deps, uow, grant, thread, body, f"fraud:{prompt_id}")
    assert message_id is not None
    added = await uow.prompts.add(
        PromptRecord(
            id=prompt_id,
            person_id=account.person_id,
            thread_id=thread.id,
            link_id=link.id,
            partner_id=link.partner_id,
            account_id=account.id,
            bank_ref=alert.alert_id,
            kind="fraud",
            message_id=message_id,
            status=status,
            reply_ids=",".join(r["id"] for r in FRAUD_REPLIES),
            expires_at=alert.expires_at,
            created_at=now,
            remind_at=None if alert.remind_after is None else now + alert.remind_after,
        )
    )
    if not added:  # a concurrent worker took the same alert: undo this card with the batch
        raise Conflict("this fraud alert was already taken", code="duplicate_alert")


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
            await _post(deps, uow, grant, thread, {**view.body, **changes}, subject)


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
    reminder_id = await _post(deps, uow, grant, thread, body, f"fraud-reminder:{prompt.id}")
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
