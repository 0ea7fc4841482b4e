"""Spending answers as cards (issue 13): the answer's text, plus a chart section the messenger
shows as a total, a small chart and the top merchants, each linking to the Spending page
filtered to it.

The section is stored in the answer's message body (`body["chart"]`, sealed like every body),
so the card and its chart image (`/spending/answers/<thread>/<chart id>.svg`, read back by the
message's subject) show the figures computed when the question was answered. Channels that
show text only (Matrix, email, webhook, Messenger) get the text, which says the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.answer_text import describe, matches
from ledgerlink.domain.banking import Transaction
from ledgerlink.domain.cards import text_card
from ledgerlink.domain.categories import Correction
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant
from ledgerlink.domain.questions import Question
from ledgerlink.services.insights import charts
from ledgerlink.services.insights.ports import Chart
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging import outgoing
from ledgerlink.services.messaging.ports import ThreadRecord

__all__ = ["Answer", "chart_of", "post", "spending", "subject_of"]

TOP = 5


class Answer(str):
    """An answer's text (what every channel shows) carrying the card's chart section."""

    section: dict[str, Any]

    def __new__(cls, text: str, section: dict[str, Any]) -> Answer:
        made = super().__new__(cls, text)
        made.section = section
        return made


def subject_of(chart_id: str) -> str:
    return f"answer:chart:{chart_id}"


def _href(q: Question, **extra: str) -> str:
    query = {"from": q.period.start.isoformat(), "to": q.period.end.isoformat()}
    if q.category is not None:
        query["category"] = q.category.value
    if q.merchant is not None:
        query["merchant"] = q.merchant
    query.update(extra)
    return "/spending?" + urlencode(query)


def spending(text: str, q: Question, txns: list[Transaction],
             corrections: Mapping[str, Correction] | None = None) -> str:
    """The answer with its chart section (the text as is when nothing was bought)."""
    chosen = [t for t in txns if matches(t, q, corrections) and t.amount.is_negative()]
    if not chosen:
        return text
    counts = Counter(t.amount.currency for t in chosen)
    currency = max(counts, key=lambda c: (counts[c], c))
    said = dict(corrections or {})
    narrow = q.category is not None or q.merchant is not None
    merchants = charts.by_merchant(chosen, currency)
    bars = merchants if narrow else charts.by_category(chosen, said, currency)
    total = Money(sum((m.amount for _, m in merchants), Decimal(0)), currency)
    title = describe(q)
    chart = (charts.merchant_chart(bars, currency, title=title) if narrow
             else charts.category_chart(bars, currency, period=title.removeprefix("Spending, ")))
    section = {
        "id": new_id("cht"), "title": title, "currency": currency, "total": fmt.money(total),
        "count": sum(1 for t in chosen if t.amount.currency == currency), "summary": chart.summary,
        "by": "merchant" if narrow else "category",
        "bars": [{"label": name, "amount": str(m.amount)} for name, m in charts.top_bars(bars, currency)],
        "merchants": [{"name": name, "amount_text": fmt.money(m), "href": _href(q, merchant=name.lower())}
                      for name, m in merchants[:TOP]],
        "href": _href(q),
    }
    return Answer(text, section)


def chart_of(section: Mapping[str, Any]) -> Chart:
    """The small chart of a stored section (raises ValueError if the section is not one)."""
    currency = str(section["currency"])
    rows = [(str(b["label"]), Money(Decimal(str(b["amount"])), currency)) for b in section["bars"]]
    title = str(section["title"])
    if section.get("by") == "merchant":
        return charts.merchant_chart(rows, currency, title=title)
    return charts.category_chart(rows, currency, period=title.removeprefix("Spending, "))


async def post(deps: Deps, uow: UnitOfWork, thread: ThreadRecord, reply: str, *,
               actions: list[dict[str, str]] | None = None) -> None:
    """Post a command's reply; an `Answer` brings its chart section and a subject to find it by."""
    grant = Grant.for_component(thread.person_id, "messenger")
    body = text_card(str(reply), actions=actions)
    subject = None
    if isinstance(reply, Answer):
        body["chart"] = reply.section
        subject = subject_of(str(reply.section["id"]))
    await outgoing.put_message(deps, uow, grant, thread, kind=CardKind.TEXT, body=body, subject_key=subject)
