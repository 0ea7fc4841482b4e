"""A projected balance for the next days, from recurring income and bills (pure).

Start from today's balance; add each active recurring series of the account (income, bills,
subscriptions; `recurring.detect`) on the days it is expected, at its typical amount; optionally
take off a daily allowance for everyday spending (`everyday_spend`: the average per day of the
non-recurring money out over the last 8 weeks). `first_below` is the first day the projected
balance is under a threshold: "likely to go below $50 around 14 Dec".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from ledgerlink.domain.activity import Activity
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money, exponent
from ledgerlink.domain.recurring import Recurring, occurrences

HORIZON_DAYS = 30
EVERYDAY_WEEKS = 8


@dataclass(frozen=True, slots=True)
class Expected:
    day: date
    merchant: str
    amount: Money  # signed: negative is money out
    recurring: Recurring | None  # None: the everyday-spending allowance


@dataclass(frozen=True, slots=True)
class ForecastDay:
    day: date
    balance: Money  # at the end of the day
    events: tuple[Expected, ...]


@dataclass(frozen=True, slots=True)
class Forecast:
    account_id: str
    today: date
    start: Money
    days: tuple[ForecastDay, ...]  # today + 1 ... today + horizon

    def lowest(self) -> ForecastDay | None:
        return min(self.days, key=lambda d: (d.balance.amount, d.day), default=None)


def everyday_spend(activities: Iterable[Activity], found: Iterable[Recurring], *, account_id: str,
                   today: date, weeks: int = EVERYDAY_WEEKS) -> Money | None:
    """The average money out per day over the last `weeks`, leaving out the recurring charges
    (they are projected on their own days). None when the account spent nothing then."""
    recurring_ids = {a.id for r in found for a in r.charges}
    since = today - timedelta(weeks=weeks)
    spent = [a for a in activities if a.account_id == account_id and not a.money_in
             and since < a.day <= today and a.id not in recurring_ids]
    if not spent:
        return None
    currency = spent[0].amount.currency
    total = sum((a.size for a in spent if a.amount.currency == currency), Decimal(0))
    per_day = (total / (weeks * 7)).quantize(Decimal(1).scaleb(-exponent(currency)), ROUND_HALF_EVEN)
    return Money(-per_day, currency)


def project(*, account_id: str, balance: Money, today: date, found: Iterable[Recurring],
            daily: Money | None = None, horizon_days: int = HORIZON_DAYS) -> Forecast:
    """The balance at the end of each of the next `horizon_days` days. Series of other accounts
    or currencies are left out; `daily` (negative) is taken off every day."""
    if not 1 <= horizon_days <= 366:
        raise InvalidInput(f"forecast horizon {horizon_days} must be 1 to 366 days", code="bad_horizon")
    if daily is not None and daily.currency != balance.currency:
        raise InvalidInput(f"daily spending in {daily.currency} for a {balance.currency} account",
                           code="currency_mismatch")
    until = today + timedelta(days=horizon_days)
    by_day: dict[date, list[Expected]] = {}
    for item in sorted(found, key=lambda r: (r.merchant_key, r.kind.value)):
        if item.account_id != account_id or item.amount.currency != balance.currency:
            continue
        for day in occurrences(item, after=today, until=until):
            by_day.setdefault(day, []).append(Expected(day, item.merchant, item.amount, item))
    days: list[ForecastDay] = []
    running = balance
    for offset in range(1, horizon_days + 1):
        day = today + timedelta(days=offset)
        events = list(by_day.get(day, []))
        if daily is not None and daily.amount != 0:
            events.append(Expected(day, "everyday spending", daily, None))
        for event in events:
            running = running + event.amount
        days.append(ForecastDay(day, running, tuple(events)))
    return Forecast(account_id, today, balance, tuple(days))


def first_below(forecast: Forecast, threshold: Money) -> ForecastDay | None:
    """The first projected day that ends under `threshold`; None if none does (or the balance
    is already under it today: that is a low-balance alert, not a forecast)."""
    if forecast.start < threshold:
        return None
    for day in forecast.days:
        if day.balance < threshold:
            return day
    return None
