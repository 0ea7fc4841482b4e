"""Spending questions: what a person may ask (pure parser).

`parse_question` is pure: text and today's date in, a `Question`, a `NotUnderstood` (the shape of
a question with a part that names nothing: "spent at 🍕") or None (not a question) out. Answers
are computed by `domain/answer_text.py` from the transactions `services/questions/answers.py` read.

Kinds: spending (a period, optionally one category or merchant), last transactions, biggest
purchases in a period, compare two months, recurring payments and subscriptions.
Categories are `mcc.Category` (decided by `domain/categories.categorise`).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from ledgerlink.domain.banking import Transaction
from ledgerlink.domain.mcc import Category

Kind = Literal["spending", "last_transactions", "recurring", "biggest", "compare"]

DEFAULT_COUNT = 5
MAX_COUNT = 50
MAX_DAYS = 366
RECURRING_MONTHS = 12  # recurring payments are found in this many months before this one


@dataclass(frozen=True, slots=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive


@dataclass(frozen=True, slots=True)
class Question:
    kind: Kind
    period: Period
    category: Category | None = None
    merchant: str | None = None  # lower-case fragment of the merchant name
    count: int = DEFAULT_COUNT
    other: Period | None = None  # compare: the second month


@dataclass(frozen=True, slots=True)
class NotUnderstood:
    """A question whose `part` names no merchant, category or period we know."""

    part: str
    what: str  # "a merchant or a category", "a month"


# --------------------------------------------------------------------------- parsing

C = Category
# Words -> categories. Longer phrases are tried first.
CATEGORY_WORDS: dict[str, Category] = {
    "groceries": C.GROCERIES, "grocery": C.GROCERIES, "supermarket": C.GROCERIES,
    "supermarkets": C.GROCERIES, "food shopping": C.GROCERIES,
    "restaurants": C.RESTAURANTS, "restaurant": C.RESTAURANTS, "dining": C.RESTAURANTS,
    "dining out": C.RESTAURANTS, "eating out": C.RESTAURANTS,
    "bars": C.BARS, "bar": C.BARS, "drinks": C.BARS,
    "coffee": C.COFFEE, "coffee shops": C.COFFEE, "cafes": C.COFFEE, "cafe": C.COFFEE,
    "fast food": C.FAST_FOOD, "takeaway": C.FAST_FOOD, "takeout": C.FAST_FOOD,
    "gas": C.FUEL, "fuel": C.FUEL, "petrol": C.FUEL,
    "taxi": C.TAXI, "taxis": C.TAXI, "uber": C.TAXI, "lyft": C.TAXI, "rideshare": C.TAXI,
    "rides": C.TAXI, "transit": C.TRANSIT, "public transport": C.TRANSIT, "subway": C.TRANSIT,
    "subscriptions": C.SUBSCRIPTIONS, "subscription": C.SUBSCRIPTIONS, "streaming": C.SUBSCRIPTIONS,
    "digital goods": C.DIGITAL, "apps": C.DIGITAL, "books": C.BOOKS,
    "shopping": C.SHOPPING, "home & garden": C.HOME, "home and garden": C.HOME,
    "home": C.HOME, "garden": C.HOME, "electronics": C.ELECTRONICS,
    "pharmacy": C.PHARMACY, "drugstore": C.PHARMACY, "beauty": C.BEAUTY,
    "utilities": C.UTILITIES, "bills": C.UTILITIES, "cash": C.CASH, "atm": C.CASH,
    "travel": C.TRAVEL, "flights": C.TRAVEL, "hotels": C.TRAVEL, "clothing": C.CLOTHING,
    "clothes": C.CLOTHING, "entertainment": C.ENTERTAINMENT, "movies": C.ENTERTAINMENT,
    "health": C.HEALTH, "doctor": C.HEALTH, "insurance": C.INSURANCE,
    "fitness": C.SPORTS, "gym": C.SPORTS, "sports": C.SPORTS, "phone": C.PHONE_INTERNET,
    "internet": C.PHONE_INTERNET, "rent": C.HOUSING, "housing": C.HOUSING, "fees": C.FEES,
    "pets": C.PETS, "education": C.EDUCATION, "charity": C.CHARITY, "taxes": C.GOVERNMENT,
    "transfers": C.TRANSFERS,
}  # fmt: skip
# Exact phrases also name a category by its own name ("budget 300 for digital goods").
_NAMES: dict[str, Category] = {
    **{c.value.lower(): c for c in Category},
    **{c.value.lower().replace("&", "and"): c for c in Category},
    **CATEGORY_WORDS,
}
CATEGORY_RE = "|".join(re.escape(k) for k in sorted(_NAMES, key=len, reverse=True))  # any of them

_MONTHS: dict[str, int] = {}
for _i in range(1, 13):
    _MONTHS[calendar.month_name[_i].lower()] = _i
    _MONTHS[calendar.month_abbr[_i].lower()] = _i
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

_TXN_WORDS = r"(?:transactions?|purchases?|payments?|charges?|activity|spending)"
_RECURRING = re.compile(
    r"(?:.*\brecurring\b.*|(?:what are |show |list |show me )?(?:all )?(?:my )?subscriptions|"
    r".*\brepeat(?:ing)? (?:charges|payments)\b.*)"
)
_LAST = re.compile(
    rf"(?:(?:show|list|give|what are)(?: me)? )?(?:my |the )?(?:(?:last|latest|most recent|recent)"
    rf"(?: (?P<n>\d{{1,4}}))? {_TXN_WORDS}|(?P<n2>\d{{1,4}}) (?:last|latest|most recent|recent) "
    rf"{_TXN_WORDS})"
)
_BIGGEST = re.compile(
    rf"(?:(?:show|list|give|what (?:are|were))(?: me)? )?(?:my |the )?"
    rf"(?:top|biggest|largest|most expensive)(?: (?P<n>\d{{1,3}}))? {_TXN_WORDS}(?P<rest>.*)"
)


def _one_month(i: int) -> str:
    return rf"(?P<m{i}>{_MONTH_RE})(?: (?P<y{i}>\d{{4}}))?"


_COMPARE = re.compile(
    r"compare (?:my )?(?:spending |purchases )?(?:(?:on )?(?P<what>.+?) )?(?:in |for |between )?"
    + _one_month(1) + r" (?:and|with|to|vs\.?|versus|against) (?:in |for )?" + _one_month(2)
)
_SPEND = re.compile(r"\b(?:spend|spent|spending|expenses?|paid|pay|how much)\b")
_PERIODS = re.compile(
    r"\b(?:(?:in|over|during|for) )?(?:the )?(?:"
    r"(?P<today>today)|(?P<yesterday>yesterday)|(?P<this>this|last|previous) (?P<unit>week|month|year)|"
    r"(?:last|past) (?P<days>\d{1,3}) days?|"
    rf"(?:in|during|for|of) (?P<month>{_MONTH_RE})(?: (?P<year>\d{{4}}))?"
    r")\b"
)
_PREPOSITION = re.compile(
    r"\b(?P<prep>on|at|from|with|for) (?P<what>(?:(?!\b(?:on|at|from|with|for)\b).)+)"
)
_FILLER = re.compile(r"(?:\s+(?:so far|in total|total|overall|please|altogether|in all))+$")
_LEADING = re.compile(r"^(?:my|the|all)\s+")
_WORDY = re.compile(r"[^\W_]")  # a letter or digit of any script: an emoji is not a name


def _clean(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[?!,;]", " ", text)
    text = re.sub(r"\.(\s|$)", r" \1", text)
    return " ".join(text.split())


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def month_start_before(d: date, months: int) -> date:
    """The first day of the month `months` months before d's month."""
    index = d.year * 12 + d.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def this_month(today: date) -> Period:
    return Period(today.replace(day=1), today)


