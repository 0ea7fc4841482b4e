"""What the spending charts show (issue 13): the figures and their text alternative, computed
from the person's transactions already read (`spending.py` reads them through `access`).

Spending is money out, posted and pending; cancelled charges never count and refunds are not
subtracted (as in the chat answers, `domain/answer_text.py`). Currencies are never added: a
chart is in one currency, the person's main account's; purchases in others are left out (and
counted in the summary so nothing is hidden). The balance line is the account's ledger balance
at the end of each day, worked back from today's balance through the posted transactions since,
then the projection of `domain/forecast.py` (dashed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal

from babel.dates import format_date

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.answer_text import categorised
from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.categories import Correction
from ledgerlink.domain.forecast import Forecast
from ledgerlink.domain.money import Money
from ledgerlink.domain.questions import day_of, merchant_of
from ledgerlink.services.insights.ports import BARS, COLUMNS, LINE, Chart, Series

__all__ = [
    "balance_chart",
    "by_category",
    "by_merchant",
    "category_chart",
    "merchant_chart",
    "month_chart",
    "purchases",
    "top_bars",
]

MAX_BARS = 8


def purchases(txns: Iterable[Transaction], currency: str) -> list[Transaction]:
    """Money out in `currency`, posted or pending (never cancelled)."""
    return [t for t in txns if t.status is not TransactionStatus.REMOVED and t.amount.is_negative()
            and t.amount.currency == currency]


def _zero(currency: str) -> Money:
    return Money(Decimal(0), currency)


def by_category(txns: Iterable[Transaction], corrections: Mapping[str, Correction],
                currency: str) -> list[tuple[str, Money]]:
    """(category, spent) largest first."""
    out: dict[str, Money] = defaultdict(lambda: _zero(currency))
    for t in purchases(txns, currency):
        name = categorised(t, corrections).category.value
        out[name] = out[name] + (-t.amount)
    return sorted(out.items(), key=lambda kv: (-kv[1].amount, kv[0]))


def by_merchant(txns: Iterable[Transaction], currency: str) -> list[tuple[str, Money]]:
    out: dict[str, Money] = defaultdict(lambda: _zero(currency))
    for t in purchases(txns, currency):
        out[merchant_of(t)] = out[merchant_of(t)] + (-t.amount)
    return sorted(out.items(), key=lambda kv: (-kv[1].amount, kv[0]))


def top_bars(rows: list[tuple[str, Money]], currency: str) -> list[tuple[str, Money]]:
    """At most MAX_BARS bars: the rest add up to "Everything else"."""
    if len(rows) <= MAX_BARS:
        return rows
    rest = sum((m.amount for _, m in rows[MAX_BARS - 1:]), Decimal(0))
    return [*rows[:MAX_BARS - 1], ("Everything else", Money(rest, currency))]


def _total(rows: list[tuple[str, Money]], currency: str) -> Money:
    return Money(sum((m.amount for _, m in rows), Decimal(0)), currency)


def _bar_chart(title: str, rows: list[tuple[str, Money]], currency: str, *, what: str) -> Chart:
    shown = top_bars(rows, currency)
    if not rows:
        summary = f"{title}: no purchases."
    else:
        parts = ", ".join(f"{name} {fmt.money(m)}" for name, m in shown)
        summary = f"{title}: {fmt.money(_total(rows, currency))} in all; {what}: {parts}."
    series = Series("Spent", tuple(m.amount for _, m in shown), tuple(fmt.money(m) for _, m in shown))
    return Chart(BARS, title, summary, tuple(name for name, _ in shown), (series,), currency)


def category_chart(rows: list[tuple[str, Money]], currency: str, *, period: str) -> Chart:
    return _bar_chart(f"Spending by category, {period}", rows, currency, what="by category")


def merchant_chart(rows: list[tuple[str, Money]], currency: str, *, title: str) -> Chart:
    return _bar_chart(title, rows, currency, what="by merchant")


def month_chart(months: list[tuple[date, Money]], currency: str) -> Chart:
    """One column per month (first days), oldest first: "Nov 2026"."""
    labels = tuple(str(format_date(m, "MMM y", locale=fmt.LOCALE)) for m, _ in months)
    texts = tuple(fmt.money(v) for _, v in months)
    title = "Spending month over month"
    if months:
        summary = f"{title}: " + ", ".join(f"{lb} {tx}" for lb, tx in zip(labels, texts, strict=True))
        if len(months) > 1 and months[-2][1].amount:
            change = months[-1][1] - months[-2][1]
            word = "more" if change.amount > 0 else "less"
            summary += (f". {labels[-1]} is {fmt.money(Money(abs(change.amount), currency))} {word} "
                        f"than {labels[-2]}")
        summary += "."
    else:
        summary = f"{title}: no months yet."
    series = Series("Spent", tuple(v.amount for _, v in months), texts)
    short = tuple(str(format_date(m, "LLL", locale=fmt.LOCALE)) for m, _ in months)
    return Chart(COLUMNS, title, summary, labels, (series,), currency, short_labels=short)


def balance_history(current: Money, txns: Iterable[Transaction], *, today: date,
                    days: int) -> list[tuple[date, Money]]:
    """The ledger balance at the end of each of the last `days` days (today included): today's
    balance less every posted transaction booked after that day. Days before the first
    transaction we hold are left out: what the balance was then is not known here."""
    after: dict[date, Decimal] = defaultdict(Decimal)
    for t in txns:
        if t.status is TransactionStatus.POSTED and t.amount.currency == current.currency:
            after[day_of(t)] += t.amount.amount
    first = min(after, default=today)
    out: list[tuple[date, Money]] = []
    running = current.amount
    for offset in range(min(days, (today - first).days + 1)):
        day = today - timedelta(days=offset)
        out.append((day, Money(running, current.currency)))
        running -= after.get(day, Decimal(0))
    return out[::-1]


def balance_chart(history: list[tuple[date, Money]], forecast: Forecast | None, *,
                  account: str) -> Chart:
    """The recorded balance, then the projected one (dashed), on one axis of days."""
    projected = list(forecast.days) if forecast is not None else []
    currency = history[-1][1].currency if history else forecast.start.currency if forecast else "USD"
    labels = tuple(fmt.day(d, year=False) for d, _ in history) + tuple(
        fmt.day(p.day, year=False) for p in projected)
    n, m = len(history), len(projected)
    had = Series("Balance", tuple(v.amount for _, v in history) + (None,) * m,
                 tuple(fmt.money(v) for _, v in history) + ("",) * m)
    series = [had]
    title = f"Balance over time, {account}"
    summary = f"{title}: {fmt.money(history[-1][1])} today" if history else f"{title}: no balance yet"
    if projected:
        # the projection starts from today's point so the two lines meet
        start = (None,) * (n - 1) + ((history[-1][1].amount,) if history else ())
        start_text = ("",) * (n - 1) + ((fmt.money(history[-1][1]),) if history else ())
        series.append(Series("Projected", start + tuple(p.balance.amount for p in projected),
                             start_text + tuple(fmt.money(p.balance) for p in projected), dashed=True))
        low = forecast.lowest() if forecast is not None else None
        if not any(p.events for p in projected):
            summary += "; no regular income or bills are expected in the next 30 days"
        elif low is not None:
            summary += (f"; projected {fmt.money(projected[-1].balance)} on {fmt.day(projected[-1].day)}, "
                        f"lowest {fmt.money(low.balance)} around {fmt.day(low.day)}")
    return Chart(LINE, title, summary + ".", labels, tuple(series), currency)
