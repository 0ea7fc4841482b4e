"""Recurring payments and subscriptions, found in a person's activity (pure).

A series is one merchant's charges (or credits) in one currency. It is recurring when:

* its cadence is regular: the median gap between charges lies in a band (weekly 5-9 days,
  every two weeks 10-18, monthly 21-38, quarterly 80-100, yearly 350-380), and at least 75 % of
  the gaps lie in that band. The bands take the jitter of real charges (a weekend, a short month):
  up to 1 day either way weekly, 2 every two weeks, 3 monthly and quarterly, 7 yearly;
* it has enough charges: 4 weekly, 3 every two weeks, 3 monthly, 3 quarterly, 2 yearly;
* its amount is stable: FIXED when at least 75 % of consecutive charges are within 1 % of each
  other, or when the price held between its changes (a staircase: never two changes in a row,
  at least half the consecutive charges at the same price), so every price step, the second
  too, keeps a subscription fixed; VARIABLE when every charge is within 35 %
  of the median (a utility bill), anything wider is not recurring;
* it is not everyday spending: money out at groceries, restaurants, fast food, coffee, bars, fuel,
  taxis or cash is never a recurring payment, however regular (weekly groceries are not a
  subscription).

A FIXED series of money out is a SUBSCRIPTION unless its category is a bill (housing, utilities,
phone and internet, insurance, transfers, government, education, bank fees): then a BILL, like every VARIABLE
series of money out. Money in is INCOME. Zero charges and a tiny first charge (a trial, under
20 % of the median) are left out of the series; `insight_rules.py` raises those.
"""

from __future__ import annotations

import calendar
import enum
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from statistics import median

from ledgerlink.domain.activity import Activity
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money


