"""The answers to spending questions, as text in the messenger's locale (pure).

Transactions come already read (`services/questions/answers.py`); categories are
`categories.categorise` with the person's corrections, so "coffee" never counts Chipotle and a
correction moves past purchases too.

* spending: purchases (money out), posted and pending; cancelled (removed) charges never count.
  Refunds are NOT subtracted: card refunds in the period are shown on a separate line. Totals
  are per currency (different currencies are never added) with the count and the top merchants.
* biggest: the largest purchases of a period; compare: two months' totals and the change.
* recurring: `domain/recurring.detect` (cadence, stable amount, not everyday spending).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.activity import Activity, from_transaction
from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.categories import Categorised, Correction, categorise
from ledgerlink.domain.money import Money
from ledgerlink.domain.questions import Period, Question, day_of, merchant_of, month_end
from ledgerlink.domain.recurring import Kind, Recurring

Corrections = Mapping[str, Correction]
STATUS_WORDS = {TransactionStatus.PENDING: "pending", TransactionStatus.POSTED: "posted"}
TOP = 3


def categorised(txn: Transaction, corrections: Corrections | None = None) -> Categorised:
    return categorise(merchant=txn.merchant, descriptor=txn.descriptor, mcc=txn.mcc,
                      amount=txn.amount, corrections=corrections)


def activities(txns: Iterable[Transaction], corrections: Corrections | None = None) -> list[Activity]:
    out = []
    for t in txns:
        a = from_transaction(t, categorised(t, corrections))
        if a is not None:
            out.append(a)
    return out


def period_text(p: Period) -> str:
    """ "Nov 3, 2026", "October 2026", "Nov 30 - Dec 3, 2026" (an en dash)."""
    if p.start == p.end:
        return fmt.day(p.start)
    if p.start.day == 1 and p.end == month_end(p.start.year, p.start.month):
        return fmt.month(p.start)
    return f"{fmt.day(p.start, year=p.start.year != p.end.year)} – {fmt.day(p.end)}"


def matches(txn: Transaction, q: Question, corrections: Corrections | None = None) -> bool:
    if q.category is not None and categorised(txn, corrections).category is not q.category:
        return False
    if q.merchant is not None:
        names = f"{txn.merchant or ''} {txn.descriptor}".lower()
        if q.merchant not in names:
            return False
    return True


def describe(q: Question, period: Period | None = None) -> str:
    what = "Spending"
    if q.category is not None:
        what += f" on {q.category.value}"
    if q.merchant is not None:
        what += f" at {q.merchant.title()}"
    return f"{what}, {period_text(period or q.period)}"


def _add(into: dict[str, Money], money: Money) -> None:
    into[money.currency] = into[money.currency] + money if money.currency in into else money


def _purchases(n: int) -> str:
    return f"{n} purchase{'' if n == 1 else 's'}"


def totals(txns: Iterable[Transaction]) -> tuple[dict[str, Money], dict[str, int]]:
    """Money out per currency (positive), and the number of purchases."""
    spent: dict[str, Money] = {}
    counts: dict[str, int] = defaultdict(int)
    for t in txns:
        if t.amount.is_negative():
            _add(spent, -t.amount)
            counts[t.amount.currency] += 1
    return spent, counts


def no_history_note(period: Period, first_day: date | None) -> str:
    """Why a period older than the person's data is empty ("your history here starts ...")."""
    if first_day is None:
        return " There are no transactions here yet."
    if period.end < first_day:
        return f" Your transactions here start on {fmt.day(first_day)}, so that period is not covered."
    return ""


