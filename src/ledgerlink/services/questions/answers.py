"""Spending questions typed in a thread, answered deterministically (no outside service).

The question is parsed, and the answer computed, by `domain/questions.py` (pure). `answer` here
reads the person's own transactions through `access` (purpose answer_question) for the thread's
accounts, and hands them to those rules:

* spending: purchases (money out), posted and pending; cancelled (removed) charges never count.
  Refunds are NOT subtracted: card refunds in the period are shown on a separate line.
  Totals are per currency (different currencies are never added) with the purchase count and
  the top 3 merchants.
* last transactions: the latest N (default 5, at most 50): date, merchant, amount, status.
* biggest purchases of a period; two months compared.
* recurring: `domain/recurring.detect` over the last 12 months (cadence, stable amount, not
  everyday spending): Spotify is a subscription, weekly groceries are not.

Categories follow the person's corrections (read through `access`); money and dates are in the
messenger's locale (`domain/locale_text.py`).
"""

from __future__ import annotations

import difflib
from datetime import date, timedelta

from ledgerlink.domain import answer_text
from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.categories import Correction
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.questions import MAX_DAYS, Period, Question, day_of, merchant_of
from ledgerlink.domain.recurring import detect
from ledgerlink.services import access
from ledgerlink.services.imports.ports import FILES_LINK_STATUS  # statement imports (issue 10)
from ledgerlink.services.insights import answer_cards  # spending answers as cards (issue 13)
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
        and links[r.link_id].status in ("active", FILES_LINK_STATUS)  # + accounts known from files (issue 10)
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


async def corrections(deps: Deps, grant: Grant) -> dict[str, Correction]:
    """The person's category corrections, by merchant key (issue 13)."""
    async with deps.uow() as uow:
        found = await access.read_corrections(deps.vault, uow, grant, Purpose.ANSWER_QUESTION,
                                              at=deps.clock.now())
        await uow.commit()
    return found


async def _last(deps: Deps, grant: Grant, account_ids: list[str], q: Question, today: date) -> str:
    txns: list[Transaction] = []
    for days in (31, 92, MAX_DAYS):  # widen the window until there are enough
        txns = await _read(deps, grant, account_ids, Period(today - timedelta(days=days - 1), today))
        if len(txns) >= q.count:
            break
    return answer_text.last_answer(answer_text.latest_first(txns, q.count))


async def _recurring(deps: Deps, grant: Grant, account_ids: list[str], q: Question, today: date) -> str:
    txns = await _read(deps, grant, account_ids, q.period)
    found = detect(answer_text.activities(txns, await corrections(deps, grant)), today=today)
    return answer_text.recurring_answer(found, q.period.start)


async def _first_day(deps: Deps, grant: Grant, account_ids: list[str], today: date) -> date | None:
    """The first day of the data we hold (to say why an older period is empty)."""
    txns = await _read(deps, grant, account_ids, Period(today - timedelta(days=MAX_DAYS * 2), today))
    return min((day_of(t) for t in txns), default=None)


async def _spending(deps: Deps, grant: Grant, account_ids: list[str], q: Question, today: date) -> str:
    said = await corrections(deps, grant) if q.category is not None else {}
    txns = await _read(deps, grant, account_ids, q.period)
    text = answer_text.spending_answer(q, txns, said)
    if text.endswith(": no purchases."):
        first = await _first_day(deps, grant, account_ids, today)
        text += answer_text.no_history_note(q.period, first)
    return answer_cards.spending(text, q, txns, said)  # a card with a chart (issue 13, charts)


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
        return await _recurring(deps, grant, account_ids, question, today), []
    if question.kind == "biggest":
        txns = await _read(deps, grant, account_ids, question.period)
        return answer_text.biggest_answer(question, txns), []
    if question.kind == "compare" and question.other is not None:
        said = await corrections(deps, grant) if question.category is not None else {}
        first = await _read(deps, grant, account_ids, question.period)
        second = await _read(deps, grant, account_ids, question.other)
        return answer_text.compare_answer(question, first, second, said), []
    return await _spending(deps, grant, account_ids, question, today), []


MERCHANT_LOOKBACK_DAYS = 90


async def unknown_merchant_hint(deps: Deps, grant: Grant, thread: ThreadRecord, name: str) -> str:
    """A muted name that matches none of the person's recent purchases is likely a typo: say
    so, with the closest merchant names they do buy from."""

    merchants = await recent_merchants(deps, grant, thread, days=MERCHANT_LOOKBACK_DAYS)
    if any(name in m.lower() for m in merchants):
        return ""
    hint = (f" (You have no purchases matching \"{name}\" in the last {MERCHANT_LOOKBACK_DAYS} days; "
            "it is muted anyway.")
    close = difflib.get_close_matches(name, [m.lower() for m in merchants], n=2, cutoff=0.6)
    if close:
        by_lower = {m.lower(): m for m in merchants}
        hint += " Did you mean " + " or ".join(f"\"{by_lower[c]}\"" for c in close) + "?"
    return hint + ")"
