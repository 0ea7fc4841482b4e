"""The insight rules over recurring payments and single charges (pure): what to raise.

Amounts in findings are the charged sizes, positive Money ("went from 15.49 USD to 17.99 USD");
each finding names the activity that raised it, the key the caller dedupes on (raise once).

* price increase: a subscription's charge is more than 1 % above the one before it;
* trial turned paid: a merchant's first charge is zero or tiny (at most 10 % of the next) and
  the next one, 3 to 40 days later, is the full price; everyday spending is left out;
* duplicate: the same account, merchant and amount charged again within 10 minutes;
* unusual tip: at a restaurant (MCC 5811-5814, or a restaurant-like category when the bank gave
  no code) the posted amount is more than 30 % above the authorised one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from ledgerlink.domain.activity import Activity
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.recurring import EVERYDAY, SAME_AMOUNT, Kind, Recurring, series

DUPLICATE_WINDOW = timedelta(minutes=10)
TRIAL_SHARE = Decimal("0.10")  # a trial charge is at most 10 % of the first full one
TRIAL_DAYS = (3, 40)  # the full charge follows the trial within these many days
TIP_UNUSUAL = Decimal("0.30")  # more than 30 % over the authorised amount
RESTAURANT_MCCS = frozenset({"5811", "5812", "5813", "5814"})
_RESTAURANT_LIKE = frozenset({Category.RESTAURANTS, Category.BARS, Category.FAST_FOOD, Category.COFFEE})

# Every insight alert kind has its own on/off switch (an `alert_rules` switch row of that kind;
# on until turned off), as the alert settings page words it: kind -> (label, hint).
INSIGHT_SWITCHES: dict[str, tuple[str, str]] = {
    "price_increase": ("Subscription price increases", "A subscription charges more than the time before."),
    "trial_paid": ("Free trials turning paid", "A first tiny charge is followed by the full price."),
    "duplicate_charge": ("Duplicate charges", "The same merchant and amount twice within minutes."),
    "unusual_tip": ("Unusual tips", "A restaurant's posted amount is well above what was authorised."),
    "low_balance_forecast": ("Forecast low balance",
                             "Ahead of time, when bills and income point to a low balance."),
    "budget": ("Budget warnings", "At 80% and at 100% of a category's monthly budget."),
}

# One alert of each kind in words, as "Not helpful" names the one the person marked.
INSIGHT_WORDS: dict[str, str] = {
    "price_increase": "subscription price increase", "trial_paid": "free trial turning paid",
    "duplicate_charge": "duplicate charge", "unusual_tip": "unusual tip",
    "low_balance_forecast": "forecast low balance", "budget": "budget warning",
}


def _size(a: Activity) -> Money:
    return Money(a.size, a.amount.currency)


@dataclass(frozen=True, slots=True)
class PriceIncrease:
    activity_id: str  # the first charge at the new price
    merchant_key: str
    merchant: str
    before: Money
    after: Money
    on: date


@dataclass(frozen=True, slots=True)
class TrialEnded:
    activity_id: str  # the first full charge
    trial_activity_id: str
    merchant_key: str
    merchant: str
    trial: Money
    paid: Money
    trial_day: date
    paid_day: date


@dataclass(frozen=True, slots=True)
class Duplicate:
    activity_id: str  # the second charge
    first_activity_id: str
    merchant_key: str
    merchant: str
    amount: Money
    gap: timedelta


@dataclass(frozen=True, slots=True)
class UnusualTip:
    activity_id: str
    merchant_key: str
    merchant: str
    authorised: Money
    posted: Money
    tip: Money
    share: Decimal  # tip / authorised, e.g. 0.40


def price_increases(found: Iterable[Recurring]) -> list[PriceIncrease]:
    """Every step up in price of a subscription, oldest first."""
    out: list[PriceIncrease] = []
    for item in found:
        if item.kind is not Kind.SUBSCRIPTION:
            continue
        for before, after in pairwise(item.charges):
            if after.size > before.size * (1 + SAME_AMOUNT):
                out.append(PriceIncrease(after.id, item.merchant_key, after.merchant,
                                         _size(before), _size(after), after.day))
    return sorted(out, key=lambda p: (p.on, p.activity_id))


def trials_turned_paid(activities: Iterable[Activity]) -> list[TrialEnded]:
    out: list[TrialEnded] = []
    for (_, _, money_in), items in sorted(series(activities).items()):
        if money_in or len(items) < 2 or items[0].category in EVERYDAY:
            continue
        trial, paid = items[0], items[1]
        gap = (paid.day - trial.day).days
        if (paid.size > 0 and trial.size <= TRIAL_SHARE * paid.size
                and TRIAL_DAYS[0] <= gap <= TRIAL_DAYS[1]):
            out.append(TrialEnded(paid.id, trial.id, paid.merchant_key, paid.merchant, _size(trial),
                                  _size(paid), trial.day, paid.day))
    return out


def duplicates(activities: Iterable[Activity], *, window: timedelta = DUPLICATE_WINDOW) -> list[Duplicate]:
    groups: dict[tuple[str, str, Money], list[Activity]] = defaultdict(list)
    for a in activities:
        if not a.money_in and a.size > 0:
            groups[(a.account_id, a.merchant_key, a.amount)].append(a)
    out: list[Duplicate] = []
    for items in groups.values():
        items.sort(key=lambda a: (a.at, a.id))
        for first, second in pairwise(items):
            if second.at - first.at <= window:
                out.append(Duplicate(second.id, first.id, second.merchant_key, second.merchant,
                                     _size(second), second.at - first.at))
    return sorted(out, key=lambda d: d.activity_id)


def _at_restaurant(a: Activity) -> bool:
    return a.mcc in RESTAURANT_MCCS if a.mcc else a.category in _RESTAURANT_LIKE


def unusual_tips(activities: Iterable[Activity], *, threshold: Decimal = TIP_UNUSUAL) -> list[UnusualTip]:
    out: list[UnusualTip] = []
    for a in activities:
        if a.authorised is None or a.money_in or not _at_restaurant(a):
            continue
        authorised = abs(a.authorised.amount)
        if authorised == 0 or a.authorised.currency != a.amount.currency:
            continue
        tip = a.size - authorised
        share = tip / authorised
        if share > threshold:
            out.append(UnusualTip(a.id, a.merchant_key, a.merchant,
                                  Money(authorised, a.amount.currency), _size(a),
                                  Money(tip, a.amount.currency), share.quantize(Decimal("0.01"))))
    return sorted(out, key=lambda t: t.activity_id)


# --------------------------------------------------------------------------- one series, unopened
# The insight consumer reads only the rows of the new charge's series (its merchant, currency and
# direction: a blind index, ADR 0033), and of those only what a rule can need. Every rule above
# looks at one series: a price increase at the series, a trial at its first two charges, a
# duplicate at the charge just before within the window. These say which rows those are from
# what is stored in clear (ids, days, instants), before any row is opened.


@dataclass(frozen=True, slots=True)
class Unopened:
    """A stored row of the series: its id, bank day and first-seen instant, as `Activity` has
    them (`day`, `at`), and an opaque token of its amount (`amount`: rows of one series have
    equal tokens exactly when their amounts are equal; None when unknown, then only opening
    the row tells)."""

    id: str
    day: date
    at: datetime
    amount: str | None = None


def same_amount_candidates(rows: Iterable[Unopened], ids: Sequence[str], this: Unopened) -> list[str]:
    """Of `ids` (in their order), the rows that may have `this` row's amount: every one when
    its token or this one's is unknown, else those with the same token."""
    if this.amount is None:
        return list(ids)
    tokens = {r.id: r.amount for r in rows}
    return [i for i in ids if tokens.get(i) in (None, this.amount)]


