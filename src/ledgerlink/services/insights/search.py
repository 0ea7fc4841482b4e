"""Search and filters across every thread (issue 13): merchant, amount range, category, date
range and account, over the person's own transactions, newest first; each result opens the
transaction's detail.

The query is checked as a whole: every bad field gets its own words, all at once, and nothing
is read until the query is good. Reads go through `access` with purpose `show_to_person`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.answer_text import categorised
from ledgerlink.domain.banking import AccountView, TransactionStatus
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.questions import day_of, merchant_of
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps

__all__ = ["FIELDS", "MAX_DAYS", "MAX_RESULTS", "BadQuery", "Query", "Result", "Results", "choices",
           "from_words", "parse", "search"]

PURPOSE = Purpose.SHOW_TO_PERSON
MAX_DAYS = 731  # two years at most in one search
DEFAULT_DAYS = 180
MAX_RESULTS = 200
MAX_AMOUNT = Decimal("10000000")
FIELDS = ("merchant", "min", "max", "category", "from", "to", "account")


class BadQuery(InvalidInput):
    """Every bad field of a search at once: `fields` maps the field to its words."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()), code="bad_search")
        self.fields = fields


@dataclass(frozen=True, slots=True)
class Query:
    start: date
    end: date
    merchant: str | None = None  # lower-case fragment of the merchant or descriptor
    low: Decimal | None = None  # amount range, as a positive size of the transaction
    high: Decimal | None = None
    category: Category | None = None
    account_id: str | None = None

    @property
    def narrowed(self) -> bool:
        chosen = (self.merchant, self.low, self.high, self.category, self.account_id)
        return any(x is not None for x in chosen)


@dataclass(frozen=True, slots=True)
class Result:
    id: str
    day: str
    merchant: str
    category: str
    amount: str  # signed: money out with a minus, money in with a plus
    direction: str  # in, out
    account: str
    pending: bool


@dataclass(slots=True)
class Results:
    query: Query
    rows: list[Result] = field(default_factory=list)
    total: int = 0  # matches, of which at most MAX_RESULTS are listed
    accounts: list[tuple[str, str]] = field(default_factory=list)  # (id, label) for the picker


def _amount(text: str, name: str, errors: dict[str, str]) -> Decimal | None:
    raw = text.strip().replace(",", "").lstrip("$")
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value > MAX_AMOUNT:
        errors[name] = f"\"{text.strip()[:20]}\" is not an amount: write a number such as 25 or 12.50."
        return None
    return value


def _day(text: str, name: str, errors: dict[str, str]) -> date | None:
    raw = text.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"\"{raw[:20]}\" is not a date: pick one, or write it as YYYY-MM-DD."
        return None


def from_words(words: str) -> dict[str, str]:
    """A plain search box (`/search?q=...`, what a person or a link types) as the form's fields:
    a category's name ("groceries") is that category, anything else a merchant's name."""
    text = " ".join(words.split())
    by_name = {c.value.lower(): c.value for c in Category}
    if text.lower() in by_name:
        return {"category": by_name[text.lower()]}
    return {"merchant": text} if text else {}


def parse(form: dict[str, str], *, today: date) -> Query:
    """The search form, checked: BadQuery naming every bad field."""
    errors: dict[str, str] = {}
    merchant = " ".join(form.get("merchant", "").lower().split()) or None
    if merchant is not None and len(merchant) > 60:
        errors["merchant"] = "A merchant name is at most 60 characters."
    low, high = _amount(form.get("min", ""), "min", errors), _amount(form.get("max", ""), "max", errors)
    if low is not None and high is not None and low > high:
        errors["max"] = "The largest amount is below the smallest: swap them."
    category = None
    if form.get("category", "").strip():
        try:
            category = Category(form["category"].strip())
        except ValueError:
            named = form["category"].strip()[:40]
            errors["category"] = f"There is no category \"{named}\": pick one from the list."
    start, end = _day(form.get("from", ""), "from", errors), _day(form.get("to", ""), "to", errors)
    if "from" not in errors and "to" not in errors:
        end = end or today
        start = start or end - timedelta(days=DEFAULT_DAYS)
        if start > end:
            errors["to"] = "The end date is before the start date."
        elif (end - start).days >= MAX_DAYS:
            errors["from"] = f"A search covers at most {MAX_DAYS} days: choose a later start date."
        elif start > today:
            errors["from"] = "The start date is in the future."
    if errors:
        raise BadQuery(errors)
    assert start is not None and end is not None
    return Query(start=start, end=end, merchant=merchant, low=low, high=high, category=category,
                 account_id=form.get("account", "").strip() or None)


def _accounts(accounts: list[AccountView], banks: dict[str, str]) -> list[tuple[str, str]]:
    return [(a.id, f"{banks.get(a.partner_id, 'Statement file')} · {account_label(a)}") for a in accounts]


async def choices(deps: Deps, grant: Grant) -> list[tuple[str, str]]:
    """The person's accounts for the picker, each named with its bank."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        accounts = await access.read_accounts(deps.vault, uow, grant, PURPOSE, at=now)
        banks = {p.id: p.name for p in await uow.partners.all()}
        await uow.commit()
    return _accounts(accounts, banks)


async def search(deps: Deps, grant: Grant, query: Query) -> Results:
    """The person's transactions that match `query`, newest first (at most MAX_RESULTS)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        accounts = await access.read_accounts(deps.vault, uow, grant, PURPOSE, at=now)
        banks = {p.id: p.name for p in await uow.partners.all()}
        picked = [a for a in accounts if query.account_id in (None, a.id)]
        if query.account_id is not None and not picked:
            raise BadQuery({"account": "That account is not one of yours: pick one from the list."})
        said = await access.read_corrections(deps.vault, uow, grant, PURPOSE, at=now)
        txns = await access.read_transactions_between(
            deps.vault, uow, grant, PURPOSE, account_ids=[a.id for a in picked], start=query.start,
            end=query.end, at=now, limit=5000)
        await uow.commit()
    labels = dict(_accounts(accounts, banks))
    found = []
    for t in txns:
        size = abs(t.amount.amount)
        if t.status is TransactionStatus.REMOVED or not query.start <= day_of(t) <= query.end:
            continue
        if query.merchant is not None and query.merchant not in f"{t.merchant or ''} {t.descriptor}".lower():
            continue
        if (query.low is not None and size < query.low) or (query.high is not None and size > query.high):
            continue
        c = categorised(t, said).category
        if query.category is not None and c is not query.category:
            continue
        found.append((t, c))
    found.sort(key=lambda tc: (day_of(tc[0]), tc[0].created_at, tc[0].id), reverse=True)
    rows = [Result(id=t.id, day=fmt.day(day_of(t)), merchant=merchant_of(t), category=c.value,
                   amount=fmt.money(t.amount, signed=True), direction="in" if t.amount.amount > 0 else "out",
                   account=labels.get(t.account_id, ""), pending=t.status is TransactionStatus.PENDING)
            for t, c in found[:MAX_RESULTS]]
    return Results(query=query, rows=rows, total=len(found), accounts=list(labels.items()))
