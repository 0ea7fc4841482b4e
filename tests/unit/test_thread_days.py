"""Day groups follow the person's IANA zone (issue 13): a purchase at 23:30 in New York is on
that day ("Today" there), not on the next UTC day."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from ledgerlink.domain.chat import CardKind
from ledgerlink.entrypoints.web import messaging_view
from ledgerlink.services.messaging.ports import MessageView

NEW_YORK = ZoneInfo("America/New_York")


def _purchase(seq: int, at: datetime, merchant: str) -> MessageView:
    body: dict[str, Any] = {"transaction_id": f"txn_{seq}", "merchant": merchant, "amount": "-4.50",
                            "currency": "USD", "status": "posted", "account": "Everyday Checking ••1234"}
    return MessageView(id=f"msg_{seq}", thread_id="thr_1", seq=seq, rev=seq, kind=CardKind.TRANSACTION,
                       subject_key=f"txn:txn_{seq}", body=body, created_at=at, edited_at=None)


def test_a_purchase_at_half_past_eleven_in_new_york_is_today_not_tomorrow() -> None:
    # 23:30 on 2 Dec in New York (EST, UTC-5) is 04:30 on 3 Dec in UTC.
    late = datetime(2026, 12, 3, 4, 30, tzinfo=UTC)
    now = datetime(2026, 12, 3, 4, 45, tzinfo=UTC)
    thread = messaging_view.build([_purchase(1, late, "Deli")], now=now, zone=NEW_YORK, locale="en_US")
    assert [(d.day, d.label) for d in thread.days] == [("2026-12-02", "Today")]
    assert ">23:30<" in str(thread.days[0].cards[0])


def test_the_same_purchases_in_utc_fall_on_the_next_day() -> None:
    late = datetime(2026, 12, 3, 4, 30, tzinfo=UTC)
    evening = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # 18:00 in New York
    now = datetime(2026, 12, 3, 4, 45, tzinfo=UTC)
    views = [_purchase(1, evening, "Cafe"), _purchase(2, late, "Deli")]
    in_utc = messaging_view.build(views, now=now, zone=ZoneInfo("UTC"), locale="en_US")
    assert [(d.day, d.label, len(d.cards)) for d in in_utc.days] == [
        ("2026-12-02", "Yesterday", 1), ("2026-12-03", "Today", 1)]
    in_new_york = messaging_view.build(views, now=now, zone=NEW_YORK, locale="en_US")
    assert [(d.day, d.label, len(d.cards)) for d in in_new_york.days] == [("2026-12-02", "Today", 2)]


def test_days_follow_daylight_saving_in_the_persons_zone() -> None:
    # 1 Nov 2026: New York goes back from EDT (UTC-4) to EST (UTC-5) at 02:00.
    # A fixed offset gets one of them wrong: EST puts the first on 30 Oct, EDT the second on 2 Nov.
    before = datetime(2026, 10, 31, 4, 30, tzinfo=UTC)  # 00:30 EDT on 31 Oct
    after = datetime(2026, 11, 2, 4, 30, tzinfo=UTC)  # 23:30 EST on 1 Nov
    now = datetime(2026, 11, 2, 4, 45, tzinfo=UTC)  # 23:45 EST on 1 Nov
    thread = messaging_view.build([_purchase(1, before, "A"), _purchase(2, after, "B")], now=now,
                                  zone=NEW_YORK, locale="en_US")
    assert [(d.day, d.label) for d in thread.days] == [("2026-10-31", "Yesterday"), ("2026-11-01", "Today")]


def test_the_persons_chosen_zone_is_used_and_utc_before_one_is_chosen() -> None:
    assert messaging_view.person_zone(SimpleNamespace(zone="America/New_York")).key == "America/New_York"
    assert messaging_view.person_zone(SimpleNamespace(zone=None)).key == "UTC"
    assert messaging_view.person_zone(SimpleNamespace(zone="Mars/Olympus_Mons")).key == "UTC"
