"""Alert rules and alerts: a few quiet, sensible notices on top of the bank thread's cards.

Rules (table `alert_rules`, parameters sealed through `access`):

* a *switch* row per kind (`low_balance`, `large_purchase`, `deposit`, `fee`), account None:
  its `enabled` turns the kind on or off; its `amount` (thresholds only) applies to every account;
* `low_balance` rows for one account: that account's threshold (wins over the switch's);
* `mute_merchant` rows (`merchant`), one `quiet_hours` row (`start`, `end`, `utc_offset`);
* one `state` row: the accounts currently below their threshold (so a low balance alerts once
  per crossing) and the "Not helpful" counters per kind (nothing else is kept about feedback).

Without rules: low balance below 50 on checking accounts, purchases above 500, deposits and
fees on. Thresholds are amounts in each account's own currency. Message templates (ADR 0014):
declined cards and international purchases on (the `international` switch may keep a `home`
country), online / card-not-present purchases off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from ledgerlink.domain.banking import AccountType, Transaction, TransactionStatus
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.access import AccountView, AlertRule
from ledgerlink.services.cards import account_label, text_card
from ledgerlink.services.countries import country_name, currency_countries, find_country
from ledgerlink.services.deps import Deps
from ledgerlink.services.linking import put_card
from ledgerlink.services.ports import UnitOfWork
from ledgerlink.services.vault import PersonKeyMissing

log = structlog.get_logger(__name__)

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


# --------------------------------------------------------------------------- pure rules


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


def is_deposit(txn: Transaction) -> bool:
    return txn.status is TransactionStatus.POSTED and txn.amount.amount > 0


def crossing(*, below: bool, was_below: bool) -> bool | None:
    """The low-balance state machine: True = alert now, False = re-arm, None = nothing to do."""
    if below == was_below:
        return None
    return below


def in_quiet_hours(now: datetime, params: dict[str, Any]) -> bool:
    start, end = int(params["start"]), int(params["end"])
    hour = (now + timedelta(hours=int(params["utc_offset"]))).hour
    if start == end:
        return False
    return start <= hour < end if start < end else (hour >= start or hour < end)


def _money(amount: Decimal, currency: str) -> str:
    try:
        return str(Money.parse(amount, currency))
    except InvalidInput:
        return f"{amount} {currency}"


def transaction_alert(txn: Transaction, account: AccountView, rules: list[AlertRule]) -> Alert | None:
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
    if is_deposit(txn) and enabled(rules, DEPOSIT):
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


# --------------------------------------------------------------------------- delivery


async def _send(
    deps: Deps, uow: UnitOfWork, grant: Grant, thread: Any, alert: Alert, rules: list[AlertRule]
) -> None:
    if await uow.threads.message_by_subject(thread.id, alert.subject_key) is not None:
        return  # once per fact: a later report of the same purchase never re-alerts
    from ledgerlink.services import digests  # appended; header as is

    if await digests.is_held(uow, thread.id, alert.subject_key):
        return  # held in quiet hours: it reaches the person once, in the digest
    text, tone = alert.text, alert.tone
    quiet = next((r for r in rules if r.kind == QUIET and r.enabled), None)
    # Fraud prompts never come through here (services/prompts.py), so they are never held.
    held = quiet is not None and in_quiet_hours(deps.clock.now(), quiet.params)
    if quiet is not None and held:
        await digests.hold(deps, uow, grant, thread, kind=alert.kind, text=text,
                           subject_key=alert.subject_key, quiet=quiet.params)
        return  # stored, not delivered: the next digest (or "While you were away") has it
    body = text_card(
        text,
        tone=tone,
        actions=[
            {"label": "Not helpful", "href": f"/alerts/feedback?kind={alert.kind}"},
            {"label": "Alert settings", "href": "/settings/alerts"},
        ],
    )
    body.update({**alert.extra, "alert": alert.kind, "held": held})
    await put_card(deps, uow, grant, thread, alert.card, body, subject_key=alert.subject_key)


async def send(
    deps: Deps, uow: UnitOfWork, grant: Grant, thread: Any, alert: Alert, rules: list[AlertRule]
) -> None:
    """Send an alert decided elsewhere (a declined card), once per subject, quiet hours kept."""
    await _send(deps, uow, grant, thread, alert, rules)


async def evaluate_transaction(deps: Deps, uow: UnitOfWork, *, person_id: str, transaction_id: str) -> None:
    """Alert about a delivered transaction if a rule asks for it, inside the caller's unit of work."""
    grant = Grant.for_component(person_id, "alerts")
    now = deps.clock.now()
    record = await uow.transactions.get(transaction_id)
    account = None if record is None else await uow.accounts.get(record.account_id)
    thread = None if account is None else await uow.threads.for_link(account.link_id)
    if record is None or thread is None or record.status == TransactionStatus.REMOVED.value:
        return
    try:
        txn = await access.read_transaction(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, record.id, at=now)
        view = await access.read_account(
            deps.vault, uow, grant, Purpose.DELIVER_UPDATE, record.account_id, at=now
        )
        rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
    except (NotFound, PersonKeyMissing):
        return
    alert = transaction_alert(txn, view, rules)
    if alert is not None:
        await _send(deps, uow, grant, thread, alert, rules)
    card = card_alert(txn, view, rules)  # international / online: their own facts
    if card is not None:
        await _send(deps, uow, grant, thread, card, rules)


