"""Budget warnings and progress (issue 13): a purchase that takes a category's monthly spending
past 80 % or 100 % of its budget warns once per level per month (`InsightRepository.mark_warned`
is the once: a compare-and-set on the budget row); the digest shows each budget's progress.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.alerts import Alert, AlertRule, enabled
from ledgerlink.domain.answer_text import categorised
from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.budgets import Budget, due_level, month_key, share
from ledgerlink.domain.categories import Correction
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork

BUDGET = "budget"  # the alert kind (a `budget` switch row turns warnings off)


async def _spent(deps: Deps, uow: UnitOfWork, grant: Grant, purpose: Purpose, today: date,
                 corrections: dict[str, Correction]) -> dict[tuple[Category, str], Money]:
    """This month's money out per (category, currency), every account of the person."""
    ids = [a.id for a in await uow.accounts.for_person(grant.person_id)]
    txns = await access.read_transactions_between(
        deps.vault, uow, grant, purpose, account_ids=ids, start=today.replace(day=1), end=today,
        at=deps.clock.now())
    out: dict[tuple[Category, str], Money] = {}
    for t in txns:
        if t.status is TransactionStatus.REMOVED or not t.amount.is_negative():
            continue
        key = (categorised(t, corrections).category, t.amount.currency)
        out[key] = out[key] + (-t.amount) if key in out else -t.amount
    return out


def _text(budget: Budget, used: Money, level: int, today: date) -> str:
    month = fmt.month(today)
    pct = fmt.percent(share(used, budget.limit).quantize(Decimal("0.01")))
    if level >= 100:
        return (f"Budget reached: {budget.category.value} is at {fmt.money(used)} of your "
                f"{fmt.money(budget.limit)} for {month} ({pct}).")
    return (f"Budget: {budget.category.value} is at {fmt.money(used)} of your {fmt.money(budget.limit)} "
            f"for {month} ({pct}).")


async def warnings(deps: Deps, uow: UnitOfWork, grant: Grant, txn: Transaction,
                   corrections: dict[str, Correction], rules: list[AlertRule]) -> list[Alert]:
    """The warnings this purchase calls for: its category's budget past a level not warned this
    month (recorded as warned here, so the caller sends each once)."""
    today = deps.clock.now().date()
    day = txn.booking_date or txn.created_at.date()
    if not txn.amount.is_negative() or month_key(day) != month_key(today) or not enabled(rules, BUDGET):
        return []
    category = categorised(txn, corrections).category
    budgets = [b for b in await access.read_budgets(deps.vault, uow, grant, Purpose.DELIVER_UPDATE,
                                                     at=deps.clock.now())
               if b.category is category and b.limit.currency == txn.amount.currency]
    if not budgets:
        return []
    spent = await _spent(deps, uow, grant, Purpose.DELIVER_UPDATE, today, corrections)
    out = []
    for budget in budgets:
        used = spent.get((category, budget.limit.currency), Money(Decimal(0), budget.limit.currency))
        level = due_level(budget, used, today=today)
        if level is None or not await uow.insights.mark_warned(
                grant.person_id, budget.id, month=month_key(today), level=level):
            continue
        out.append(Alert(BUDGET, f"budget:{budget.id}:{month_key(today)}:{level}",
                         _text(budget, used, level, today), "warning"))
    return out


async def progress(deps: Deps, uow: UnitOfWork, grant: Grant, today: date) -> list[str]:
    """One line per budget for the digest: "Restaurants: $245.00 of $300.00 (82%)"."""
    now = deps.clock.now()
    budgets = await access.read_budgets(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
    if not budgets:
        return []
    said = await access.read_corrections(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
    spent = await _spent(deps, uow, grant, Purpose.DELIVER_UPDATE, today, said)
    lines = []
    for b in budgets:
        used = spent.get((b.category, b.limit.currency), Money(Decimal(0), b.limit.currency))
        pct = fmt.percent(share(used, b.limit).quantize(Decimal("0.01")))
        lines.append(f"{b.category.value}: {fmt.money(used)} of {fmt.money(b.limit)} ({pct})")
    return lines
