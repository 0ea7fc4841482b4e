"""Spending questions typed in a thread, answered deterministically (no outside service).

The question is parsed, and the answer computed, by `domain/questions.py` (pure). `answer` here
reads the person's own transactions through `access` (purpose answer_question) for the thread's
accounts, and hands them to those rules:

* spending: purchases (money out), posted and pending; cancelled (removed) charges never count.
  Refunds are NOT subtracted: card refunds in the period are shown on a separate line.
  Totals are per currency (different currencies are never added) with the purchase count and
  the top 3 merchants.
* last transactions: the latest N (default 5, at most 50): date, merchant, amount, status.
* recurring: merchants charged about once a month in at least 2 of the last 3 calendar months
  (this one included) with similar amounts (within 20 % of their median), with the typical amount.
"""

from __future__ import annotations

from datetime import date, timedelta

from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.questions import (
    MAX_DAYS,
    STATUS_WORDS,
    Period,
    Question,
    day_of,
    latest_first,
    merchant_of,
    month_start_before,
    recurring,
    spending_answer,
)
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.ports import ThreadRecord

# --------------------------------------------------------------------------- answering


async def _account_ids(deps: Deps, grant: Grant, thread: ThreadRecord) -> list[str]:
    """The accounts the thread speaks for: its bank's, or every active link's in the system thread."""
    async with deps.uow() as uow:
        links = {lk.id: lk for lk in await uow.links.for_person(grant.person_id)}
        records = await uow.accounts.for_person(grant.person_id)
        await uow.commit()
    return [
        r.id
        for r in records
        if (thread.link_id is None or r.link_id == thread.link_id)
        and r.link_id in links
        and links[r.link_id].status == "active"
    ]


async def _read(deps: Deps, grant: Grant, account_ids: list[str], period: Period) -> list[Transaction]:
    async with deps.uow() as uow:
        txns = await access.read_transactions_between(
            deps.vault, uow, grant, Purpose.ANSWER_QUESTION,
            account_ids=account_ids, start=period.start, end=period.end, at=deps.clock.now(),
        )  # fmt: skip
        await uow.commit()
    return [t for t in txns if t.status is not TransactionStatus.REMOVED]


async def recent_merchants(deps: Deps, grant: Grant, thread: ThreadRecord, *, days: int = 90) -> list[str]:
    """The merchant names of the thread's accounts' purchases in the last `days` (read to
    answer the person, e.g. whether a merchant they mute is one they buy from)."""
    today = deps.clock.now().date()
    txns = await _read(deps, grant, await _account_ids(deps, grant, thread),
                       Period(today - timedelta(days=days), today))
    return sorted({merchant_of(t) for t in txns if merchant_of(t)})


async def _last(deps: Deps, grant: Grant, account_ids: list[str], q: Question, today: date) -> str:
    txns: list[Transaction] = []
    for days in (31, 92, MAX_DAYS):  # widen the window until there are enough
        txns = await _read(deps, grant, account_ids, Period(today - timedelta(days=days - 1), today))
        if len(txns) >= q.count:
            break
    latest = latest_first(txns, q.count)
    if not latest:
        return "No transactions in the last year."
    lines = [f"Your last {len(latest)} transaction{'s' if len(latest) != 1 else ''}:"]
    for t in latest:
        status = STATUS_WORDS.get(t.status, t.status.value)
        lines.append(f"• {day_of(t).isoformat()} {merchant_of(t)} {t.amount} ({status})")
    return "\n".join(lines)


async def _recurring(deps: Deps, grant: Grant, account_ids: list[str], today: date) -> str:
    start = month_start_before(today, 2)
    months = [(d.year, d.month) for d in (start, month_start_before(today, 1), today)]
    txns = await _read(deps, grant, account_ids, Period(start, today))
    found = recurring(txns, months)
    since = f"{start:%b} – {today:%b %Y}"
    if not found:
        return f"No recurring charges found ({since})."
    lines = [f"Recurring charges, {since} (charged in at least 2 of the 3 months, similar amounts):"]
    lines += [f"• {name}: about {money} a month ({n} of 3 months)" for name, money, n in found]
    return "\n".join(lines)


async def answer(
    deps: Deps, grant: Grant, thread: ThreadRecord, question: Question
) -> tuple[str, list[dict[str, str]]]:
    """Answer from the person's own data: the thread's bank, or every linked bank in the system thread."""
    account_ids = await _account_ids(deps, grant, thread)
    if not account_ids:
        return "No linked accounts yet.", [{"label": "Link a bank", "href": "/link"}]
    today = deps.clock.now().date()
    if question.kind == "last_transactions":
        return await _last(deps, grant, account_ids, question, today), []
    if question.kind == "recurring":
        return await _recurring(deps, grant, account_ids, today), []
    return spending_answer(question, await _read(deps, grant, account_ids, question.period)), []
