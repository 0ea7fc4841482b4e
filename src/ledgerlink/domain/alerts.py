"""Alert conditions: which transaction, balance or card use deserves an alert (pure rules).

No reads and no clock: the rules come in already opened (`AlertRule`, from the access gate),
and "now" is an argument. The kinds, defaults and parameters are described in
`services/alerts/rules.py`, which evaluates these conditions and sends the alerts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerlink.domain import zones
from ledgerlink.domain.banking import AccountType, AccountView, Transaction, TransactionStatus
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.countries import country_name, currency_countries
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert rule with its opened parameters (see services/alerts/rules.py for the kinds)."""

    id: str
    kind: str
    account_id: str | None
    params: dict[str, Any]
    enabled: bool


@dataclass(frozen=True, slots=True)
class HeldAlertView:
    id: str
    thread_id: str
    kind: str
    text: str
    held_at: datetime


LOW, LARGE, DEPOSIT, FEE = "low_balance", "large_purchase", "deposit", "fee"


MUTE, QUIET, STATE = "mute_merchant", "quiet_hours", "state"


DECLINED, ABROAD, ONLINE = "declined", "international", "online"  # message templates (ADR 0014)


SWITCHES = (LOW, LARGE, DEPOSIT, FEE, DECLINED, ABROAD, ONLINE)


KIND_WORDS = {LOW: "low balance", LARGE: "large purchase", DEPOSIT: "deposit", FEE: "fee",
              DECLINED: "declined card", ABROAD: "international purchase", ONLINE: "online purchase"}


DEFAULT_OFF = frozenset({ONLINE})  # everyday for most people: asked for, not assumed


DEFAULT_LOW = Decimal("50")  # checking accounts only


DEFAULT_LARGE = Decimal("500")


MAX_AMOUNT = Decimal("1000000000")


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    subject_key: str
    text: str
    tone: str
    card: CardKind = CardKind.TEXT  # a richer card than text (a declined card)
    extra: dict[str, Any] = field(default_factory=dict)  # that card's own fields


def parse_amount(text: str) -> Decimal:
    """A threshold typed by a person: "1,250", "$300", "99.95". Positive, at most 3 decimals."""
    cleaned = text.strip().replace(",", "").lstrip("$").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput("Enter an amount such as 100 or 99.50.", code="bad_amount") from None
    if not value.is_finite() or not 0 < value < MAX_AMOUNT or value != value.quantize(Decimal("0.001")):
        raise InvalidInput("Enter a positive amount such as 100 or 99.50.", code="bad_amount")
    return value


def _switch(rules: list[AlertRule], kind: str) -> AlertRule | None:
    return next((r for r in rules if r.kind == kind and r.account_id is None), None)


def enabled(rules: list[AlertRule], kind: str) -> bool:
    switch = _switch(rules, kind)
    return kind not in DEFAULT_OFF if switch is None else switch.enabled


def threshold(rules: list[AlertRule], kind: str, account: AccountView) -> Decimal | None:
    """The account's effective threshold for `low_balance` / `large_purchase`; None when off."""
    if not enabled(rules, kind):
        return None
    own = next((r for r in rules if r.kind == kind and r.account_id == account.id), None)
    switch = _switch(rules, kind)
    for rule in (own, switch):
        if rule is not None and rule.params.get("amount") is not None:
            return Decimal(str(rule.params["amount"]))
    if kind == LARGE:
        return DEFAULT_LARGE
    return DEFAULT_LOW if account.type is AccountType.CHECKING else None


def muted(rules: list[AlertRule], txn: Transaction) -> bool:
    name = f"{txn.merchant or ''} {txn.descriptor}".lower()
    return any(r.kind == MUTE and str(r.params.get("merchant", "")) in name for r in rules)


def is_fee(txn: Transaction) -> bool:
    # The sandbox (and most banks) book fees without a card network MCC: "MONTHLY MAINTENANCE FEE".
    return (
        txn.mcc is None
        and txn.amount.is_negative()
        and re.search(r"\bFEES?\b", txn.descriptor.upper()) is not None
    )


_REFUND_WORD = re.compile(r"^\s*(?:REFUND|RETURN|RFND|REVERSAL)\b")


