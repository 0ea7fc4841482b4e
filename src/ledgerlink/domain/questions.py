"""Spending questions: what a person may ask, and the answers computed from their data (pure).

`parse_question` is pure: text and today's date in, a `Question` (or None) out. The answers
(`spending_answer`, `recurring`, `latest`) take transactions already read; reading them,
through `access` with purpose answer_question, is `services/questions/answers.py`'s job.

* spending: purchases (money out), posted and pending; cancelled (removed) charges never count.
  Refunds are NOT subtracted: card refunds in the period are shown on a separate line.
  Totals are per currency (different currencies are never added) with the purchase count and
  the top 3 merchants.
* last transactions: the latest N (default 5, at most 50): date, merchant, amount, status.
* recurring: merchants charged about once a month in at least 2 of the last 3 calendar months
  (this one included) with similar amounts (within 20 % of their median), with the typical amount.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.cards import category
from ledgerlink.domain.money import Money, exponent

Kind = Literal["spending", "last_transactions", "recurring"]

DEFAULT_COUNT = 5
MAX_COUNT = 50
MAX_DAYS = 366
SIMILAR = Decimal("0.20")


@dataclass(frozen=True, slots=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive

    def label(self) -> str:
        if self.start == self.end:
            return f"{self.start:%b} {self.start.day}, {self.start.year}"
        first = f"{self.start:%b} {self.start.day}"
        if self.start.year != self.end.year:
            first += f", {self.start.year}"
        return f"{first} – {self.end:%b} {self.end.day}, {self.end.year}"


@dataclass(frozen=True, slots=True)
class Question:
    kind: Kind
    period: Period
    category: str | None = None  # a name `cards.category` gives
    merchant: str | None = None  # lower-case fragment of the merchant name
    count: int = DEFAULT_COUNT


# --------------------------------------------------------------------------- parsing

# Words -> the category names of cards.category. Longer phrases are tried first.
CATEGORY_WORDS: dict[str, str] = {
    "groceries": "Groceries", "grocery": "Groceries", "supermarket": "Groceries",
    "supermarkets": "Groceries", "food shopping": "Groceries",
    "restaurants": "Restaurants", "restaurant": "Restaurants", "dining": "Restaurants",
    "dining out": "Restaurants", "eating out": "Restaurants",
    "bars": "Bars", "bar": "Bars", "drinks": "Bars",
    "coffee": "Fast food & coffee", "fast food": "Fast food & coffee",
    "fast food & coffee": "Fast food & coffee", "fast food and coffee": "Fast food & coffee",
    "gas": "Fuel", "fuel": "Fuel", "petrol": "Fuel",
    "taxi": "Taxi & rideshare", "taxis": "Taxi & rideshare", "uber": "Taxi & rideshare",
    "lyft": "Taxi & rideshare", "rideshare": "Taxi & rideshare", "rides": "Taxi & rideshare",
    "transit": "Transit", "public transport": "Transit", "subway": "Transit",
    "subscriptions": "Subscriptions", "subscription": "Subscriptions", "streaming": "Subscriptions",
    "digital goods": "Digital goods", "apps": "Digital goods",
    "books": "Books & online", "books & online": "Books & online",
    "shopping": "Shopping", "home & garden": "Home & garden", "home and garden": "Home & garden",
    "home": "Home & garden", "garden": "Home & garden", "electronics": "Electronics",
    "pharmacy": "Pharmacy", "drugstore": "Pharmacy", "beauty": "Beauty",
    "utilities": "Utilities", "bills": "Utilities", "cash": "Cash", "atm": "Cash",
    "travel": "Travel", "flights": "Travel", "hotels": "Travel", "clothing": "Clothing",
    "clothes": "Clothing", "entertainment": "Entertainment", "movies": "Entertainment",
    "health": "Health", "doctor": "Health", "insurance": "Insurance",
}  # fmt: skip

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


def _clean(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[?!,;]", " ", text)
    text = re.sub(r"\.(\s|$)", r" \1", text)
    return " ".join(text.split())


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def month_start_before(d: date, months: int) -> date:
    """The first day of the month `months` months before d's month."""
    index = d.year * 12 + d.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def this_month(today: date) -> Period:
    return Period(today.replace(day=1), today)


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
            return Period(start, _month_end(start.year, start.month))
        if current:
            return Period(date(today.year, 1, 1), today)
        return Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    if match["days"]:
        days = int(match["days"])
        if not 1 <= days <= MAX_DAYS:
            return None
        return Period(today - timedelta(days=days - 1), today)
    month = _MONTHS[match["month"]]
    if match["year"]:
        year = int(match["year"])
        if not 1900 <= year <= 9999:
            return None
    else:
        year = today.year if month <= today.month else today.year - 1  # never in the future
    return Period(date(year, month, 1), _month_end(year, month))


def _category(phrase: str) -> str | None:
    return CATEGORY_WORDS.get(_LEADING.sub("", phrase.strip()))


def _find_category(text: str) -> str | None:
    for word in sorted(CATEGORY_WORDS, key=len, reverse=True):
        if re.search(rf"(?<![\w&]){re.escape(word)}(?![\w&])", text):
            return CATEGORY_WORDS[word]
    return None


