"""The refresh planner's rules, exactly: budgets, attended refreshes, 429s, consent, slots,
Retry-After and the freshness line. The week-long simulation is in test_refresh_week.py."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from tests.unit.refresh_fakes import MemoryLog, Targets

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from ledgerlink.domain.refresh_budget import (
    Attempt,
    Outcome,
    Provider,
    Quota,
    Result,
    Target,
    activity_from,
    day_slots,
    plan,
    plan_attended,
    time_zone,
)
from ledgerlink.domain.refresh_text import freshness, parse_retry_after, quota_from_headers
from ledgerlink.services.linking.refresh import RefreshPlanner

H = timedelta(hours=1)
NOW = datetime(2026, 3, 24, 12, 0, tzinfo=UTC)


_ids = itertools.count(1)


def attempt(
    target: Target,
    at: datetime,
    result: Result = Result.OK,
    *,
    attended: bool = False,
    retry_at: datetime | None = None,
    quotas: tuple[tuple[str, Quota], ...] = (),
) -> Attempt:
    return Attempt(f"a{next(_ids)}", target.id, at, attended, Outcome(result, retry_at, quotas))


PSD2 = Target("acc-psd2", Provider.PSD2, "Europe/Berlin")
SIMPLEFIN = Target("conn-sf", Provider.SIMPLEFIN, "America/New_York")
GOCARDLESS = Target("acc-gc", Provider.GOCARDLESS, "Europe/Madrid")


# ---------------------------------------------------------------- budgets


def test_psd2_allows_four_unattended_refreshes_in_any_24_hours() -> None:
    done = [attempt(PSD2, NOW - h * H) for h in (20, 15, 10, 5)]
    p = plan(PSD2, done, NOW)
    assert not p.due and p.reason == "budget" and p.next_at == NOW - 20 * H + 24 * H
    assert plan(PSD2, done, NOW + 4 * H).due  # the oldest has left the window


def test_an_attended_psd2_refresh_does_not_use_the_unattended_budget() -> None:
    done = [attempt(PSD2, NOW - h * H, attended=True) for h in (20, 15, 10, 5, 4, 3)]
    p = plan(PSD2, done, NOW + 2 * H)  # at the next slot, 14:00 UTC
    assert p.due and p.waits["budget"] == NOW + 2 * H  # six attended in the window: no wait for budget
    unattended = [attempt(PSD2, NOW - h * H) for h in (20, 15, 10, 5)]
    assert plan_attended(PSD2, unattended, NOW).due  # and the budget spent does not stop the person


def test_attended_refreshes_keep_a_small_floor_and_the_unattended_ones_a_gap() -> None:
    done = [attempt(PSD2, NOW - timedelta(seconds=20), attended=True)]
    p = plan_attended(PSD2, done, NOW)
    assert (p.due, p.reason, p.next_at) == (False, "floor", NOW + timedelta(seconds=40))
    p = plan(PSD2, done, NOW)
    assert not p.due and p.waits["spacing"] == NOW - timedelta(seconds=20) + 2 * H


def test_simplefin_and_gocardless_count_attended_refreshes_and_keep_a_reserve_for_them() -> None:
    sf = [attempt(SIMPLEFIN, NOW - timedelta(minutes=70 * k), attended=k % 2 == 0) for k in range(1, 21)]
    assert plan(SIMPLEFIN, sf, NOW).reason == "budget"  # 20 of 24: the last 4 are the person's
    assert plan_attended(SIMPLEFIN, sf, NOW).due
    full = [*sf, *(attempt(SIMPLEFIN, NOW - timedelta(minutes=m), attended=True) for m in (9, 7, 5, 3))]
    p = plan_attended(SIMPLEFIN, full, NOW)
    assert (p.due, p.reason) == (False, "budget")
    gc = [attempt(GOCARDLESS, NOW - h * H) for h in (12, 8, 4)]
    assert plan(GOCARDLESS, gc, NOW).reason == "budget" and plan_attended(GOCARDLESS, gc, NOW).due


def test_gocardless_quota_headers_override_the_static_guess_until_their_reset() -> None:
    reset = NOW + 3 * H
    generous = Quota(remaining=6, reset_at=reset, limit=10)
    done = [
        attempt(GOCARDLESS, NOW - 12 * H),
        attempt(GOCARDLESS, NOW - 8 * H),
        attempt(GOCARDLESS, NOW - 4 * H, quotas=(("balances", generous), ("transactions", generous))),
    ]
    assert plan(GOCARDLESS, done, NOW).due  # the static guess (3 of 4 used) would wait
    tight = Quota(remaining=1, reset_at=reset, limit=4)
    done[-1] = attempt(GOCARDLESS, NOW - 4 * H, quotas=(("balances", generous), ("transactions", tight)))
    p = plan(GOCARDLESS, done, NOW)
    assert (p.reason, p.next_at) == ("budget", reset)  # one scope is enough to wait, keeping 1 spare
    assert plan_attended(GOCARDLESS, done, NOW).due
    # After the reset the provider's window starts again: the three before it no longer count.
    assert plan(GOCARDLESS, done, reset).due


def test_a_429_is_honoured_with_retry_after_or_a_doubling_backoff() -> None:
    limited = [attempt(PSD2, NOW - H, Result.RATE_LIMITED, retry_at=NOW + timedelta(minutes=30))]
    p = plan_attended(PSD2, limited, NOW)
    assert (p.due, p.reason, p.next_at) == (False, "retry_after", NOW + timedelta(minutes=30))
    assert plan(PSD2, limited, NOW).waits["retry_after"] == NOW + timedelta(minutes=30)
    streak = [attempt(PSD2, NOW - timedelta(minutes=m), Result.RATE_LIMITED) for m in (40, 30, 1)]
    assert plan_attended(PSD2, streak, NOW).next_at == NOW - timedelta(minutes=1) + timedelta(minutes=60)
    hostile = [attempt(PSD2, NOW, Result.RATE_LIMITED, retry_at=NOW + timedelta(days=400))]
    assert plan_attended(PSD2, hostile, NOW).next_at == NOW + timedelta(hours=24)


def test_a_lost_consent_stops_every_refresh_until_reconnected() -> None:
    lost = [attempt(PSD2, NOW - 30 * H), attempt(PSD2, NOW - 29 * H, Result.NEEDS_RECONNECT)]
    for decide in (plan, plan_attended):
        p = decide(PSD2, lost, NOW)
        assert (p.state, p.next_at, p.due) == ("needs_reconnect", None, False)
    assert plan(PSD2, [*lost, attempt(PSD2, NOW - H, Result.RECONNECTED)], NOW).due


# ---------------------------------------------------------------- the plan


def test_slots_follow_the_persons_activity_at_least_the_gap_apart() -> None:
    busy = [0] * 24
    busy[7] = busy[8] = 10
    busy[19] = busy[20] = busy[21] = 10
    target = Target("acc", Provider.PSD2, "Europe/Berlin", tuple(busy))
    local = [s.astimezone(time_zone("Europe/Berlin")) for s in day_slots(target, date(2026, 3, 24))]
    assert [t.strftime("%H:%M") for t in local] == ["07:23", "09:23", "19:52", "21:52"]
    even = [
        s.astimezone(time_zone("Europe/Berlin"))
        for s in day_slots(replace(target, activity=(0,) * 24), date(2026, 3, 24))
    ]
    assert [t.strftime("%H:%M") for t in even] == ["03:00", "09:00", "15:00", "21:00"]


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [("Europe/Berlin", date(2026, 3, 29), 23), ("America/New_York", date(2026, 11, 1), 25)],
)
def test_slots_keep_their_local_hours_on_a_daylight_saving_day(zone: str, day: date, hours: int) -> None:
    busy = [0] * 24
    busy[8] = busy[20] = 10
    target = Target("acc", Provider.SIMPLEFIN, zone, tuple(busy))
    tz = time_zone(zone)
    start = datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)  # wall-clock maths otherwise
    assert (
        datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC) - start
    ) // H == hours
    before, on = day_slots(target, day - timedelta(days=1)), day_slots(target, day)
    assert len(on) == 12 and all(b - a >= target.policy.min_gap for a, b in itertools.pairwise(on))
    assert on[0].astimezone(tz).date() == day and on[-1] <= start + hours * H - target.policy.min_gap
    # Peaks stay at the same local hours; the day's length changes only the quiet part.
    peaks = [s.astimezone(tz).hour for s in on if s.astimezone(tz).hour in (8, 20)]
    assert peaks == [s.astimezone(tz).hour for s in before if s.astimezone(tz).hour in (8, 20)]


def test_activity_is_counted_by_local_hour() -> None:
    reads = [datetime(2026, 3, 28, 6, 30, tzinfo=UTC), datetime(2026, 3, 29, 6, 30, tzinfo=UTC)]
    hours = activity_from(reads, "Europe/Berlin")
    assert hours[7] == 1 and hours[8] == 1 and sum(hours) == 2  # CET, then CEST


def test_bad_zone_or_histogram_is_refused_with_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="not an IANA time zone") as e:
        Target("acc", Provider.PSD2, "Mars/Olympus")
    assert e.value.code == "bad_time_zone"
    with pytest.raises(InvalidInput, match="24 counts"):
        Target("acc", Provider.PSD2, "UTC", (1, 2, 3))


# ---------------------------------------------------------------- text in and out


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        (" 0 ", NOW),
        ("Tue, 24 Mar 2026 12:30:00 GMT", NOW + timedelta(minutes=30)),
        ("Tuesday, 24-Mar-26 12:30:00 GMT", NOW + timedelta(minutes=30)),
        ("Tue Mar 24 12:30:00 2026", NOW + timedelta(minutes=30)),
        ("Mon, 23 Mar 2026 12:00:00 GMT", NOW),  # already past: at once
        ("99999999", NOW + timedelta(hours=24)),  # capped
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("1" * 80, None),
        ("Tue, 99 Mar 2026 12:30:00 GMT", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_gocardless_quota_headers_are_read_in_both_spellings() -> None:
    dashed = {
        "X-RateLimit-Account-Success-Remaining": "3",
        "X-RateLimit-Account-Success-Reset": "3600",
        "X-RateLimit-Account-Success-Limit": "4",
        "X-RateLimit-Remaining": "99",
    }
    assert quota_from_headers(dashed, now=NOW) == Quota(3, NOW + H, 4)
    documented = {
        "HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_REMAINING": "0",
        "HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_RESET": "60",
    }
    assert quota_from_headers(documented, now=NOW) == Quota(0, NOW + timedelta(seconds=60), None)
    assert quota_from_headers({"X-RateLimit-Account-Success-Remaining": "lots"}, now=NOW) is None
    assert quota_from_headers({}, now=NOW) is None


@pytest.mark.parametrize(
    ("last", "planned", "locale", "text"),
    [
        (
            NOW - 2 * H,
            datetime(2026, 3, 24, 13, 2, tzinfo=UTC),
            "en_GB",
            "updated 2 hr ago · next refresh about 14:00",
        ),
        (
            NOW - 2 * H,
            datetime(2026, 3, 24, 13, 2, tzinfo=UTC),
            "en_US",
            "updated 2 hr. ago · next refresh about 2:00\u202fPM",
        ),
        (NOW - timedelta(seconds=30), None, "de", "updated vor 30 Sek."),
        (NOW - timedelta(minutes=7), NOW - timedelta(minutes=1), "en", "updated 7 min. ago · refreshing now"),
        (
            NOW - 50 * H,
            datetime(2026, 3, 25, 6, 58, tzinfo=UTC),
            "de_DE",
            "updated vor 2 Tagen · next refresh tomorrow about 08:00",
        ),
        (
            None,
            datetime(2026, 3, 27, 19, 0, tzinfo=UTC),
            "fr",
            "not updated yet · next refresh about ven. 20:00",
        ),
        (
            NOW - 3 * H,
            datetime(2026, 3, 24, 13, 2, tzinfo=UTC),
            "xx-not-a-locale",
            "updated 3 hr. ago · next refresh about 2:00\u202fPM",
        ),
    ],
)
def test_the_freshness_line(last: datetime | None, planned: datetime | None, locale: str, text: str) -> None:
    assert freshness(NOW, last, planned, "Europe/Berlin", locale) == text


def test_the_freshness_line_asks_for_a_reconnect() -> None:
    line = freshness(NOW, NOW - 5 * H, None, "Europe/Berlin", "en", needs_reconnect=True)
    assert line == "updated 5 hr. ago · reconnect to refresh"


# ---------------------------------------------------------------- the service


async def test_the_budget_holds_across_a_restart_and_a_lost_answer_still_counts() -> None:
    clock, log = FrozenClock(NOW), MemoryLog()
    targets = Targets([PSD2])
    planner = RefreshPlanner(log=log, targets=targets, clock=clock)
    for _ in range(3):  # 12:00, 18:00, 00:00 UTC: each after a slot (02, 08, 14, 20 UTC)
        claim = await planner.claim(PSD2.id)
        await planner.record(claim, Outcome(Result.OK))
        clock.advance(6 * H)
    await planner.claim(PSD2.id)  # the fourth goes out at 06:00; the process dies before its answer
    clock.advance(3 * H)
    restarted = RefreshPlanner(log=log, targets=targets, clock=clock)
    assert await restarted.due() == []
    with pytest.raises(TooManyRequests) as e:
        await restarted.claim(PSD2.id)
    # Free again at 12:00, a day after the first.
    assert e.value.code == "refresh_budget" and e.value.retry_after == 3 * 3600
    assert "used up: the next one is possible in about 3 h" in e.value.detail
    attended = await restarted.claim(PSD2.id, attended=True)  # the person may still refresh
    await restarted.record(attended, Outcome(Result.OK))
    line = await restarted.freshness(PSD2.id, locale="en_GB")
    assert line == "updated 1 sec ago · next refresh about 15:00"


async def test_a_lost_consent_is_said_once_and_refreshes_resume_after_reconnecting() -> None:
    clock, log = FrozenClock(NOW), MemoryLog()
    planner = RefreshPlanner(log=log, targets=Targets([PSD2]), clock=clock)
    first, second = await planner.claim(PSD2.id), None
    clock.advance(timedelta(minutes=2))
    second = await planner.claim(PSD2.id, attended=True)  # in flight at the same time
    said = [(await planner.record(c, Outcome(Result.NEEDS_RECONNECT))).say_reconnect for c in (first, second)]
    assert said == [True, False]
    clock.advance(30 * H)
    assert await planner.due() == []
    with pytest.raises(Conflict) as e:
        await planner.claim(PSD2.id, attended=True)
    assert e.value.code == "needs_reconnect"
    assert (await planner.freshness(PSD2.id)) == "not updated yet · reconnect to refresh"
    await RefreshPlanner(log=log, targets=Targets([PSD2]), clock=clock).reconnected(PSD2.id)
    assert [p.target_id for p in await planner.due()] == [PSD2.id]


async def test_an_answer_must_be_final_and_name_a_claim() -> None:
    planner = RefreshPlanner(log=MemoryLog(), targets=Targets([PSD2]), clock=FrozenClock(NOW))
    claim = await planner.claim(PSD2.id)
    with pytest.raises(InvalidInput):
        await planner.record(claim, Outcome(Result.PENDING))
    with pytest.raises(NotFound, match="No such refresh attempt"):
        await planner.record(replace(claim, id="nope"), Outcome(Result.OK))
    with pytest.raises(NotFound, match="No such account"):
        await planner.claim("unknown")


async def test_the_unlocked_check_refuses_as_the_claim_would_and_stores_nothing() -> None:
    clock, log = FrozenClock(NOW), MemoryLog()
    planner = RefreshPlanner(log=log, targets=Targets([PSD2]), clock=clock)
    await planner.check(PSD2)  # due: passes, and claims nothing
    assert log.by_target == {}
    claim = await planner.claim(PSD2)  # the target itself, as the worker passes it
    await planner.record(claim, Outcome(Result.OK))
    with pytest.raises(TooManyRequests) as checked:
        await planner.check(PSD2)
    with pytest.raises(TooManyRequests) as claimed:
        await planner.claim(PSD2.id)
    assert (checked.value.code, checked.value.retry_after, checked.value.detail) == (
        claimed.value.code, claimed.value.retry_after, claimed.value.detail)
    assert [a.id for a in log.by_target[PSD2.id]] == [claim.id]
    clock.advance(timedelta(minutes=5))  # past the attended floor
    lost = await planner.claim(PSD2.id, attended=True)
    await planner.record(lost, Outcome(Result.NEEDS_RECONNECT))
    with pytest.raises(Conflict, match="reconnect"):
        await planner.check(PSD2)