async def evaluate_balance(deps: Deps, uow: UnitOfWork, *, person_id: str, account_id: str) -> None:
    """Alert once when the balance crosses below the threshold; re-arm when it is back above."""
    grant = Grant.for_component(person_id, "alerts")
    now = deps.clock.now()
    account = await uow.accounts.get(account_id)
    thread = None if account is None else await uow.threads.for_link(account.link_id)
    if thread is None:
        return
    try:
        view = await access.read_account(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, account_id, at=now)
        rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
    except (NotFound, PersonKeyMissing):
        return
    if view.balance is None:
        return
    value = view.balance.available or view.balance.current
    limit = threshold(rules, LOW, view)
    try:
        below = limit is not None and value < Money.parse(limit, value.currency)
    except InvalidInput:
        below = False
    state = next((r for r in rules if r.kind == STATE), None)
    below_ids = set(state.params.get("below", [])) if state else set()
    change = crossing(below=below, was_below=account_id in below_ids)
    if change is None:
        return
    below_ids = below_ids | {account_id} if change else below_ids - {account_id}
    await _save_state(deps, uow, grant, state, below=sorted(below_ids))
    if change and limit is not None:
        text = (
            f"Low balance: {account_label(view)} is at {value}, below your "
            f"{_money(limit, value.currency)} alert."
        )
        key = f"alert:low:{account_id}:{view.balance.as_of.date().isoformat()}"
        await _send(deps, uow, grant, thread, Alert(LOW, key, text, "warning"), rules)


async def _save_state(
    deps: Deps, uow: UnitOfWork, grant: Grant, state: AlertRule | None, **changes: Any
) -> None:
    params = {"below": [], "not_helpful": {}, **(state.params if state else {}), **changes}
    await access.store_alert_rule(
        deps.vault,
        uow,
        grant,
        kind=STATE,
        params=params,
        enabled=False,
        rule_id=None if state is None else state.id,
        at=deps.clock.now(),
    )


# --------------------------------------------------------------------------- the person's settings


@dataclass(frozen=True, slots=True)
class Overview:
    """The person's effective alert settings, for the settings page and "my alerts"."""

    accounts: list[AccountView]
    rules: list[AlertRule]
    low: dict[str, Decimal | None] = field(default_factory=dict)  # account id -> threshold
    large: Decimal | None = None

    def on(self, kind: str) -> bool:
        return enabled(self.rules, kind)

    @property
    def muted(self) -> list[AlertRule]:
        return [r for r in self.rules if r.kind == MUTE]

    @property
    def quiet(self) -> dict[str, Any] | None:
        rule = next((r for r in self.rules if r.kind == QUIET), None)
        return None if rule is None else rule.params

    @property
    def home(self) -> str | None:
        """The home country the person set for international purchases (None: from currency)."""
        switch = _switch(self.rules, ABROAD)
        home = None if switch is None else switch.params.get("home")
        return str(home) if home else None

    @property
    def low_all(self) -> Decimal | None:
        switch = _switch(self.rules, LOW)
        return (
            None
            if switch is None or switch.params.get("amount") is None
            else Decimal(str(switch.params["amount"]))
        )

    def lines(self) -> list[str]:
        out = []
        for a in self.accounts:
            limit = self.low.get(a.id)
            out.append(
                f"Low balance on {account_label(a)}: "
                + ("off" if limit is None else f"below {_money(limit, a.currency)}")
            )
        out.append("Large purchases: " + ("off" if self.large is None else f"above {self.large}"))
        out.append(f"Deposits: {'on' if self.on(DEPOSIT) else 'off'}")
        out.append(f"Fees: {'on' if self.on(FEE) else 'off'}")
        out.append(f"Declined cards: {'on' if self.on(DECLINED) else 'off'}")
        home = f" (home: {country_name(self.home)})" if self.home else ""
        out.append(f"International purchases: {'on' + home if self.on(ABROAD) else 'off'}")
        out.append(f"Online purchases: {'on' if self.on(ONLINE) else 'off'}")
        if self.muted:
            out.append("Muted merchants: " + ", ".join(str(r.params["merchant"]) for r in self.muted))
        if self.quiet:
            q = self.quiet
            out.append(f"Quiet hours: {q['start']:02d}:00 to {q['end']:02d}:00 (UTC{q['utc_offset']:+d})")
        return out


