"""What a bank thread shows beside its cards (issue 13, "The thread"): one summary card of the
history fetched at link time, instead of a card per old purchase, and the data of the
thread's pinned header (each account's balances and freshness).

History is stored quietly by the first sync (`sync.py`); this only sums it up. The summary is
one message per link (subject `link:summary:<link id>`), edited in place as each account's
first sync lands, so a link of two accounts still posts one card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import structlog

from ledgerlink.domain.banking import LinkStatus, Scope, TransactionStatus
from ledgerlink.domain.cards import account_label, text_card
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.locale_text import day, money
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.outgoing import put_card

__all__ = ["SUMMARY_DAYS", "AccountLine", "header_accounts", "post_link_summary", "summary_key"]

log = structlog.get_logger(__name__)

SUMMARY_DAYS = 30
LIST_LIMIT = 200  # the card's "show all" list; the figures count every transaction


def summary_key(link_id: str) -> str:
    return f"link:summary:{link_id}"


async def post_link_summary(deps: Deps, *, link_id: str) -> None:
    """Write (or edit in place) the link's "Your last 30 days" card from the stored history."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        link = await uow.links.get(link_id)
        if link is None or link.status != LinkStatus.ACTIVE.value:
            return
        thread = await uow.threads.for_link(link_id)
        if thread is None:
            return
        thread = await uow.threads.lock(thread.id) or thread
        grant = Grant.for_component(link.person_id, "delivery")
        accounts = await access.read_accounts(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now,
                                              link_id=link_id)
        labels = {a.id: account_label(a) for a in accounts}
        start = now.date() - timedelta(days=SUMMARY_DAYS)
        txns = await access.read_transactions_between(
            deps.vault, uow, grant, Purpose.DELIVER_UPDATE, account_ids=list(labels),
            start=start, end=now.date(), at=now, limit=LIST_LIMIT * 5,
        )  # fmt: skip
        txns = [t for t in txns if t.status is not TransactionStatus.REMOVED]
        txns.sort(key=lambda t: (t.booking_date or t.created_at.date(), t.created_at), reverse=True)
        totals: dict[str, list[Decimal]] = {}
        for t in txns:
            out_in = totals.setdefault(t.amount.currency, [Decimal(0), Decimal(0)])
            out_in[0 if t.amount.amount < 0 else 1] += abs(t.amount.amount)
        currencies = [{"currency": c, "out": str(v[0]), "in": str(v[1])} for c, v in sorted(totals.items())]
        items = [{"merchant": t.merchant or t.descriptor, "amount": str(t.amount.amount),
                  "currency": t.amount.currency, "account": labels.get(t.account_id, ""),
                  "amount_text": money(t.amount, signed=True),
                  "day": (t.booking_date or t.created_at.date()).isoformat(),
                  "day_text": day(t.booking_date or t.created_at.date(), year=False),
                  "pending": t.status is TransactionStatus.PENDING} for t in txns[:LIST_LIMIT]]
        body = text_card(_text(len(txns), currencies))
        body["summary"] = {"days": SUMMARY_DAYS, "count": len(txns), "currencies": currencies,
                           "items": items, "more": max(0, len(txns) - len(items))}
        await put_card(deps, uow, grant, thread, CardKind.TEXT, body, subject_key=summary_key(link_id))
        await deps.commit_and_publish(uow)
    log.info("link_summary_posted", link_id=link_id, transactions=len(txns))


def _text(count: int, currencies: list[dict[str, str]]) -> str:
    """ "Your last 30 days: 42 transactions, $1,830.00 out, $2,400.00 in" (every currency)."""
    if count == 0:
        return f"Your last {SUMMARY_DAYS} days: no transactions."
    figures = [f"{money(Money(Decimal(c['out']), c['currency']))} out, "
               f"{money(Money(Decimal(c['in']), c['currency']))} in" for c in currencies]
    noun = "transaction" if count == 1 else "transactions"
    return f"Your last {SUMMARY_DAYS} days: {count} {noun}, " + "; ".join(figures)


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One account in a bank thread's pinned header."""

    id: str
    label: str  # "Everyday Checking ••1234"
    current: Money | None
    available: Money | None
    as_of: datetime | None
    balances_shared: bool = True  # False: the link's consent leaves balances out (issue 10)


async def header_accounts(deps: Deps, grant: Grant, *, link_id: str) -> list[AccountLine]:
    """The person's own accounts of `link_id` with their balances (purpose show_to_person)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        link = await uow.links.get(link_id)
        if link is None or link.person_id != grant.person_id:
            return []
        views = await access.read_accounts(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now,
                                           link_id=link_id)
        await uow.commit()
    return [AccountLine(id=v.id, label=account_label(v),
                        current=None if v.balance is None else v.balance.current,
                        available=None if v.balance is None else v.balance.available,
                        as_of=None if v.balance is None else v.balance.as_of,
                        balances_shared=Scope.BALANCES.value in link.scopes) for v in views]
