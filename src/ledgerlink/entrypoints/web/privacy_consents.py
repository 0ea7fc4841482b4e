"""A bank link's consent as the person reads it (issue 13), on the Settings page and the renewal
page: the bank, its accounts, what it shares and what Ledgerlink may do with it in words, the
days in the person's locale and IANA zone. Ids and codes only under "technical details".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ledgerlink.domain import locale_text
from ledgerlink.domain.privacy import PURPOSE_DESCRIPTIONS, never_words, scope_words
from ledgerlink.services.linking.consent_receipts import USES_PROHIBITED
from ledgerlink.services.privacy.rights import ConsentView

__all__ = ["STATUS_WORDS", "ConsentCard", "consent_card", "renewal"]

STATUS_WORDS = {"active": "Active", "revoked": "Revoked", "expired": "Expired", "failed": "Not completed"}


@dataclass(frozen=True, slots=True)
class ConsentCard:
    link_id: str
    bank: str
    initial: str
    status: str  # the LinkStatus value (CSS class, revoke button)
    status_words: str
    accounts: list[str]
    shared: list[str]
    linked: str  # "Nov 3, 2026"
    valid_until: str | None  # only while active
    days_left: int | None
    ended: str | None
    technical: list[tuple[str, str]]


def _day(at: datetime, zone: ZoneInfo, locale: str) -> str:
    return locale_text.day(at.astimezone(zone).date(), locale=locale)


def consent_card(view: ConsentView, *, now: datetime, zone: ZoneInfo, locale: str) -> ConsentCard:
    active = view.status == "active"
    until = view.expires_at if active else None
    left = None if until is None else (until.astimezone(zone).date() - now.astimezone(zone).date()).days
    return ConsentCard(
        link_id=view.link_id, bank=view.bank, initial=view.bank[:1].upper() or "?", status=view.status,
        status_words=STATUS_WORDS.get(view.status, view.status.capitalize()), accounts=view.accounts,
        shared=[scope_words(s) for s in view.scopes], linked=_day(view.created_at, zone, locale),
        valid_until=None if until is None else _day(until, zone, locale), days_left=left,
        ended=None if view.revoked_at is None else _day(view.revoked_at, zone, locale),
        technical=[("Link", view.link_id), ("Scopes", ", ".join(view.scopes) or "none"),
                   ("Status", view.status)],
    )


@dataclass(frozen=True, slots=True)
class Renewal:
    card: ConsentCard
    purposes: list[str]
    never: list[str]
    new_until: str  # the day a renewal approved now would run to
    days: int


def renewal(view: ConsentView, *, now: datetime, days: int, zone: ZoneInfo, locale: str) -> Renewal:
    """What renewing keeps and until when: the same bank, accounts and data, for `days` more
    from today. An ended link shows no current expiry (it is no longer valid)."""
    card = consent_card(view, now=now, zone=zone, locale=locale)
    return Renewal(
        card=card,
        purposes=list(PURPOSE_DESCRIPTIONS.values()),
        never=[never_words(u) for u in USES_PROHIBITED],
        new_until=_day(now + timedelta(days=days), zone, locale),
        days=days,
    )