def is_refund(txn: Transaction) -> bool:
    """Money in that gives back a purchase: a card merchant's credit (an MCC, as banks report a
    card refund) or a descriptor that says so ("REFUND PAYPAL *ACME"). Not a deposit."""
    said = _REFUND_WORD.match(txn.descriptor.upper()) is not None
    return txn.amount.amount > 0 and (txn.mcc is not None or said)


def is_deposit(txn: Transaction, *, refund_of: str | None = None) -> bool:
    """Posted money in that is not a refund; `refund_of`: the purchase the bank's refund was
    linked to (bank_refunds), when it is known."""
    return (txn.status is TransactionStatus.POSTED and txn.amount.amount > 0
            and refund_of is None and not is_refund(txn))


def crossing(*, below: bool, was_below: bool) -> bool | None:
    """The low-balance state machine: True = alert now, False = re-arm, None = nothing to do."""
    if below == was_below:
        return None
    return below


def in_quiet_hours(now: datetime, params: dict[str, Any]) -> bool:
    # Issue 13 (person time zone): the caller adds the person's IANA `zone` to the params.
    return zones.in_quiet_hours(now, params, params.get("zone"))


def _money(amount: Decimal, currency: str) -> str:
    try:
        return str(Money.parse(amount, currency))
    except InvalidInput:
        return f"{amount} {currency}"


def transaction_alert(txn: Transaction, account: AccountView, rules: list[AlertRule], *,
                      refund_of: str | None = None) -> Alert | None:
    if txn.status is TransactionStatus.REMOVED:
        return None
    label = account_label(account)
    who = txn.merchant or txn.descriptor
    if is_fee(txn):
        if not enabled(rules, FEE):
            return None
        return Alert(
            FEE, f"alert:fee:{txn.id}", f"Fee charged on {label}: {txn.descriptor}, {-txn.amount}.", "info"
        )
    if txn.amount.is_negative():
        limit = threshold(rules, LARGE, account)
        if limit is None or muted(rules, txn):
            return None
        try:
            large = Money.parse(limit, txn.amount.currency) < -txn.amount
        except InvalidInput:
            return None
        if not large:
            return None
        above = _money(limit, txn.amount.currency)
        text = f"Large purchase on {label}: {who}, {-txn.amount} (your alert is above {above})."
        return Alert(LARGE, f"alert:large:{txn.id}", text, "warning")
    if is_deposit(txn, refund_of=refund_of) and enabled(rules, DEPOSIT):
        return Alert(
            DEPOSIT, f"alert:deposit:{txn.id}", f"Deposit into {label}: +{txn.amount} from {who}.", "info"
        )
    return None


def home_countries(rules: list[AlertRule], currency: str, on: date) -> frozenset[str]:
    """Where purchases are not international: the home country the person set, else every
    country where the account's currency is legal tender (ADR 0014)."""
    switch = _switch(rules, ABROAD)
    home = None if switch is None else switch.params.get("home")
    return frozenset({str(home)}) if home else currency_countries(currency, on)


def card_alert(txn: Transaction, account: AccountView, rules: list[AlertRule]) -> Alert | None:
    """An international or an online (card-not-present) purchase: at most one of the two per
    purchase, the international one first. Muted merchants get neither."""
    if txn.status is TransactionStatus.REMOVED or not txn.amount.is_negative() or is_fee(txn):
        return None
    if muted(rules, txn):
        return None
    label, who = account_label(account), txn.merchant or txn.descriptor
    online = txn.card_present is False
    country = txn.merchant_country
    day = txn.booking_date or txn.created_at.date()
    if country is not None and enabled(rules, ABROAD):
        home = home_countries(rules, account.currency, day)
        if home and country not in home:
            how = " online" if online else ""
            text = f"International purchase{how} on {label}: {who} in {country_name(country)}, {-txn.amount}."
            return Alert(ABROAD, f"alert:abroad:{txn.id}", text, "warning")
    if online and enabled(rules, ONLINE):
        text = f"Online purchase on {label}: {who}, {-txn.amount} (card not present)."
        return Alert(ONLINE, f"alert:online:{txn.id}", text, "info")
    return None
