"""Quiet hours and digests on the wall clock of an IANA zone, right across daylight saving
(issue 13, ADR 0025): pure functions, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ledgerlink.domain.alerts import in_quiet_hours
from ledgerlink.domain.digest_schedule import (
    DAILY,
    WEEKLY,
    Schedule,
    legacy_zone,
    parse_zone,
    quiet_end,
    zone_label,
)
from ledgerlink.domain.digest_schedule import (
    in_quiet_hours as quiet_in_zone,
)
from ledgerlink.domain.errors import InvalidInput


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def test_a_daily_berlin_digest_stays_at_8_local_across_the_spring_change() -> None:
    s = Schedule(DAILY, hour=8, weekday=0, zone=BERLIN)
    # 28 Mar 2026 is CET (UTC+1): 08:00 = 07:00 UTC; 29 Mar is CEST (UTC+2): 08:00 = 06:00 UTC.
    assert s.next_due(at("2026-03-28T07:00:00")) == at("2026-03-29T06:00:00")
    assert s.latest_due(at("2026-03-29T06:30:00")) == at("2026-03-29T06:00:00")
    assert s.latest_due(at("2026-03-29T05:59:00")) == at("2026-03-28T07:00:00")
    assert s.covered(at("2026-03-29T06:00:00")).end == date(2026, 3, 28)


def test_a_daily_berlin_digest_stays_at_8_local_across_the_autumn_change() -> None:
    s = Schedule(DAILY, hour=8, weekday=0, zone=BERLIN)
    # 24 Oct 2026 is CEST: 06:00 UTC; 25 Oct is CET again: 07:00 UTC.
    assert s.next_due(at("2026-10-24T06:00:00")) == at("2026-10-25T07:00:00")
    assert s.latest_due(at("2026-10-25T06:30:00")) == at("2026-10-24T06:00:00")  # 07:30 CET: not yet


def test_a_fixed_offset_would_have_been_an_hour_off_after_the_change() -> None:
    fixed = Schedule(DAILY, hour=8, weekday=0, zone=legacy_zone(1))  # "UTC+1" as stored before
    assert fixed.zone == "Etc/GMT-1"
    assert fixed.next_due(at("2026-03-28T07:00:00")) == at("2026-03-29T07:00:00")  # 09:00 in Berlin


def test_a_weekly_new_york_digest_follows_the_november_change() -> None:
    s = Schedule(WEEKLY, hour=9, weekday=6, zone=NEW_YORK)  # Sundays 09:00
    # Sun 25 Oct 2026 is EDT (UTC-4): 13:00 UTC; Sun 1 Nov is EST (UTC-5): 14:00 UTC.
    assert s.next_due(at("2026-10-25T13:00:00")) == at("2026-11-01T14:00:00")
    covered = s.covered(at("2026-11-01T14:00:00"))
    assert (covered.start, covered.end) == (date(2026, 10, 25), date(2026, 10, 31))


def test_an_hour_skipped_by_the_spring_change_is_read_as_the_hour_after() -> None:
    s = Schedule(DAILY, hour=2, weekday=0, zone=BERLIN)  # 02:00 does not exist on 29 Mar
    assert s.next_due(at("2026-03-28T01:00:00")) == at("2026-03-29T01:00:00")  # 03:00 CEST


def test_quiet_hours_are_kept_on_the_local_clock_across_daylight_saving() -> None:
    night = {"start": 22, "end": 7}
    # 21:30 UTC is 22:30 CET in January (quiet) but 23:30 CEST in July (quiet as well);
    # 20:30 UTC is 21:30 CET in January (not quiet) and 22:30 CEST in July (quiet).
    assert not quiet_in_zone(at("2026-01-15T20:30:00"), night, BERLIN)
    assert quiet_in_zone(at("2026-07-15T20:30:00"), night, BERLIN)
    assert in_quiet_hours(at("2026-07-15T20:30:00"), {**night, "zone": BERLIN})
    assert not in_quiet_hours(at("2026-07-15T20:30:00"), {**night, "utc_offset": 1})  # the old way


def test_quiet_hours_end_at_the_local_end_hour_on_the_morning_of_a_change() -> None:
    night = {"start": 22, "end": 7}
    assert quiet_end(at("2026-03-28T22:00:00"), night, BERLIN) == at("2026-03-29T05:00:00")  # 07:00 CEST
    assert quiet_end(at("2026-10-24T22:00:00"), night, BERLIN) == at("2026-10-25T06:00:00")  # 07:00 CET
    assert quiet_end(at("2026-11-01T03:00:00"), night, NEW_YORK) == at("2026-11-01T12:00:00")  # 07:00 EST


def test_zones_are_read_by_their_iana_name_in_any_case() -> None:
    assert parse_zone("europe/berlin") == BERLIN
    assert parse_zone(" America/New York ") == NEW_YORK
    for bad, words in (("Mars/Olympus", "Mars/Olympus"), ("", "Choose your time zone")):
        with pytest.raises(InvalidInput) as info:
            parse_zone(bad)
        assert info.value.code == "bad_zone" and words in str(info.value)


def test_a_zone_is_labelled_with_its_local_abbreviation() -> None:
    assert zone_label(BERLIN, at("2026-01-15T12:00:00")) == "Europe/Berlin, CET"
    assert zone_label(BERLIN, at("2026-07-15T12:00:00")) == "Europe/Berlin, CEST"
    assert zone_label("Etc/GMT-1", at("2026-07-15T12:00:00")) == "UTC+1"
    assert legacy_zone(0) == "UTC" and legacy_zone(-5) == "Etc/GMT+5"
