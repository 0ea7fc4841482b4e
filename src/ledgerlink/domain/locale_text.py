"""Money and dates as a person reads them, in the messenger's locale (Babel), for text answers
and alerts: "$4,003.92", "-$12.00" (a true minus sign), "Nov 3, 2026", "October 2026". The same
rendering as the cards (`entrypoints/web/rendering.py`), so a chat answer and a card show one figure one way.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from babel import Locale
from babel.dates import format_date, format_timedelta
from babel.numbers import format_currency, format_percent

from ledgerlink.domain.money import Money

__all__ = ["LOCALE", "ago", "day", "money", "month", "percent"]

LOCALE = "en_US"  # the messenger's; a per-person locale would be passed in
_MINUS = "\u2212"


def money(value: Money, *, locale: str = LOCALE, signed: bool = False) -> str:
    """`-12.34 USD` -> "-$12.34" with a true minus sign (U+2212); `signed` puts "+" on money in."""
    text = str(format_currency(abs(value.amount), value.currency, locale=locale))
    if value.amount < Decimal(0):
        return f"{_MINUS}{text}"
    return f"+{text}" if signed and value.amount > 0 else text


def day(value: date, *, locale: str = LOCALE, year: bool = True) -> str:
    """ "Nov 3, 2026", or "Nov 3" without the year."""
    return str(format_date(value, "medium" if year else "MMM d", locale=locale))


def month(value: date, *, locale: str = LOCALE) -> str:
    """ "October 2026"."""
    return str(format_date(value, "LLLL y", locale=locale))


def percent(value: Decimal, *, locale: str = LOCALE) -> str:
    """0.4 -> "40%"."""
    return str(format_percent(value, locale=locale))


def ago(delta: timedelta, *, locale: str | Locale = LOCALE) -> str:
    """How long ago, in the locale's own words (CLDR, Babel's `format_timedelta`): "2 hr. ago",
    "vor 2 Std.", "il y a 7 min"; the largest unit that reaches 0.85 of one, rounded."""
    past = -max(abs(delta), timedelta(seconds=1))  # Babel words 0 as the future ("in 0 sec")
    return str(format_timedelta(past, format="short", add_direction=True, locale=locale))
