"""Chat commands of the insights (issue 13): category corrections, "why is X groceries", and
monthly budgets. Registered by `commands.py`, which owns the command table.

* "Chipotle is restaurants": the person's word for every purchase at that merchant, past and
  future (stored sealed, by merchant key); the answer says how many past purchases moved.
* "why is Chipotle restaurants": the category's reason (`Categorised.reason`), dates in locale.
* "budget 300 for restaurants", "budgets", "remove budget for restaurants".
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from ledgerlink.domain import alerts
from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.answer_text import categorised
from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.budgets import Budget, share
from ledgerlink.domain.categories import Categorised, Correction, Source, merchant_key
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.questions import CATEGORY_RE, MAX_DAYS, category_named, day_of
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.ports import ThreadRecord

Reply = tuple[str, list[dict[str, str]]]
_WORDY = re.compile(r"[^\W_]")
_SETTINGS = [{"label": "Alert settings", "href": "/settings/alerts"}]

_CAT = r"(?P<cat>[a-z][a-z &'-]{1,40}?)"
CORRECT = (r"(?P<merchant>(?!why\b|what\b|how\b).{1,80}?) (?:is|are|should be|goes under|belongs (?:in|to)"
           r"|counts as) (?:an? |in |the )?(?P<cat>" + CATEGORY_RE + r")(?: category)?")
# The category is required: "why was I charged a fee?" in a bank thread is for the bank.
WHY = (r"why (?:is|are|was) (?P<merchant>.{1,80}?) (?:in |under |categori[sz]ed as |counted as |an? )?"
       r"(?P<cat>" + CATEGORY_RE + r")(?: category)?")
_AMOUNT = r"(?P<amount>\$?\d[\d,]*(?:\.\d+)?)(?: [a-z]{3})?"
BUDGET_SET = (r"(?:set )?(?:an? |my )?(?:monthly )?budget (?:of )?" + _AMOUNT
              + r"(?: (?:a|per) month| monthly)? (?:for|on) (?:the )?" + _CAT
              + r"|(?:set )?(?:my |the )?" + _CAT.replace("cat>", "cat2>")
              + r" budget (?:to |of |at |is )?" + _AMOUNT.replace("amount>", "amount2>"))
BUDGET_LIST = r"(?:show |list )?(?:my )?budgets?(?: this month)?"
BUDGET_REMOVE = r"(?:remove|delete|clear|stop|drop) (?:the |my )?budget (?:for|on) (?:the )?" + _CAT


def _category(text: str) -> Category:
    found = category_named(text)
    if found is None or found in (Category.INCOME, Category.OTHER):
        names = ", ".join(c.value.lower() for c in list(Category)[:12])
        raise InvalidInput(f"I don't know the category \"{text.strip()}\". Categories include {names}.",
                           code="bad_category")
    return found


async def _history(deps: Deps, grant: Grant) -> list[Transaction]:
    """The person's purchases of the last two years, every linked account (corrections apply
    to a merchant everywhere)."""
    today = deps.clock.now().date()
    async with deps.uow() as uow:
        ids = [a.id for a in await uow.accounts.for_person(grant.person_id)]
        txns = await access.read_transactions_between(
            deps.vault, uow, grant, Purpose.ANSWER_QUESTION, account_ids=ids,
            start=today - timedelta(days=MAX_DAYS * 2), end=today, at=deps.clock.now())
        await uow.commit()
    return [t for t in txns if t.status is not TransactionStatus.REMOVED]


def _key_for(name: str, txns: list[Transaction]) -> tuple[str, str]:
    """The merchant key and display name a typed name means: the merchant of the person's
    purchases that the name is part of (most purchases first), else the name's own key."""
    typed = " ".join(name.lower().split())
    keys: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for t in txns:
        if typed in f"{t.merchant or ''} {t.descriptor}".lower():
            key = categorised(t).merchant_key
            keys[key] += 1
            shown.setdefault(key, t.merchant or key.title())
    if keys:
        key = keys.most_common(1)[0][0]
        return key, shown[key]
    return merchant_key(name), name.strip().title()


def _check_name(name: str) -> str:
    if not _WORDY.search(name) or len(name.strip()) < 2:
        raise InvalidInput(f"\"{name.strip()}\" is not a merchant name I can use.", code="bad_merchant")
    return name


