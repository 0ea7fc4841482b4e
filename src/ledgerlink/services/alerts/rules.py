"""Alert rules and alerts: a few quiet, sensible notices on top of the bank thread's cards.

Rules (table `alert_rules`, parameters sealed through `access`):

* a *switch* row per kind (`low_balance`, `large_purchase`, `deposit`, `fee`), account None:
  its `enabled` turns the kind on or off; its `amount` (thresholds only) applies to every account;
* `low_balance` rows for one account: that account's threshold (wins over the switch's);
* `mute_merchant` rows (`merchant`), one `quiet_hours` row (`start`, `end`: hours in `persons.zone`);
* one `state` row: the accounts currently below their threshold (so a low balance alerts once
  per crossing) and the "Not helpful" counters per kind (nothing else is kept about feedback).

Without rules: low balance below 50 on checking accounts, purchases above 500, deposits and
fees on. Thresholds are amounts in each account's own currency. Message templates (ADR 0014):
declined cards and international purchases on (the `international` switch may keep a `home`
country), online / card-not-present purchases off.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import structlog

from ledgerlink.domain import digest_schedule
from ledgerlink.domain.alerts import (
    ABROAD,
    DECLINED,
    DEFAULT_LARGE,
    DEPOSIT,
    FEE,
    LARGE,
    LOW,
    MUTE,
    ONLINE,
    QUIET,
    STATE,
    SWITCHES,
    Alert,
    AlertRule,
    _money,
    _switch,
    card_alert,
    crossing,
    enabled,
    in_quiet_hours,
    threshold,
    transaction_alert,
)
from ledgerlink.domain.banking import AccountView, TransactionStatus
from ledgerlink.domain.cards import account_label, text_card
from ledgerlink.domain.countries import country_name, find_country
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.insight_rules import INSIGHT_SWITCHES
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.access.vault import PersonKeyMissing
from ledgerlink.services.alerts import digests
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.outgoing import put_card

log = structlog.get_logger(__name__)


# --------------------------------------------------------------------------- delivery


async def _send(
    deps: Deps, uow: UnitOfWork, grant: Grant, thread: Any, alert: Alert, rules: list[AlertRule]
) -> None:
    if await uow.threads.message_by_subject(thread.id, alert.subject_key) is not None:
        return  # once per fact: a later report of the same purchase never re-alerts

    if await digests.is_held(uow, thread.id, alert.subject_key):
        return  # held in quiet hours: it reaches the person once, in the digest
    text, tone = alert.text, alert.tone
    quiet = next((r for r in rules if r.kind == QUIET and r.enabled), None)
    # Fraud prompts never come through here (services/dialogue/), so they are never held.
    if quiet is not None:  # issue 13: quiet hours on the wall clock of the person's zone
        zone = await digests.chosen_zone(uow, grant.person_id)
        quiet = replace(quiet, params={**quiet.params, "zone": zone})
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
        view = await access.read_account(deps.vault, uow, grant, Purpose.DELIVER_UPDATE,
                                         record.account_id, at=now)
        rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
    except (NotFound, PersonKeyMissing):
        return
    linked = None if txn.amount.is_negative() else await uow.shop_receipts.refund(record.id)  # money in
    alert = transaction_alert(txn, view, rules, refund_of=linked.original_transaction_id if linked else None)
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
    banks: dict[str, str] = field(default_factory=dict)  # link id -> bank name (issue 13)

    def named(self, account: AccountView) -> str:  # "Everyday Checking ••1234 · Sandbox Bank"
        bank = self.banks.get(account.link_id)
        return account_label(account) + (f" · {bank}" if bank else "")

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
                f"Low balance on {self.named(a)}: "
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
            out.append(f"Quiet hours: {q['start']:02d}:00 to {q['end']:02d}:00")
        return out


async def overview(deps: Deps, grant: Grant) -> Overview:
    now = deps.clock.now()
    async with deps.uow() as uow:
        accounts = await access.read_accounts(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        threads = await uow.threads.for_person(grant.person_id)
        await uow.commit()
    banks = {t.link_id: t.title for t in threads if t.link_id is not None}
    large = (
        threshold(rules, LARGE, accounts[0])
        if accounts
        else (DEFAULT_LARGE if enabled(rules, LARGE) else None)
    )
    return Overview(
        accounts=accounts, rules=rules, low={a.id: threshold(rules, LOW, a) for a in accounts}, large=large,
        banks=banks,
    )


async def change(
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
        raise InvalidInput("Only low balance and large purchase alerts have an amount.",
                           code="bad_alert_kind")
    await change(
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
    await change(deps, grant, kind, on=on)


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


async def set_quiet_hours(deps: Deps, grant: Grant, *, start: str, end: str) -> None:
    """Quiet hours in the person's zone (issue 13: the fixed UTC offset is gone)."""
    await change(deps, grant, QUIET, params=digest_schedule.quiet_values(start, end), on=True)


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
    await change(deps, grant, ABROAD, params={"home": code})
    return code


async def record_feedback(deps: Deps, grant: Grant, kind: str) -> None:
    """ "Not helpful": one counter per kind in the person's state row, nothing else."""
    if kind not in SWITCHES and kind not in INSIGHT_SWITCHES:
        raise InvalidInput(f"{kind[:40]!r} is not a kind of alert.", code="bad_alert_kind")
    now = deps.clock.now()
    async with deps.uow() as uow:
        rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        state = next((r for r in rules if r.kind == STATE), None)
        counts = dict(state.params.get("not_helpful", {})) if state else {}
        counts[kind] = int(counts.get(kind, 0)) + 1
        await _save_state(deps, uow, grant, state, not_helpful=counts)
        await deps.commit_and_publish(uow)