def spending_answer(q: Question, txns: list[Transaction], corrections: Corrections | None = None) -> str:
    """The total, count and top merchants; "...: no purchases." when nothing matched (the caller
    may add `no_history_note`)."""
    chosen = [t for t in txns if matches(t, q, corrections)]
    spent, counts = totals(chosen)
    by_merchant: dict[str, dict[str, Money]] = defaultdict(dict)
    refunds: dict[str, Money] = {}
    for t in chosen:
        if t.amount.is_negative():
            mine = by_merchant[t.amount.currency]
            name = merchant_of(t)
            mine[name] = mine[name] + (-t.amount) if name in mine else -t.amount
        elif t.amount.amount > 0 and t.mcc is not None:  # a card refund, not income
            _add(refunds, t.amount)
    head = describe(q)
    if not spent:
        return f"{head}: no purchases."
    lines = [f"{head} (posted and pending purchases; refunds are not subtracted):"]
    for cur in sorted(spent):
        top = sorted(by_merchant[cur].items(), key=lambda kv: (-kv[1].amount, kv[0]))[:TOP]
        line = f"• {fmt.money(spent[cur])} in {_purchases(counts[cur])}"
        line += ". Top: " + ", ".join(f"{name} {fmt.money(money)}" for name, money in top)
        lines.append(line)
    for cur in sorted(refunds):
        lines.append(f"Refunds received in the period: {fmt.money(refunds[cur])} (not subtracted above).")
    return "\n".join(lines)


def biggest_answer(q: Question, txns: list[Transaction]) -> str:
    out = sorted((t for t in txns if t.amount.is_negative()),
                 key=lambda t: (t.amount.amount, day_of(t), t.id))[: q.count]
    if not out:
        return f"No purchases, {period_text(q.period)}."
    lines = [f"Your biggest purchases, {period_text(q.period)}:"]
    lines += [f"• {fmt.money(-t.amount)} {merchant_of(t)}, {fmt.day(day_of(t), year=False)}" for t in out]
    return "\n".join(lines)


def compare_answer(q: Question, first: list[Transaction], second: list[Transaction],
                   corrections: Corrections | None = None) -> str:
    assert q.other is not None
    a, _ = totals(t for t in first if matches(t, q, corrections))
    b, _ = totals(t for t in second if matches(t, q, corrections))
    what = "Spending" + (f" on {q.category.value}" if q.category is not None else "")
    lines = [f"{what}: {period_text(q.period)} and {period_text(q.other)}"]
    for cur in sorted(set(a) | set(b)):
        x, y = a.get(cur, Money(Decimal(0), cur)), b.get(cur, Money(Decimal(0), cur))
        line = f"• {fmt.money(x)} and {fmt.money(y)}"
        diff = y - x
        if diff.amount:
            line += f": {fmt.money(Money(abs(diff.amount), cur))} {'more' if diff.amount > 0 else 'less'}"
        lines.append(line + (f" in {fmt.month(q.other.start)}" if diff.amount else ": the same"))
    if len(lines) == 1:
        lines.append("• No purchases in either month.")
    return "\n".join(lines)


def last_answer(latest: list[Transaction]) -> str:
    if not latest:
        return "No transactions in the last year."
    lines = [f"Your last {len(latest)} transaction{'s' if len(latest) != 1 else ''}:"]
    for t in latest:
        status = STATUS_WORDS.get(t.status, t.status.value)
        lines.append(f"• {fmt.day(day_of(t))} {merchant_of(t)} {fmt.money(t.amount)} ({status})")
    return "\n".join(lines)


def latest_first(txns: list[Transaction], count: int) -> list[Transaction]:
    return sorted(txns, key=lambda t: (day_of(t), t.created_at, t.id), reverse=True)[:count]


def recurring_answer(found: list[Recurring], since: date) -> str:
    live = sorted((r for r in found if r.active and not r.amount.amount > 0),
                  key=lambda r: (r.kind is not Kind.SUBSCRIPTION, r.amount.amount, r.merchant))
    if not live:
        return (f"No recurring payments found since {fmt.day(since)} (a payment is recurring after "
                "a few charges at a regular interval).")
    lines = [f"Recurring payments since {fmt.day(since)}:"]
    for r in live:
        lines.append(f"• {r.merchant}: {fmt.money(-r.amount)} {r.cadence.value} ({r.kind.value}), "
                     f"next about {fmt.day(r.next_expected, year=False)}")
    return "\n".join(lines)
