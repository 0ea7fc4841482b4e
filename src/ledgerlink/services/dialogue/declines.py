"""Declined card authorisations: a `card.declined` bank event becomes one "Card declined" card
in the bank's thread (merchant, amount, account, the reason in plain words, what to do).

A decline is not a transaction: nothing is kept but the sealed message, once per decline id
(the same decline under another event id adds nothing). It is an alert like the others: on
by default, "stop declined alerts" turns it off, quiet hours hold it. It ignores muted
merchants: a card that did not work is worth knowing whoever the merchant was.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledgerlink.domain import alerts
from ledgerlink.domain.banking import AccountView, Scope
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.countries import country_name, currency_countries
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.access.vault import PersonKeyMissing
from ledgerlink.services.alerts import rules
from ledgerlink.services.ingest import wire
from ledgerlink.services.ingest.account_events import account_event
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import AccountRecord, LinkRecord

__all__ = ["REASONS", "Decline", "decline_alert", "parse_decline", "subject_key"]

# reason code -> (why, in plain words; what to do)
REASONS: dict[str, tuple[str, str]] = {
    "insufficient_funds": ("There was not enough money in the account.",
                           "Move money into the account or pay another way."),
    "limit_exceeded": ("It would have gone over the card's limit.",
                       "Pay some of the card off, or pay another way."),
    "card_frozen": ("The card is frozen.", "If you want to use it, unfreeze it in your bank's app."),
    "suspected_fraud": ("Your bank suspected fraud.",
                        "If it was you, confirm it with your bank and try again. If it was not you, "
                        "contact your bank now."),
    "expired_card": ("The card has expired.", "Use your new card, or ask your bank for one."),
    "incorrect_pin": ("The PIN was wrong.",
                      "Try again with the right PIN: too many wrong tries block the card."),
    "merchant_blocked": ("Your bank does not allow payments to this merchant.",
                         "Contact your bank if you expected it to work."),
    "other": ("Your bank did not say why.", "Contact your bank if you want to know."),
}  # fmt: skip

_MCC = re.compile(r"[0-9]{4}")
_WHERE = "data.decline"


@dataclass(frozen=True, slots=True)
class Decline:
    decline_id: str
    merchant: str | None
    mcc: str | None
    amount: Money  # what was attempted, positive
    reason: str
    at: datetime
    merchant_country: str | None
    card_present: bool | None


def _bad(field: str, why: str) -> InvalidInput:
    return InvalidInput(f"{_WHERE}.{field} {why}", code="malformed_payload")


def parse_decline(data: dict[str, Any]) -> Decline:
    """The `decline` object of a `card.declined` event (docs/sandbox-bank.md), checked field by
    field; the error names the field at fault."""
    obj = data.get("decline")
    if not isinstance(obj, dict):
        raise InvalidInput(f"{_WHERE} must be a JSON object", code="malformed_payload")
    decline_id = wire.bank_id(obj, "decline_id", _WHERE)
    currency = wire.text(obj, "currency", _WHERE)
    assert currency is not None
    try:
        amount = wire.parse_money(obj, "amount", currency, _WHERE)
    except InvalidInput as exc:
        if exc.code == "malformed_payload":
            raise
        field = "currency" if exc.code == "bad_currency" else "amount"
        raise _bad(field, f"is not valid ({exc})") from None
    if amount.amount <= 0:
        raise _bad("amount", 'must be the positive amount that was attempted, such as "12.30"')
    reason = wire.text(obj, "reason", _WHERE)
    if reason not in REASONS:
        raise _bad("reason", "must be one of " + ", ".join(REASONS))
    mcc = wire.text(obj, "mcc", _WHERE, required=False)
    if mcc is not None and not _MCC.fullmatch(mcc):
        raise _bad("mcc", "must be a 4-digit merchant category code")
    if obj.get("at") is None:
        raise _bad("at", "is required")
    return Decline(
        decline_id=decline_id,
        merchant=wire.display_text(obj, "merchant_name", _WHERE) or None,
        mcc=mcc,
        amount=amount,
        reason=reason,
        at=wire.parse_instant(obj["at"], f"{_WHERE}.at"),
        merchant_country=wire.country(obj, "merchant_country", _WHERE),
        card_present=wire.flag(obj, "card_present", _WHERE),
    )


def _validate(data: dict[str, Any]) -> None:
    parse_decline(data)


def subject_key(decline_id: str) -> str:
    """Once per decline: the bank's id, hashed to fit the subject column (up to 128 chars)."""
    return f"alert:declined:{hashlib.sha256(decline_id.encode()).hexdigest()[:32]}"


def decline_alert(decline: Decline, account: AccountView) -> alerts.Alert:
    """The card: the text (also the plain-text rendering) and the fields of the rich card."""
    why, advice = REASONS[decline.reason]
    who = decline.merchant or "a merchant"
    label = account_label(account)
    country = decline.merchant_country
    abroad = country is not None and country not in currency_countries(account.currency, decline.at.date())
    where = [f"in {country_name(country)}"] if abroad and country else []
    if decline.card_present is False:
        where.append("online")
    place = f" ({' '.join(where)})" if where else ""
    text = f"Card declined at {who}{place}: {decline.amount} on {label}. {why} {advice}"
    extra = {
        "title": "Card declined",
        "merchant": who,
        "amount": str(decline.amount.amount),
        "currency": decline.amount.currency,
        "account": label,
        "reason": decline.reason,
        "reason_text": why,
        "advice": advice,
        "at": decline.at.isoformat(),
        "mcc": decline.mcc,
        "merchant_country": country,
        "country_name": country_name(country) if abroad and country else None,
        "card_present": decline.card_present,
    }
    return alerts.Alert(
        alerts.DECLINED, subject_key(decline.decline_id), text, "warning", card=CardKind.DECLINED, extra=extra
    )


@account_event("card.declined", _validate, scope=Scope.TRANSACTIONS)
async def _on_declined(
    deps: Deps, uow: UnitOfWork, account: AccountRecord, link: LinkRecord, data: dict[str, Any]
) -> None:
    """Inside the inbox worker's unit of work: one card per decline id, unless turned off."""
    decline = parse_decline(data)
    thread = await uow.threads.for_link(link.id)
    if thread is None:
        return
    thread = await uow.threads.lock(thread.id) or thread
    if await uow.threads.message_by_subject(thread.id, subject_key(decline.decline_id)) is not None:
        return  # the same decline under another event id
    grant = Grant.for_component(account.person_id, "alerts")
    now = deps.clock.now()
    try:
        view = await access.read_account(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, account.id, at=now)
        person_rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
    except (NotFound, PersonKeyMissing):
        return
    if alerts.enabled(person_rules, alerts.DECLINED):
        await rules.send(deps, uow, grant, thread, decline_alert(decline, view), person_rules)
