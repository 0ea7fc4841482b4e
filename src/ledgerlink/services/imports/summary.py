"""The one summary card a statement file gets in its thread (never one card per entry):

    312 transactions from statement.ofx, 1 Jan - 31 Mar 2025; 4 matched ones already here;
    balance on 31 Mar: $1,234.56

Money and dates with Babel, in the messenger's locale (as the cards' renderer does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency

from ledgerlink.domain.cards import text_card
from ledgerlink.domain.money import Money

LOCALE = "en_US"  # the messenger's (entrypoints/web/rendering.py)
_MINUS = "\u2212"


@dataclass(frozen=True, slots=True)
class BalanceLine:
    account: str  # label, e.g. "Checking ••1234"
    amount: Money
    as_of: date


@dataclass(frozen=True, slots=True)
class Counts:
    entries: int
    added: int
    merged: int
    skipped: int
    too_old: int = 0  # of skipped: older than the retention period
    keep_days: int = 0


def money_text(money: Money) -> str:
    text = format_currency(abs(money.amount), money.currency, locale=LOCALE)
    return f"{_MINUS}{text}" if money.amount < Decimal(0) else str(text)


def _day(d: date, *, year: bool) -> str:
    return str(format_date(d, "d MMM y" if year else "d MMM", locale=LOCALE))


def period_text(start: date | None, end: date | None) -> str | None:
    if start is None or end is None:
        return None
    if start == end:
        return _day(start, year=True)
    return f"{_day(start, year=start.year != end.year)} – {_day(end, year=True)}"


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_text(
    *, file: str, counts: Counts, start: date | None, end: date | None, balances: list[BalanceLine],
    several_accounts: bool,
) -> str:
    head = f"{_n(counts.entries, 'transaction')} from {file}"
    period = period_text(start, end)
    if period:
        head += f", {period}"
    parts = [head]
    if counts.entries == 0:
        parts.append("the file holds no transactions")
    already = counts.merged + counts.skipped - counts.too_old
    if counts.added == 0 and already and not counts.too_old:
        parts.append("all of them were already here, nothing added")
    elif already:
        parts.append(f"{already} matched {'one' if already == 1 else 'ones'} already here")
    if counts.too_old:
        parts.append(f"{counts.too_old} older than the {counts.keep_days}-day retention period not kept")
    for line in balances:
        where = f" ({line.account})" if several_accounts else ""
        parts.append(f"balance on {_day(line.as_of, year=False)}{where}: {money_text(line.amount)}")
    return "; ".join(parts)


def summary_card(text: str, details: dict[str, Any]) -> dict[str, Any]:
    """A text card (what every channel shows) with the numbers beside it for the messenger."""
    body = text_card(text, tone="success")
    body["import"] = details
    return body