def _named_month(name: str, year_text: str | None, today: date) -> Period | None:
    month = _MONTHS[name]
    if year_text:
        year = int(year_text)
        if not 1900 <= year <= 9999:
            return None
    else:
        year = today.year if month <= today.month else today.year - 1  # never in the future
    return Period(date(year, month, 1), month_end(year, month))


def _period(match: re.Match[str], today: date) -> Period | None:
    if match["today"]:
        return Period(today, today)
    if match["yesterday"]:
        y = today - timedelta(days=1)
        return Period(y, y)
    if match["unit"]:
        current = match["this"] == "this"
        if match["unit"] == "week":
            monday = today - timedelta(days=today.weekday())
            if current:
                return Period(monday, today)
            return Period(monday - timedelta(days=7), monday - timedelta(days=1))
        if match["unit"] == "month":
            if current:
                return this_month(today)
            start = month_start_before(today, 1)
            return Period(start, month_end(start.year, start.month))
        if current:
            return Period(date(today.year, 1, 1), today)
        return Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    if match["days"]:
        days = int(match["days"])
        if not 1 <= days <= MAX_DAYS:
            return None
        return Period(today - timedelta(days=days - 1), today)
    return _named_month(match["month"], match["year"], today)


def category_named(phrase: str) -> Category | None:
    """The category a phrase names exactly ("groceries", "the restaurants", "Phone & internet")."""
    return _NAMES.get(_LEADING.sub("", " ".join(phrase.lower().split())))


