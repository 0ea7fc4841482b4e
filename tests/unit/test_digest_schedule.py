"""Digest schedules, chat requests and quiet-hours ends: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ledgerlink.domain.digest_schedule import (
    DAILY,
    OFF,
    WEEKLY,
    Request,
    Schedule,
    make_schedule,
    parse_request,
    quiet_end,
)
from ledgerlink.domain.errors import InvalidInput


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_daily_digest_is_due_at_its_local_hour_and_covers_the_day_before() -> None:
    s = Schedule(DAILY, hour=8, weekday=0, zone="Etc/GMT-2")  # 08:00 local = 06:00 UTC
    assert s.latest_due(at("2026-11-26T05:59:59")) == at("2026-11-25T06:00:00")
    assert s.latest_due(at("2026-11-26T06:00:00")) == at("2026-11-26T06:00:00")
    assert s.next_due(at("2026-11-26T06:00:00")) == at("2026-11-27T06:00:00")
    covered = s.covered(at("2026-11-26T06:00:00"))
    assert (covered.start, covered.end) == (date(2026, 11, 25), date(2026, 11, 25))
    assert s.period_key(at("2026-11-26T06:00:00")) == "daily:2026-11-25"


def test_a_weekly_digest_is_due_on_its_weekday_and_covers_seven_days() -> None:
    s = Schedule(WEEKLY, hour=9, weekday=0, zone="Etc/GMT+5")  # Monday 09:00 local = 14:00 UTC
    thursday = at("2026-11-26T12:00:00")
    assert s.latest_due(thursday) == at("2026-11-23T14:00:00")
    assert s.next_due(thursday) == at("2026-11-30T14:00:00")
    covered = s.covered(at("2026-11-30T14:00:00"))
    assert (covered.start, covered.end) == (date(2026, 11, 23), date(2026, 11, 29))
    # Monday 03:00 UTC is still Sunday evening local: last week's digest is the latest.
    assert s.latest_due(at("2026-11-30T03:00:00")) == at("2026-11-23T14:00:00")


def test_a_day_boundary_across_the_offset_picks_the_local_day() -> None:
    s = Schedule(DAILY, hour=0, weekday=0, zone="Pacific/Kiritimati")
    due = s.latest_due(at("2026-11-26T10:30:00"))  # 00:30 on Nov 27 local
    assert due == at("2026-11-26T10:00:00") and s.covered(due).end == date(2026, 11, 26)


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("send me a daily digest at 8", Request(DAILY, 8, None, None, True)),
        ("weekly digest on monday", Request(WEEKLY, None, 0, None, False)),
        ("turn on the digest on fridays", Request(WEEKLY, None, 4, None, True)),
        ("digest every fri at 6pm", Request(WEEKLY, 18, 4, None, False)),
        ("daily digest at noon utc+2", Request(DAILY, 12, None, 2, False)),
        ("digest at 12am", Request(None, 0, None, None, False)),
        ("stop digests", Request(OFF)),
        ("no more digest", Request(OFF)),
        ("my digest", Request()),
        ("digest", Request()),
    ],
)
def test_chat_requests_are_read(said: str, expected: Request) -> None:
    assert parse_request(said) == expected


@pytest.mark.parametrize(
    ("said", "code"),
    [
        ("digest at 25", "bad_digest_hour"),
        ("digest at 13pm", "bad_digest_hour"),
        ("digest at 7:15", "bad_digest_hour"),
        ("weekly digest on funday", "bad_digest_weekday"),
        ("daily digest on monday", "bad_digest_weekday"),
        ("daily digest utc+15", "bad_digest_offset"),
        ("digest soon", "bad_digest_request"),
    ],
)
def test_bad_chat_requests_say_what_is_wrong(said: str, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_request(said)
    assert info.value.code == code


def test_the_settings_form_values_are_checked() -> None:
    assert make_schedule(frequency="off", hour="x", weekday="x") is None
    made = make_schedule(frequency="weekly", hour="7", weekday="sunday", zone="America/Sao_Paulo")
    assert made == Schedule(WEEKLY, 7, 6, "America/Sao_Paulo")
    with pytest.raises(InvalidInput) as info:
        make_schedule(frequency="daily", hour="24", weekday="0")
    assert info.value.code == "bad_digest_hour"


def test_quiet_hours_end_at_their_next_end_hour() -> None:
    params = {"start": 22, "end": 7, "utc_offset": 1}
    assert quiet_end(at("2026-11-26T21:30:00"), params) == at("2026-11-27T06:00:00")  # 22:30 local
    assert quiet_end(at("2026-11-27T02:00:00"), params) == at("2026-11-27T06:00:00")  # 03:00 local
