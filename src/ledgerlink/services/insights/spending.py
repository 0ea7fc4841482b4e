"""The Spending page and its charts (issue 13): a period's spending by category, the last six
months, one account's balance over time with its projection, budget progress and the purchases,
optionally filtered by category or merchant (the view a chat answer's merchants link to).

Everything is read through `access` with purpose `show_to_person` (each read is audited); the
page and each chart image read afresh, so a chart always shows what the table beside it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.answer_text import categorised, period_text
from ledgerlink.domain.banking import AccountType, AccountView, Transaction, TransactionStatus
from ledgerlink.domain.budgets import Budget, share
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.categories import Correction
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.questions import Period, day_of, merchant_of, month_end
from ledgerlink.services import access
from ledgerlink.services.insights import charts
from ledgerlink.services.insights.ports import Chart, ChartRenderer
from ledgerlink.services.insights.projection import account_projection
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork

PURPOSE = Purpose.SHOW_TO_PERSON
MONTHS = 6  # month over month
BALANCE_DAYS = 60
MAX_DAYS = 366
MAX_ROWS = 200
CHART_NAMES = ("categories", "months", "balance")


@dataclass(frozen=True, slots=True)
class Filter:
    period: Period
    category: Category | None = None
    merchant: str | None = None  # lower-case fragment of merchant or descriptor
    account_id: str | None = None  # the balance chart's account

    def matches(self, txn: Transaction, corrections: dict[str, Correction]) -> bool:
        if self.category is not None and categorised(txn, corrections).category is not self.category:
            return False
        return self.merchant is None or self.merchant in f"{txn.merchant or ''} {txn.descriptor}".lower()


def _month(text: str) -> date:
    try:
        year, month = (int(x) for x in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise InvalidInput(f"month {text[:20]!r} is not a month: write it as YYYY-MM, e.g. 2026-11",
                           code="bad_month") from None


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} {text[:20]!r} is not a date: write it as YYYY-MM-DD",
                           code="bad_date") from None


def parse_filter(*, today: date, month: str | None = None, start: str | None = None,
                 end: str | None = None, category: str | None = None, merchant: str | None = None,
                 account: str | None = None) -> Filter:
    """The page's query, checked: a month (default this one) or a from/to range of at most a
    year; a category by its name; a merchant fragment of at most 60 characters."""
    if start or end:
        if not (start and end):
            raise InvalidInput("a range needs both from and to dates", code="bad_range")
        period = Period(_day(start, "from"), _day(end, "to"))
        if period.end < period.start or (period.end - period.start).days >= MAX_DAYS:
            raise InvalidInput(f"the range must run forward and cover at most {MAX_DAYS} days",
                               code="bad_range")
    else:
        first = _month(month) if month else today.replace(day=1)
        period = Period(first, month_end(first.year, first.month))
    wanted: Category | None = None
    if category:
        try:
            wanted = Category(category)
        except ValueError:
            raise InvalidInput(f"there is no category {category[:40]!r}", code="bad_category") from None
    fragment = " ".join((merchant or "").lower().split()) or None
    if fragment is not None and len(fragment) > 60:
        raise InvalidInput("a merchant name is at most 60 characters", code="bad_merchant")
    return Filter(period, wanted, fragment, account or None)


@dataclass(frozen=True, slots=True)
class BudgetLine:
    category: str
    spent: str
    limit: str
    percent: int  # 0..100 for the bar
    label: str  # "82%"
    level: str  # ok, warn (80 %), over (100 %)


@dataclass(frozen=True, slots=True)
class Purchase:
    day: str
    merchant: str
    category: str
    amount: str
    pending: bool


@dataclass(slots=True)
class SpendingView:
    filter: Filter
    period_label: str
    currency: str
    total: str
    count: int
    other_currencies: int  # purchases in other currencies, left out of the figures
    categories: Chart
    months: Chart
    balance: Chart | None
    accounts: list[tuple[str, str]]  # (id, label) with a balance, for the balance chart
    account_id: str | None
    budgets: list[BudgetLine] = field(default_factory=list)
    purchases: list[Purchase] = field(default_factory=list)
    month_choices: list[tuple[str, str]] = field(default_factory=list)  # (YYYY-MM, label)


def _main(accounts: list[AccountView]) -> str:
    checking = [a for a in accounts if a.type is AccountType.CHECKING]
    return (checking or accounts)[0].currency if accounts else "USD"


def _balance_account(accounts: list[AccountView], wanted: str | None) -> AccountView | None:
    with_balance = [a for a in accounts if a.balance is not None]
    if wanted is not None:
        found = next((a for a in with_balance if a.id == wanted), None)
        if found is None:
            raise NotFound("account not found")
        return found
    checking = [a for a in with_balance if a.type is AccountType.CHECKING]
    chosen = checking or with_balance
    return chosen[0] if chosen else None


def _months_back(first: date, count: int) -> list[date]:
    index = first.year * 12 + first.month - 1
    return [date((index - k) // 12, (index - k) % 12 + 1, 1) for k in range(count - 1, -1, -1)]


class Spending:
    def __init__(self, deps: Deps, renderer: ChartRenderer) -> None:
        self._deps = deps
        self._renderer = renderer

    def svg(self, chart: Chart, *, small: bool = False) -> str:
        width, height = (360, 200) if small else (720, 360)
        return self._renderer.svg(chart, width=width, height=height)

    async def _read(self, uow: UnitOfWork, grant: Grant, accounts: list[AccountView],
                    start: date, end: date) -> list[Transaction]:
        txns = await access.read_transactions_between(
            self._deps.vault, uow, grant, PURPOSE, account_ids=[a.id for a in accounts],
            start=start, end=end, at=self._deps.clock.now(), limit=5000)
        return [t for t in txns if t.status is not TransactionStatus.REMOVED]

    async def view(self, grant: Grant, wanted: Filter, *, only: str | None = None) -> SpendingView:
        """The page (or, with `only`, just what one chart needs: fewer reads)."""
        deps, now = self._deps, self._deps.clock.now()
        today, period = now.date(), wanted.period
        async with deps.uow() as uow:
            accounts = await access.read_accounts(deps.vault, uow, grant, PURPOSE, at=now)
            said = await access.read_corrections(deps.vault, uow, grant, PURPOSE, at=now)
            currency = _main(accounts)
            first_month = _months_back(period.start.replace(day=1), MONTHS)[0]
            txns = [] if only == "balance" else await self._read(
                uow, grant, accounts, min(first_month, period.start), period.end)
            chosen = [t for t in txns if period.start <= day_of(t) <= period.end and wanted.matches(t, said)]
            target = _balance_account(accounts, wanted.account_id)
            balance = None
            if target is not None and only in (None, "balance"):
                projection = await account_projection(deps, uow, grant, PURPOSE, target, said)
                if projection is not None and target.balance is not None:
                    history = charts.balance_history(target.balance.current, projection.history,
                                                      today=today, days=BALANCE_DAYS)
                    balance = charts.balance_chart(history, projection.forecast,
                                                   account=account_label(target))
            budgets = [] if only is not None else await access.read_budgets(
                deps.vault, uow, grant, PURPOSE, at=now)
            await uow.commit()
        label = period_text(period)
        in_period = [t for t in txns if period.start <= day_of(t) <= period.end]
        held_from = min((day_of(t) for t in txns), default=period.start)  # no data: not "$0"
        months = [(m, _spent([t for t in txns if m <= day_of(t) <= month_end(m.year, m.month)
                              and wanted.matches(t, said)], currency))
                  for m in _months_back(period.start.replace(day=1), MONTHS)
                  if month_end(m.year, m.month) >= held_from]
        bought = charts.purchases(chosen, currency)
        view = SpendingView(
            filter=wanted, period_label=label, currency=currency, total=fmt.money(_spent(chosen, currency)),
            count=len(bought),
            other_currencies=sum(1 for t in chosen if t.amount.is_negative()) - len(bought),
            categories=charts.category_chart(charts.by_category(chosen, said, currency), currency,
                                             period=label),
            months=charts.month_chart(months, currency), balance=balance,
            accounts=[(a.id, account_label(a)) for a in accounts if a.balance is not None],
            account_id=target.id if target is not None else None,
        )
        if only is None:
            view.budgets = _budget_lines(budgets, in_period, said)
            latest = sorted(bought, key=lambda t: (day_of(t), t.id), reverse=True)[:MAX_ROWS]
            view.purchases = [
                Purchase(fmt.day(day_of(t)), merchant_of(t), categorised(t, said).category.value,
                         fmt.money(-t.amount), t.status is TransactionStatus.PENDING) for t in latest]
            recent = _months_back(today.replace(day=1), 12)[::-1]
            view.month_choices = [(f"{m:%Y-%m}", fmt.month(m)) for m in recent]
        return view

    async def chart(self, grant: Grant, name: str, wanted: Filter) -> Chart:
        if name not in CHART_NAMES:
            raise NotFound("chart not found")
        view = await self.view(grant, wanted, only=name)
        chart = {"categories": view.categories, "months": view.months, "balance": view.balance}[name]
        if chart is None:
            raise NotFound("no balance to chart yet")
        return chart


def _spent(txns: list[Transaction], currency: str) -> Money:
    """Money out in `currency` (positive)."""
    return Money(sum((-t.amount.amount for t in charts.purchases(txns, currency)), Decimal(0)), currency)


def _budget_lines(budgets: list[Budget], txns: list[Transaction],
                  said: dict[str, Correction]) -> list[BudgetLine]:
    out = []
    for b in budgets:
        used = _spent([t for t in txns if categorised(t, said).category is b.category], b.limit.currency)
        ratio = share(used, b.limit)
        level = "over" if ratio >= 1 else "warn" if ratio >= Decimal("0.8") else "ok"
        out.append(BudgetLine(b.category.value, fmt.money(used), fmt.money(b.limit),
                              min(100, int(ratio * 100)), fmt.percent(ratio.quantize(Decimal("0.01"))),
                              level))
    return out
