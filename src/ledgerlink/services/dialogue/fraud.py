"""Fraud alerts in: a bank asks "Was this you?" and it becomes a prompt.

A `fraud.alert` bank event becomes a prompt (a row with ids and state only) and a card in the
bank's thread with quick replies, inside the inbox worker's unit of work (the handler is
registered with `ingest.account_events` when this module is imported). Answering, reminding
and closing the prompt is `dialogue.prompts`; sending the answer, `dialogue.bank_dialogue`.
See docs/bank-dialogue.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ledgerlink.domain.banking import Scope
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import Conflict, InvalidInput
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.text import require_scalar_values
from ledgerlink.services import access
from ledgerlink.services.dialogue.ports import PromptRecord
from ledgerlink.services.ingest.account_events import account_event
from ledgerlink.services.ingest.wire import parse_instant, parse_money
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import AccountRecord, LinkRecord
from ledgerlink.services.messaging import outgoing
from ledgerlink.services.messaging.ports import ThreadRecord

FRAUD_REPLIES: tuple[dict[str, str], ...] = (
    {"id": "yes", "label": "Yes, it was me"},
    {"id": "no", "label": "No, it wasn't me"},
)
WIRE_ANSWERS = {"yes": "confirmed", "no": "denied"}  # a reply id as the bank's API says it
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
    if isinstance(value, str):
        require_scalar_values(value, f"data.alert.{name}")  # a lone surrogate: invalid_text
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
    if not isinstance(policy, str) or policy not in POLICIES:
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


async def post_fraud_card(
    deps: Deps, uow: UnitOfWork, grant: Grant, thread: ThreadRecord, body: dict[str, Any], subject_key: str
) -> str | None:
    """Add the prompt's card, or edit it in place by `subject_key`; its message id (None when an
    edit changed nothing)."""
    record = await outgoing.put_message(
        deps, uow, grant, thread, kind=CardKind.FRAUD, body=body, subject_key=subject_key
    )
    return None if record is None else record.id


@account_event("fraud.alert", _validate, scope=Scope.ALERTS)
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
    message_id = await post_fraud_card(deps, uow, grant, thread, body, f"fraud:{prompt_id}")
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

