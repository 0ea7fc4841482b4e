"""Insight alerts on a new or changed transaction (issue 13): a subscription's price increase,
a free trial turned paid, a duplicate charge, an unusual tip, and budget warnings.

Subscribed to `TransactionChanged` (bootstrap/wiring.py), in its own unit of work after the
transaction's card was delivered. The history a link brings is stored quietly and publishes no
such event, so nothing is raised for history. Each finding is raised once: its subject key
names the activity that raised it (`insight:<kind>:<transaction id>`), and `rules.send` keeps
quiet hours and never repeats a subject. A muted merchant, or a kind switched off, says nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.activity import Activity
from ledgerlink.domain.alerts import MUTE, Alert, AlertRule, enabled
from ledgerlink.domain.answer_text import activities
from ledgerlink.domain.banking import LinkStatus, TransactionStatus
from ledgerlink.domain.categories import Correction
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.events import TransactionChanged
from ledgerlink.domain.insight_rules import (
    INSIGHT_SWITCHES,
    Duplicate,
    PriceIncrease,
    TrialEnded,
    Unopened,
    UnusualTip,
    duplicate_candidates,
    duplicates,
    in_series_order,
    known_nonzero,
    price_increases,
    same_amount_candidates,
    same_day_before,
    trial_candidate,
    trials_turned_paid,
    unusual_tips,
)
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.recurring import detect
from ledgerlink.services import access
from ledgerlink.services.access.vault import PersonKeyMissing
from ledgerlink.services.alerts import budgets, rules
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork

log = structlog.get_logger(__name__)

PRICE, TRIAL, DUPLICATE, TIP = "price_increase", "trial_paid", "duplicate_charge", "unusual_tip"
HISTORY_DAYS = 400  # a yearly subscription's previous charge is in reach


def _price_text(p: PriceIncrease) -> tuple[str, str]:
    return PRICE, f"{p.merchant} went from {fmt.money(p.before)} to {fmt.money(p.after)}."


def _trial_text(t: TrialEnded) -> tuple[str, str]:
    return TRIAL, (f"Your free trial at {t.merchant} turned paid: {fmt.money(t.paid)} "
                   f"charged (the trial on {fmt.day(t.trial_day)} was {fmt.money(t.trial)}).")


def _duplicate_text(d: Duplicate) -> tuple[str, str]:
    minutes = max(1, round(d.gap / timedelta(minutes=1)))
    return DUPLICATE, (f"Possible duplicate charge: {d.merchant} charged {fmt.money(d.amount)} "
                       f"twice within {minutes} minute{'s' if minutes != 1 else ''}.")


def _tip_text(tip: UnusualTip) -> tuple[str, str]:
    return TIP, (f"Unusual tip at {tip.merchant}: authorised {fmt.money(tip.authorised)}, "
                 f"posted {fmt.money(tip.posted)} (a {fmt.money(tip.tip)} tip, "
                 f"{fmt.percent(tip.share)}).")


def findings(acts: list[Activity], this: Activity) -> list[tuple[str, str]]:
    """(kind, text) of every finding that `this` activity raised, in the messenger's locale,
    over the whole history `acts` (the reference `series_findings` gives the same from less)."""
    today = this.day
    out = [_price_text(p) for p in price_increases(detect(acts, today=today)) if p.activity_id == this.id]
    out += [_trial_text(t) for t in trials_turned_paid(acts) if t.activity_id == this.id]
    out += [_duplicate_text(d) for d in duplicates(acts) if d.activity_id == this.id]
    out += [_tip_text(tip) for tip in unusual_tips([this])]
    return out


Opener = Callable[[list[str]], Awaitable[list[Activity]]]


def _growing(ids: list[str]) -> Iterator[list[str]]:
    """1, 2, 4, ... ids at a time: the first row usually decides, and a long run of candidates
    is still opened in few reads (each read is one audit entry)."""
    size, i = 1, 0
    while i < len(ids):
        yield ids[i : i + size]
        i, size = i + size, size * 2


async def series_findings(rows: list[Unopened], this: Activity, open_rows: Opener, *,
                          zero: str | None = None) -> list[tuple[str, str]]:
    """`findings(history, this)`, from the rows of `this`'s series only (`rows`, unopened,
    `this` among them), opening (`open_rows`, in the order given) only what a rule can need:
    the charge before it in the duplicate window with its amount, the first charge when `this`
    is the second, and the whole series only when `this` is its first charge of the day. Rows'
    amount tokens (`Unopened.amount`; `zero`: a zero amount's) spare opening the rows they tell
    about."""
    ordered = in_series_order(rows)
    me = next(r for r in ordered if r.id == this.id)
    out: list[tuple[str, str]] = []
    repeat, unknown = known_nonzero(rows, same_day_before(ordered, me), zero)
    for chunk in _growing(unknown):
        if any(a.size != 0 for a in await open_rows(chunk)):
            repeat = True  # a same-day repeat is not one of the series' charges
            break
    if not repeat and ordered[0].id != this.id:
        series = [this, *await open_rows([r.id for r in ordered if r.id != this.id])]
        out += [_price_text(p) for p in price_increases(detect(series, today=this.day))
                if p.activity_id == this.id]
    first = trial_candidate(ordered, this.id)
    if first is not None:
        out += [_trial_text(t) for t in trials_turned_paid([*await open_rows([first]), this])
                if t.activity_id == this.id]
    before: Activity | None = None
    for chunk in _growing(same_amount_candidates(rows, duplicate_candidates(rows, me), me)):
        before = next((a for a in await open_rows(chunk)
                       if not a.money_in and a.size > 0 and a.amount == this.amount), None)
        if before is not None:
            out += [_duplicate_text(d) for d in duplicates([before, this]) if d.activity_id == this.id]
            break
    out += [_tip_text(tip) for tip in unusual_tips([this])]
    return out


async def set_enabled(deps: Deps, grant: Grant, kind: str, on: bool) -> None:
    """Turn one kind of insight alert on or off (the settings page's switch); off: never sent."""
    if kind not in INSIGHT_SWITCHES:
        raise InvalidInput(f"{kind[:40]!r} is not a kind of insight alert.", code="bad_alert_kind")
    await rules.change(deps, grant, kind, on=on)


def _muted(rules_list: list[AlertRule], merchant: str) -> bool:
    name = merchant.lower()
    return any(r.kind == MUTE and str(r.params.get("merchant", "")) in name for r in rules_list)


@dataclass(slots=True)
class Shared:
    """What the evaluations in one unit of work share (`on_transactions_changed`): each
    account's untagged rows are scanned once, and each person's alert rules, corrections and
    tag key read once (one audit entry each), at its start, as one evaluation reads them."""

    scanned: set[str] = field(default_factory=set)
    person: dict[str, tuple[list[AlertRule], dict[str, Correction], access.SeriesTags]] = field(
        default_factory=dict)


async def _person_reads(deps: Deps, uow: UnitOfWork, grant: Grant, shared: Shared | None, *,
                        at: datetime) -> tuple[list[AlertRule], dict[str, Correction], access.SeriesTags]:
    known = None if shared is None else shared.person.get(grant.person_id)
    if known is not None:
        return known
    rules_list = await access.read_alert_rules(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=at)
    said = await access.read_corrections(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=at)
    tags = await access.series_tags(deps.vault, uow, grant.person_id, at=at)
    if shared is not None:
        shared.person[grant.person_id] = (rules_list, said, tags)
    return rules_list, said, tags


async def evaluate(deps: Deps, uow: UnitOfWork, *, person_id: str, transaction_id: str,
                   shared: Shared | None = None) -> None:
    """Raise the insight alerts of one transaction, inside the caller's unit of work (`shared`:
    what the other evaluations of this unit of work read already)."""
    grant = Grant.for_component(person_id, "insights")
    now = deps.clock.now()
    record = await uow.transactions.get(transaction_id)
    account = None if record is None else await uow.accounts.get(record.account_id)
    link = None if account is None else await uow.links.get(account.link_id)
    thread = None if account is None else await uow.threads.for_link(account.link_id)
    if (record is None or account is None or thread is None or link is None
            or link.status != LinkStatus.ACTIVE.value or record.status == TransactionStatus.REMOVED.value):
        return
    try:
        txn = await access.read_transaction(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, record.id, at=now)
        if not txn.amount.is_negative():
            return  # money in raises no insight: its history is never read
        rules_list, said, tags = await _person_reads(deps, uow, grant, shared, at=now)
        start, end = now.date() - timedelta(days=HISTORY_DAYS), now.date() + timedelta(days=1)
        # Only this charge's series is read (ADR 0033): the rows whose blind-index tag (merchant,
        # currency, direction) is this one's; rows new or changed since they were tagged are
        # tagged first.
        if shared is None or account.id not in shared.scanned:
            await access.tag_transactions(deps.vault, uow, grant, Purpose.DELIVER_UPDATE,
                                          account_id=account.id, start=start, end=end, tags=tags,
                                          opened=[txn], at=now)
            if shared is not None:
                shared.scanned.add(account.id)
        rows = [Unopened(r.id, r.booking_date or r.created_at.date(), r.created_at, r.amount_tag)
                for r in await uow.insights.tagged(account.id, tags.of(txn), start, end)]
        zero = tags.amount_of(txn, minor=0)
    except (NotFound, PersonKeyMissing):
        return
    this = next(iter(activities([txn], said)), None) if any(r.id == txn.id for r in rows) else None
    alerts: list[Alert] = []
    if this is not None and not _muted(rules_list, this.merchant):
        opened: dict[str, Activity] = {this.id: this}

        async def open_rows(ids: list[str]) -> list[Activity]:
            stored = await uow.transactions.get_many([i for i in ids if i not in opened])
            wanted = [stored[i] for i in ids if i in stored]
            txns = await access.open_transactions(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, wanted,
                                                  account_id=account.id, at=now)
            opened.update((a.id, a) for a in activities(txns, said))
            return [opened[i] for i in ids if i in opened]

        found = await series_findings(rows, this, open_rows, zero=zero)
        alerts += [Alert(kind, f"insight:{kind}:{txn.id}", text, "warning")
                   for kind, text in found if enabled(rules_list, kind)]
    alerts += await budgets.warnings(deps, uow, grant, txn, said, rules_list)  # each level marked once
    if not alerts:
        return  # nothing to send: no lock taken, so this never waits on (or deadlocks with) a batch
    # Idempotent under redelivery (issue 12): a JetStream redelivery can run while the first
    # delivery still works on another worker. With the thread locked (PostgreSQL; SQLite's
    # writer holds the database already) the second waits, then sees the first's alert by its
    # subject key and says nothing, where it would otherwise insert the same subject and fail.
    locked = await uow.threads.lock(thread.id)
    if locked is None:
        return
    for alert in alerts:
        await rules.send(deps, uow, grant, locked, alert, rules_list)


async def on_transaction_changed(deps: Deps, event: TransactionChanged) -> None:
    """The bus handler: isolated, idempotent (each finding's subject is raised once, also when
    deliveries of one event overlap: `evaluate` locks the thread before it sends)."""
    async with deps.uow() as uow:
        await evaluate(deps, uow, person_id=event.person_id, transaction_id=event.transaction_id)
        await deps.commit_and_publish(uow)


async def on_transactions_changed(deps: Deps, events: Sequence[TransactionChanged]) -> None:
    """The bus handler's calls that arrived together (`kernel.batching.Batcher`, wired in
    bootstrap): one unit of work and one commit for all. The events of an inbox batch were all
    committed before they were published, so one scan per account tags every one of their rows.
    A failure here makes the batcher evaluate each event alone (`on_transaction_changed`)."""
    shared = Shared()
    async with deps.uow() as uow:
        for event in events:
            await evaluate(deps, uow, person_id=event.person_id, transaction_id=event.transaction_id,
                           shared=shared)
        await deps.commit_and_publish(uow)