def known_nonzero(rows: Iterable[Unopened], ids: Sequence[str], zero: str | None) -> tuple[bool, list[str]]:
    """Whether a row of `ids` is known not to be zero by its token (`zero`: the token a zero
    amount has in this series), and the ids whose token does not tell (to be opened)."""
    if zero is None:
        return False, list(ids)
    tokens = {r.id: r.amount for r in rows}
    if any(tokens.get(i) not in (None, zero) for i in ids):
        return True, []
    return False, [i for i in ids if tokens.get(i) is None]


def in_series_order(rows: Iterable[Unopened]) -> list[Unopened]:
    """As `recurring.series` orders a series: by day, instant, id."""
    return sorted(rows, key=lambda r: (r.day, r.at, r.id))


def trial_candidate(ordered: Sequence[Unopened], this_id: str) -> str | None:
    """The first charge of the series when `this_id` is its second (only then can it end a
    trial), else None."""
    return ordered[0].id if len(ordered) >= 2 and ordered[1].id == this_id else None


def duplicate_candidates(rows: Iterable[Unopened], this: Unopened, *,
                         window: timedelta = DUPLICATE_WINDOW) -> list[str]:
    """The rows before `this` (by instant, id) within the window, nearest first: the first of
    them with the same amount is the charge `duplicates` pairs it with."""
    before = [r for r in rows if (r.at, r.id) < (this.at, this.id) and this.at - r.at <= window]
    return [r.id for r in sorted(before, key=lambda r: (r.at, r.id), reverse=True)]


def same_day_before(ordered: Sequence[Unopened], this: Unopened) -> list[str]:
    """The rows before `this` in series order on its day, nearest first: when one of them is not
    zero, `this` is a same-day repeat, left out of the series' charges, and raises no price
    increase."""
    out = []
    for r in ordered:
        if r.id == this.id:
            break
        if r.day == this.day:
            out.append(r.id)
    return out[::-1]