class Cadence(enum.StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "every two weeks"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class Kind(enum.StrEnum):
    SUBSCRIPTION = "subscription"
    BILL = "bill"
    INCOME = "income"


class AmountPattern(enum.StrEnum):
    FIXED = "fixed"
    VARIABLE = "variable"


@dataclass(frozen=True, slots=True)
class _Band:
    low: int  # days, inclusive
    high: int
    months: int  # 0: step by `days`
    days: int
    min_count: int


BANDS: dict[Cadence, _Band] = {
    Cadence.WEEKLY: _Band(5, 9, 0, 7, 4),
    Cadence.BIWEEKLY: _Band(10, 18, 0, 14, 3),
    Cadence.MONTHLY: _Band(21, 38, 1, 30, 3),
    Cadence.QUARTERLY: _Band(80, 100, 3, 91, 3),
    Cadence.YEARLY: _Band(350, 380, 12, 365, 2),
}
REGULAR_SHARE = Decimal("0.75")  # of the gaps inside the cadence's band
SAME_AMOUNT = Decimal("0.01")  # consecutive charges within 1 % are "the same price"
FIXED_SHARE = Decimal("0.75")  # of consecutive pairs at the same price
VARIABLE_SPREAD = Decimal("0.35")  # every charge within 35 % of the median
TRIAL_SHARE = Decimal("0.20")  # a first charge under 20 % of the median is a trial, not the series
GRACE_DAYS = 7  # a series is active until its next charge is this late

EVERYDAY: frozenset[Category] = frozenset({
    Category.GROCERIES, Category.RESTAURANTS, Category.FAST_FOOD, Category.COFFEE, Category.BARS,
    Category.FUEL, Category.TAXI, Category.CASH,
})
BILLS: frozenset[Category] = frozenset({
    Category.HOUSING, Category.UTILITIES, Category.PHONE_INTERNET, Category.INSURANCE,
    Category.TRANSFERS, Category.GOVERNMENT, Category.EDUCATION, Category.FEES,
})


@dataclass(frozen=True, slots=True)
class Recurring:
    merchant_key: str
    merchant: str
    category: Category
    account_id: str  # of the latest charge
    cadence: Cadence
    kind: Kind
    pattern: AmountPattern
    amount: Money  # typical, signed (negative: money out): the latest (fixed) or recent median
    first: date
    last: date
    next_expected: date
    active: bool  # the next charge is not overdue by more than GRACE_DAYS
    charges: tuple[Activity, ...]  # the series, oldest first

    @property
    def count(self) -> int:
        return len(self.charges)


def add_months(day: date, months: int, *, anchor: int | None = None) -> date:
    """`day` moved by whole months, on the anchor day of the month (clamped: 31 -> 30 April)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor or day.day, last))


def step(day: date, cadence: Cadence, *, anchor: int | None = None) -> date:
    """The next expected day after `day` for the cadence."""
    band = BANDS[cadence]
    if band.months:
        return add_months(day, band.months, anchor=anchor)
    return day + timedelta(days=band.days)


def _series_key(a: Activity) -> tuple[str, str, bool]:
    return (a.merchant_key, a.amount.currency, a.money_in)


def series(activities: Iterable[Activity]) -> dict[tuple[str, str, bool], list[Activity]]:
    """Activities by merchant, currency and direction, oldest first (ties by id: input order
    never matters)."""
    out: dict[tuple[str, str, bool], list[Activity]] = defaultdict(list)
    for a in activities:
        out[_series_key(a)].append(a)
    for items in out.values():
        items.sort(key=lambda a: (a.day, a.at, a.id))  # by day: history imported at once shares `at`
    return dict(out)


def _cadence(days: Sequence[date]) -> Cadence | None:
    gaps = [(b - a).days for a, b in pairwise(days)]
    if not gaps:
        return None
    middle = median(gaps)
    for cadence, band in BANDS.items():
        if band.low <= middle <= band.high:
            inside = sum(1 for g in gaps if band.low <= g <= band.high)
            if Decimal(inside) >= REGULAR_SHARE * len(gaps) and len(days) >= band.min_count:
                return cadence
            return None
    return None


def _staircase(steady: Sequence[bool]) -> bool:
    """Whether the price held between its changes (`steady`: each consecutive pair of charges at
    the same price or not): no two changes in a row (every price between the first and the latest
    was charged at least twice) and at least half the pairs at the same price. A subscription that
    went up twice (15.49, then 17.99, then 19.99) stays one fixed-price series."""
    changes_in_a_row = any(not a and not b for a, b in pairwise(steady))
    return not changes_in_a_row and 2 * sum(steady) >= len(steady)


def _pattern(sizes: Sequence[Decimal]) -> AmountPattern | None:
    pairs = list(pairwise(sizes))
    steady = [abs(a - b) <= SAME_AMOUNT * max(a, b) for a, b in pairs]
    if pairs and (Decimal(sum(steady)) >= FIXED_SHARE * len(pairs) or _staircase(steady)):
        return AmountPattern.FIXED
    mid = Decimal(median(sizes))
    if mid > 0 and all(abs(s - mid) <= VARIABLE_SPREAD * mid for s in sizes):
        return AmountPattern.VARIABLE
    return None


def _core(items: list[Activity]) -> list[Activity]:
    """The charges that make the series: no zero charges, no same-day repeats (a duplicate is a
    rule of its own), no tiny trial charges at the start."""
    kept: list[Activity] = []
    for a in items:
        if a.size == 0 or (kept and kept[-1].day == a.day):
            continue
        kept.append(a)
    if len(kept) >= 2:
        mid = Decimal(median(a.size for a in kept))
        while kept and kept[0].size < TRIAL_SHARE * mid:
            kept.pop(0)
    return kept


def _category(items: Sequence[Activity]) -> Category:
    counts: dict[Category, int] = defaultdict(int)
    for a in items:
        counts[a.category] += 1
    latest = items[-1].category  # a tie goes to the latest word (a correction)
    return max(counts, key=lambda c: (counts[c], c == latest))


def detect(activities: Iterable[Activity], *, today: date) -> list[Recurring]:
    """Every recurring series in the activity, by merchant key (stable order)."""
    found: list[Recurring] = []
    for (key, currency, money_in), items in sorted(series(activities).items()):
        category = _category(items)
        if not money_in and category in EVERYDAY:
            continue
        core = _core(items)
        cadence = _cadence([a.day for a in core])
        if cadence is None:
            continue
        sizes = [a.size for a in core]
        pattern = _pattern(sizes)
        if pattern is None:
            continue
        if money_in:
            kind = Kind.INCOME
        elif pattern is AmountPattern.FIXED and category not in BILLS:
            kind = Kind.SUBSCRIPTION
        else:
            kind = Kind.BILL
        typical = sizes[-1] if pattern is AmountPattern.FIXED else Decimal(median(sizes[-3:]))
        typical = typical.quantize(core[-1].amount.amount)
        last = core[-1].day
        anchor = round(median(a.day.day for a in core[-3:]))
        upcoming = step(last, cadence, anchor=anchor)
        found.append(Recurring(
            merchant_key=key, merchant=core[-1].merchant, category=category,
            account_id=core[-1].account_id, cadence=cadence, kind=kind, pattern=pattern,
            amount=Money(typical if money_in else -typical, currency),
            first=core[0].day, last=last, next_expected=upcoming,
            active=(today - upcoming).days <= GRACE_DAYS, charges=tuple(core),
        ))
    return found


def subscriptions(found: Iterable[Recurring]) -> list[Recurring]:
    return [r for r in found if r.kind is Kind.SUBSCRIPTION and r.active]


def occurrences(item: Recurring, *, after: date, until: date) -> list[date]:
    """The days `item` is expected in (after, until]; a charge overdue by at most GRACE_DAYS is
    expected tomorrow. None for an inactive series."""
    if not item.active:
        return []
    anchor = round(median(a.day.day for a in item.charges[-3:]))
    day, out = item.next_expected, []
    if day <= after:
        day = after + timedelta(days=1)
    for _ in range(math.ceil((until - after).days / BANDS[item.cadence].low) + 2):
        if day > until:
            break
        out.append(day)
        day = step(day, item.cadence, anchor=anchor)
    return out