async def overview(deps: Deps, grant: Grant) -> Overview:
    now = deps.clock.now()
    async with deps.uow() as uow:
        accounts = await access.read_accounts(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        await uow.commit()
    large = (
        threshold(rules, LARGE, accounts[0])
        if accounts
        else (DEFAULT_LARGE if enabled(rules, LARGE) else None)
    )
    return Overview(
        accounts=accounts, rules=rules, low={a.id: threshold(rules, LOW, a) for a in accounts}, large=large
    )


async def _change(
    deps: Deps,
    grant: Grant,
    kind: str,
    *,
    account_id: str | None = None,
    params: dict[str, Any] | None = None,
    on: bool | None = None,
) -> None:
    """Upsert the rule of `kind` for `account_id`, merging `params` and setting `on`."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        rule = next((r for r in rules if r.kind == kind and r.account_id == account_id), None)
        merged = {**(rule.params if rule else {}), **(params or {})}
        keep_on = rule.enabled if rule else True
        await access.store_alert_rule(
            deps.vault,
            uow,
            grant,
            kind=kind,
            params=merged,
            account_id=account_id,
            enabled=keep_on if on is None else on,
            rule_id=rule.id if rule else None,
            at=now,
        )
        if account_id is not None and kind in SWITCHES and not enabled(rules, kind):
            switch = _switch(rules, kind)
            assert switch is not None
            await access.store_alert_rule(
                deps.vault, uow, grant, kind=kind, params=switch.params, rule_id=switch.id, at=now
            )  # a new threshold turns the kind on
        await deps.commit_and_publish(uow)


async def set_threshold(
    deps: Deps, grant: Grant, kind: str, amount: Decimal, *, account_id: str | None = None
) -> None:
    if kind not in (LOW, LARGE):
        raise InvalidInput(
            "Only low balance and large purchase alerts have an amount.", code="bad_alert_kind"
        )
    await _change(
        deps,
        grant,
        kind,
        account_id=account_id,
        params={"amount": str(amount)},
        on=True if account_id is None else None,
    )


async def set_enabled(deps: Deps, grant: Grant, kind: str, on: bool) -> None:
    if kind not in SWITCHES:
        raise InvalidInput("Unknown kind of alert.", code="bad_alert_kind")
    await _change(deps, grant, kind, on=on)


def _merchant(name: str) -> str:
    cleaned = " ".join(name.lower().split())
    if not 2 <= len(cleaned) <= 80:
        raise InvalidInput("Enter a merchant name between 2 and 80 characters.", code="bad_merchant")
    return cleaned


async def mute(deps: Deps, grant: Grant, merchant: str) -> str:
    name = _merchant(merchant)
    view = await overview(deps, grant)
    if not any(r.params.get("merchant") == name for r in view.muted):
        async with deps.uow() as uow:
            await access.store_alert_rule(
                deps.vault, uow, grant, kind=MUTE, params={"merchant": name}, at=deps.clock.now()
            )
            await deps.commit_and_publish(uow)
    return name


async def unmute(deps: Deps, grant: Grant, merchant: str) -> bool:
    name = _merchant(merchant)
    ids = [r.id for r in (await overview(deps, grant)).muted if r.params.get("merchant") == name]
    async with deps.uow() as uow:
        for rule_id in ids:
            await uow.alert_rules.delete(grant.person_id, rule_id)
        await deps.commit_and_publish(uow)
    return bool(ids)


async def delete_rule(deps: Deps, grant: Grant, rule_id: str) -> None:
    """Remove one of the person's rules (an account threshold, a muted merchant, quiet hours)."""
    async with deps.uow() as uow:
        if not await uow.alert_rules.delete(grant.person_id, rule_id):
            raise NotFound("alert rule not found")
        await deps.commit_and_publish(uow)


async def set_quiet_hours(deps: Deps, grant: Grant, *, start: str, end: str, utc_offset: str) -> None:
    try:
        values = {"start": int(start), "end": int(end), "utc_offset": int(utc_offset)}
    except ValueError:
        raise InvalidInput("Quiet hours are whole hours, such as 22 and 7.", code="bad_quiet_hours") from None
    if not (0 <= values["start"] <= 23 and 0 <= values["end"] <= 23):
        raise InvalidInput("Quiet hours go from 0 to 23.", code="bad_quiet_hours")
    if not -12 <= values["utc_offset"] <= 14:
        raise InvalidInput("The UTC offset goes from -12 to +14.", code="bad_quiet_hours")
    await _change(deps, grant, QUIET, params=values, on=True)


async def set_home_country(deps: Deps, grant: Grant, text: str) -> str | None:
    """The person's home country for international-purchase alerts ("DE", "Germany"); an
    empty text goes back to the account currency's countries. Returns the code kept."""
    code = None
    if text.strip():
        code = find_country(text)
        if code is None:
            raise InvalidInput(
                "Enter a country as a two-letter code or a name, such as DE or Germany.",
                code="bad_country",
            )
    await _change(deps, grant, ABROAD, params={"home": code})
    return code


async def record_feedback(deps: Deps, grant: Grant, kind: str) -> None:
    """ "Not helpful": one counter per kind in the person's state row, nothing else."""
    if kind not in SWITCHES:
        raise InvalidInput("Unknown kind of alert.", code="bad_alert_kind")
    now = deps.clock.now()
    async with deps.uow() as uow:
        rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        state = next((r for r in rules if r.kind == STATE), None)
        counts = dict(state.params.get("not_helpful", {})) if state else {}
        counts[kind] = int(counts.get(kind, 0)) + 1
        await _save_state(deps, uow, grant, state, not_helpful=counts)
        await deps.commit_and_publish(uow)