async def correct(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    name, category = _check_name(match["merchant"]), _category(match["cat"])
    txns = await _history(deps, grant)
    key, shown = _key_for(name, txns)
    async with deps.uow() as uow:
        before = await access.read_corrections(deps.vault, uow, grant, Purpose.ANSWER_QUESTION,
                                               at=deps.clock.now())
        mine = [t for t in txns if categorised(t, before).merchant_key == key]
        moved = sum(1 for t in mine if categorised(t, before).category is not category)
        await access.store_correction(deps.vault, uow, grant,
                                      Correction(key, category, deps.clock.now().date()),
                                      at=deps.clock.now())
        await deps.commit_and_publish(uow)
    plural = "purchase" if moved == 1 else "purchases"
    return (f"{shown} is now {category.value}: {moved} past {plural} moved, and new ones follow. "
            f"Say \"why is {shown} {category.value.lower()}\" to check.", [])


def explain(c: Categorised) -> str:
    """`Categorised.explain` with the day said in the messenger's locale."""
    if c.reason.source is Source.CORRECTION and c.reason.said_on is not None:
        return f"{c.category.value}: you said so on {fmt.day(c.reason.said_on)}"
    return c.explain()


async def why(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    name = _check_name(match["merchant"])
    txns = await _history(deps, grant)
    key, shown = _key_for(name, txns)
    async with deps.uow() as uow:
        said = await access.read_corrections(deps.vault, uow, grant, Purpose.ANSWER_QUESTION,
                                             at=deps.clock.now())
        await uow.commit()
    mine = sorted((t for t in txns if categorised(t, said).merchant_key == key),
                  key=lambda t: (day_of(t), t.id))
    if not mine:
        return f"You have no purchases at {shown} in the last two years.", []
    reason = explain(categorised(mine[-1], said))
    return (f"{shown} — {reason}. Not right? Say \"{shown} is restaurants\" (or another category).",
            [])


# --------------------------------------------------------------------------- budgets


def _currency(currencies: list[str]) -> str:
    return Counter(currencies).most_common(1)[0][0]


async def set_budget(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    category = _category(match["cat"] or match["cat2"])
    amount = alerts.parse_amount(match["amount"] or match["amount2"])
    now = deps.clock.now()
    async with deps.uow() as uow:
        accounts = await uow.accounts.for_person(grant.person_id)
        if not accounts:
            return "Link a bank first: a budget counts your purchases.", [{"label": "Link a bank",
                                                                          "href": "/link"}]
        limit = Money.parse(amount, _currency([a.currency for a in accounts]))
        await access.store_budget(deps.vault, uow, grant, category=category, limit=limit, at=now)
        await deps.commit_and_publish(uow)
    return (f"Budget set: {fmt.money(limit)} a month for {category.value}. I'll warn you at 80% and "
            "at 100%.", _SETTINGS)


Spent = dict[Category, dict[str, Money]]  # category -> currency -> money out


async def month_spent(deps: Deps, grant: Grant, today: date) -> tuple[list[Budget], Spent]:
    """The person's budgets and this month's spending per category and currency."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        budgets = await access.read_budgets(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        ids = [a.id for a in await uow.accounts.for_person(grant.person_id)] if budgets else []
        txns = [] if not budgets else await access.read_transactions_between(
            deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, account_ids=ids,
            start=today.replace(day=1), end=today, at=now)
        said = await access.read_corrections(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now) \
            if budgets else {}
        await uow.commit()
    spent: dict[Category, dict[str, Money]] = {}
    for t in txns:
        if t.status is TransactionStatus.REMOVED or not t.amount.is_negative():
            continue
        mine = spent.setdefault(categorised(t, said).category, {})
        cur = t.amount.currency
        mine[cur] = mine[cur] + (-t.amount) if cur in mine else -t.amount
    return budgets, spent


def progress_line(budget: Budget, spent: dict[str, Money]) -> str:
    used = spent.get(budget.limit.currency, Money(Decimal(0), budget.limit.currency))
    pct = fmt.percent(share(used, budget.limit).quantize(Decimal("0.01")))
    return f"{budget.category.value}: {fmt.money(used)} of {fmt.money(budget.limit)} ({pct})"


async def list_budgets(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    today = deps.clock.now().date()
    budgets, spent = await month_spent(deps, grant, today)
    if not budgets:
        return "You have no budgets yet. Say \"budget 300 for restaurants\" to set one.", []
    lines = [f"Your budgets, {fmt.month(today)}:"]
    lines += [f"• {progress_line(b, spent.get(b.category, {}))}" for b in budgets]
    return "\n".join(lines), _SETTINGS


async def remove_budget(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    category = _category(match["cat"])
    now = deps.clock.now()
    async with deps.uow() as uow:
        budgets = await access.read_budgets(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        gone = [b for b in budgets if b.category is category]
        for b in gone:
            await uow.insights.delete_budget(grant.person_id, b.id)
        await deps.commit_and_publish(uow)
    if not gone:
        return f"You have no budget for {category.value}.", []
    return f"Budget for {category.value} removed.", []
