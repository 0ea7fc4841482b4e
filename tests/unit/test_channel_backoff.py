"""The retry schedule of outside channels, and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ledgerlink.adapters.channels import parse_retry_after
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.services.messaging.channels import BACKOFF_CAP, GIVE_UP_AFTER, next_attempt

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_retries_span_72_hours_with_gaps_never_above_the_cap_then_give_up() -> None:
    clock = FrozenClock(START)
    rng = random.Random(7)
    tries = [clock.now()]
    while True:
        due = next_attempt(attempts=len(tries), first_try=START, now=clock.now(), rng=rng)
        if due is None:
            break
        assert due - clock.now() <= BACKOFF_CAP
        clock.advance(due - clock.now())
        tries.append(clock.now())
    assert tries[-1] - tries[0] >= GIVE_UP_AFTER
    assert tries[-2] - tries[0] < GIVE_UP_AFTER  # the last try is the first past 72 h
    assert 10 < len(tries) < 200


def test_early_retries_stay_within_the_exponential_ceiling() -> None:
    rng = random.Random(1)
    for attempts, ceiling in [(1, 30), (2, 60), (3, 120), (20, 6 * 3600)]:
        due = next_attempt(attempts=attempts, first_try=START, now=START, rng=rng)
        assert due is not None
        assert timedelta(0) <= due - START <= timedelta(seconds=ceiling)


def test_retry_after_wins_but_is_capped() -> None:
    assert next_attempt(attempts=1, first_try=START, now=START, retry_after=120) == START + timedelta(
        seconds=120)
    assert next_attempt(attempts=1, first_try=START, now=START, retry_after=10**9) == START + BACKOFF_CAP


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("120", now=START) == 120.0
    assert parse_retry_after("Sun, 01 Nov 2026 12:01:30 GMT", now=START) == 90.0
    assert parse_retry_after("Sun, 01 Nov 2026 11:00:00 GMT", now=START) == 0.0
    assert parse_retry_after("soon", now=START) is None
    assert parse_retry_after(None, now=START) is None