def parse_question(text: str, *, today: date) -> Question | None:
    """A spending question, or None when the text is not one."""
    said = _clean(text)
    if not said:
        return None
    if _RECURRING.fullmatch(said):
        return Question("recurring", Period(month_start_before(today, 2), today))
    last = _LAST.fullmatch(said)
    if last:
        n = last["n"] or last["n2"]
        count = DEFAULT_COUNT if n is None else max(1, min(MAX_COUNT, int(n)))
        return Question("last_transactions", this_month(today), count=count)
    if not _SPEND.search(said):
        return None
    period = this_month(today)
    found = _PERIODS.search(said)
    if found:
        parsed = _period(found, today)
        if parsed is None:
            return None
        period = parsed
        said = " ".join((said[: found.start()] + " " + said[found.end() :]).split())
    said = _FILLER.sub("", said)
    cat: str | None = None
    merchant: str | None = None
    for m in _PREPOSITION.finditer(said):
        phrase = _FILLER.sub("", m["what"].strip())
        named = _category(phrase)
        if named is not None:
            cat = cat or named
        elif m["prep"] != "for" and merchant is None:
            merchant = _LEADING.sub("", phrase) or None
    if cat is None and merchant is None:
        cat = _find_category(said)
    return Question("spending", period, category=cat, merchant=merchant)


def merchant_of(txn: Transaction) -> str:
    return txn.merchant or txn.descriptor


def day_of(txn: Transaction) -> date:
    return txn.booking_date or txn.created_at.date()


def matches(txn: Transaction, q: Question) -> bool:
    if q.category is not None and category(txn.mcc) != q.category:
        return False
    if q.merchant is not None:
        names = f"{txn.merchant or ''} {txn.descriptor}".lower()
        if q.merchant not in names:
            return False
    return True


def describe(q: Question) -> str:
    what = "Spending"
    if q.category is not None:
        what += f" on {q.category}"
    if q.merchant is not None:
        what += f" at {q.merchant.title()}"
    return f"{what}, {q.period.label()}"


def spending_answer(q: Question, txns: list[Transaction]) -> str:
    chosen = [t for t in txns if matches(t, q)]
    totals: dict[str, Money] = {}
    counts: dict[str, int] = defaultdict(int)
    by_merchant: dict[str, dict[str, Money]] = defaultdict(dict)
    refunds: dict[str, Money] = {}
    for t in chosen:
        cur = t.amount.currency
        if t.amount.is_negative():
            spend = -t.amount
            totals[cur] = totals[cur] + spend if cur in totals else spend
            counts[cur] += 1
            mine = by_merchant[cur]
            mine[merchant_of(t)] = mine[merchant_of(t)] + spend if merchant_of(t) in mine else spend
        elif t.amount.amount > 0 and t.mcc is not None:  # a card refund, not income
            refunds[cur] = refunds[cur] + t.amount if cur in refunds else t.amount
    head = describe(q)
    if not totals:
        return f"{head}: no purchases."
    lines = [f"{head} (posted and pending purchases; refunds are not subtracted):"]
    for cur in sorted(totals):
        top = sorted(by_merchant[cur].items(), key=lambda kv: (-kv[1].amount, kv[0]))[:3]
        plural = "purchase" if counts[cur] == 1 else "purchases"
        line = f"• {totals[cur]} in {counts[cur]} {plural}"
        line += ". Top: " + ", ".join(f"{name} {money.amount}" for name, money in top)
        lines.append(line)
    for cur in sorted(refunds):
        lines.append(f"Refunds received in the period: {refunds[cur]} (not subtracted above).")
    return "\n".join(lines)


STATUS_WORDS = {TransactionStatus.PENDING: "pending", TransactionStatus.POSTED: "posted"}


def latest_first(txns: list[Transaction], count: int) -> list[Transaction]:
    return sorted(txns, key=lambda t: (day_of(t), t.created_at, t.id), reverse=True)[:count]


def _median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def recurring(txns: list[Transaction], months: list[tuple[int, int]]) -> list[tuple[str, Money, int]]:
    """(merchant, typical amount, months charged) for merchants charged about once a month
    (at most twice in any month) in at least 2 of `months`, amounts within 20 % of the median."""
    groups: dict[tuple[str, str], list[Transaction]] = defaultdict(list)
    for t in txns:
        if t.amount.is_negative() and (day_of(t).year, day_of(t).month) in months:
            groups[(merchant_of(t), t.amount.currency)].append(t)
    found: list[tuple[str, Money, int]] = []
    for (name, cur), charges in groups.items():
        per_month: dict[tuple[int, int], int] = defaultdict(int)
        for t in charges:
            per_month[(day_of(t).year, day_of(t).month)] += 1
        if max(per_month.values()) > 2:
            continue  # a shop visited often, not a recurring charge
        median = _median([-t.amount.amount for t in charges])
        similar = [t for t in charges if abs(-t.amount.amount - median) <= median * SIMILAR]
        charged = {(day_of(t).year, day_of(t).month) for t in similar}
        if len(charged) < 2:
            continue
        typical = _median([-t.amount.amount for t in similar])
        typical = typical.quantize(Decimal(1).scaleb(-exponent(cur)), rounding=ROUND_HALF_EVEN)
        found.append((name, Money(typical, cur), len(charged)))
    return sorted(found, key=lambda f: (-f[1].amount, f[0]))