def _find_category(text: str) -> Category | None:
    for word in sorted(CATEGORY_WORDS, key=len, reverse=True):
        if re.search(rf"(?<![\w&]){re.escape(word)}(?![\w&])", text):
            return CATEGORY_WORDS[word]
    return None


def _take_period(said: str, today: date) -> tuple[str, Period | None, bool]:
    """The text without its period, the period (None: none named), and False for a bad one."""
    found = _PERIODS.search(said)
    if not found:
        return said, None, True
    parsed = _period(found, today)
    rest = " ".join((said[: found.start()] + " " + said[found.end() :]).split())
    return rest, parsed, parsed is not None


take_period = _take_period  # the receipt questions name a period the same way (issue 11)


def _compare(found: re.Match[str], today: date) -> Question | NotUnderstood | None:
    first = _named_month(found["m1"], found["y1"], today)
    second = _named_month(found["m2"], found["y2"], today)
    if first is None or second is None:
        return None
    cat = None
    if found["what"]:
        cat = category_named(found["what"])
        if cat is None:
            return NotUnderstood(found["what"], "a category")
    return Question("compare", first, category=cat, other=second)


def parse_question(text: str, *, today: date) -> Question | NotUnderstood | None:
    """A spending question, a question with a part we do not know, or None (not a question)."""
    said = _clean(text)
    if not said or not _WORDY.search(said):
        return None
    if _RECURRING.fullmatch(said):
        return Question("recurring", Period(month_start_before(today, RECURRING_MONTHS), today))
    last = _LAST.fullmatch(said)
    if last:
        n = last["n"] or last["n2"]
        count = DEFAULT_COUNT if n is None else max(1, min(MAX_COUNT, int(n)))
        return Question("last_transactions", this_month(today), count=count)
    compare = _COMPARE.fullmatch(said)
    if compare:
        return _compare(compare, today)
    biggest = _BIGGEST.fullmatch(said)
    if biggest:
        rest, period, ok = _take_period(biggest["rest"], today)
        if not ok or _FILLER.sub("", rest).strip():
            return None if not ok else NotUnderstood(rest.strip(), "a period")
        count = DEFAULT_COUNT if biggest["n"] is None else max(1, min(MAX_COUNT, int(biggest["n"])))
        return Question("biggest", period or this_month(today), count=count)
    if not _SPEND.search(said):
        rest, period, ok = _take_period(said, today)  # "groceries in October"
        named = category_named(rest) if ok and period is not None else None
        return None if named is None else Question("spending", period or this_month(today), category=named)
    said, period, ok = _take_period(said, today)
    if not ok:
        return None
    said = _FILLER.sub("", said)
    cat: Category | None = None
    merchant: str | None = None
    for m in _PREPOSITION.finditer(said):
        phrase = _FILLER.sub("", m["what"].strip())
        named = category_named(phrase)
        if named is not None:
            cat = cat or named
        elif m["prep"] != "for" and merchant is None:
            merchant = _LEADING.sub("", phrase) or None
            if merchant is not None and not _WORDY.search(merchant):
                return NotUnderstood(merchant, "a merchant or a category")
    if cat is None and merchant is None:
        cat = _find_category(said)
    return Question("spending", period or this_month(today), category=cat, merchant=merchant)


def merchant_of(txn: Transaction) -> str:
    return txn.merchant or txn.descriptor


def day_of(txn: Transaction) -> date:
    return txn.booking_date or txn.created_at.date()
