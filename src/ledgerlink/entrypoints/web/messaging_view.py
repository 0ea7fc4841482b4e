"""A thread as the person reads it (issue 13, "The thread"): cards grouped by day under date
separators ("Today", "Yesterday", "Mon, Nov 30" in the person's locale, on the calendar of
the person's IANA zone), an alert about a
purchase folded into that purchase's card, open "Was this you?" prompts pinned on top, and
a bank thread's header (balances, freshness). `messenger.js` keeps the same shape live.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from fastapi import Request
from markupsafe import Markup

from ledgerlink.domain.refresh_text import freshness
from ledgerlink.domain.zones import tz
from ledgerlink.entrypoints.web.rendering import format_money, render_message
from ledgerlink.services.ingest.link_summary import AccountLine
from ledgerlink.services.messaging.ports import MessageView

__all__ = ["FOLDED_KINDS", "DayGroup", "Thread", "build", "header_rows", "locale_for", "person_zone",
           "refiled"]

# Alerts that are about one purchase and say nothing the card does not: shown on its card.
# Real notifications (low balance, fraud prompts, declines, digests) stay bubbles of their own.
FOLDED_KINDS = {"large_purchase": "Large purchase", "fee": "Fee", "deposit": "Deposit",
                "abroad": "Abroad", "online": "Online"}
_ALERT_KEY = re.compile(r"^alert:(large|fee|deposit|abroad|online):(.+)$")
_KEY_KIND = {"large": "large_purchase", "fee": "fee", "deposit": "deposit", "abroad": "abroad",
             "online": "online"}
DEFAULT_LOCALE = "en_US"
_SUPPORTED = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "sv_SE"]


def locale_for(request: Request) -> str:
    """The person's locale from the browser's Accept-Language (no per-person setting yet)."""
    wanted = []
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag and tag != "*":
            wanted.append(tag)
    found = Locale.negotiate(wanted, _SUPPORTED, sep="_") if wanted else None
    return str(found) if found is not None else DEFAULT_LOCALE


def person_zone(person: object) -> ZoneInfo:
    """The zone the person's days follow: the IANA zone chosen in Settings (ADR 0025), UTC
    before one is chosen. A purchase at 23:30 in New York is on that day, not the next."""
    return tz(getattr(person, "zone", None) or "UTC")


def day_label(day: date, today: date, locale: str) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    try:
        loc = Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        loc = Locale.parse(DEFAULT_LOCALE)
    return str(format_skeleton("MMMEd" if day.year == today.year else "yMMMEd", day, locale=loc))


@dataclass(slots=True)
class DayGroup:
    day: str  # ISO date in the person's zone
    label: str
    cards: list[Markup] = field(default_factory=list)


@dataclass(slots=True)
class Thread:
    days: list[DayGroup]
    pinned: list[Markup]  # open prompts, on top until answered
    count: int  # messages shown (0: the empty state)


def _about(view: MessageView) -> tuple[str, str] | None:
    """(transaction id, alert kind) of an alert about one purchase."""
    match = _ALERT_KEY.match(view.subject_key or "")
    return None if match is None else (match.group(2), _KEY_KIND[match.group(1)])


def refiled(views: list[MessageView], categories: Mapping[str, str]) -> list[MessageView]:
    """Transaction cards shown with the category the person gave their merchant since
    (`categories`: transaction card's merchant key -> category; a card keeps its own otherwise)."""
    out = []
    for v in views:
        now_is = categories.get(str(v.body.get("transaction_id"))) if v.kind.value == "transaction" else None
        out.append(v if now_is is None or now_is == v.body.get("category")
                   else replace(v, body={**v.body, "category": now_is}))
    return out


def build(views: list[MessageView], *, now: datetime, zone: ZoneInfo, locale: str) -> Thread:
    txn_ids = {str(v.body.get("transaction_id")) for v in views if v.kind.value == "transaction"}
    folded: dict[str, list[dict[str, str]]] = {}
    for v in views:
        about = _about(v)
        if about is not None and about[0] in txn_ids:
            folded.setdefault(about[0], []).append(
                {"kind": about[1], "label": FOLDED_KINDS[about[1]], "text": str(v.body.get("text", "")),
                 "message_id": v.id})
    today = now.astimezone(zone).date()
    days: list[DayGroup] = []
    pinned: list[Markup] = []
    for v in views:
        about = _about(v)
        if about is not None and about[0] in txn_ids:
            continue
        html = Markup(render_message(v, folded=folded.get(str(v.body.get("transaction_id")), ()),  # noqa: S704 - escaped by the card template
                                     zone=zone))
        if v.kind.value == "fraud" and v.body.get("prompt_status", "open") == "open":
            pinned.append(html)
            continue
        day = v.created_at.astimezone(zone).date()
        if not days or days[-1].day != day.isoformat():
            days.append(DayGroup(day=day.isoformat(), label=day_label(day, today, locale)))
        days[-1].cards.append(html)
    return Thread(days=days, pinned=pinned, count=sum(len(d.cards) for d in days) + len(pinned))


def header_rows(accounts: list[AccountLine], *, locale: str) -> list[dict[str, Any]]:
    """Each account of a bank thread's header: "Everyday Checking ••1234". The thread's title
    right above already names the bank (one link, one bank), so the rows do not repeat it."""
    rows = []
    for a in accounts:
        rows.append({
            "id": a.id, "name": a.label,
            "current": None if a.current is None else format_money(a.current.amount, a.current.currency),
            "available": None if a.available is None
            else format_money(a.available.amount, a.available.currency),
            "shared": a.balances_shared,
        })
    return rows


def freshness_text(accounts: list[AccountLine], *, now: datetime, locale: str) -> str:
    """ "updated 2 min ago", from the newest balance (a provider link has its planner's text)."""
    stamps = [a.as_of for a in accounts if a.as_of is not None]
    return freshness(now, max(stamps) if stamps else None, None, "UTC", locale.split("_")[0])
