"""A simulated week of refreshes under a frozen clock: many accounts across the three providers
and several time zones, a daylight-saving change, attended refreshes sprinkled in, 429s with
Retry-After (seconds and HTTP-date), a lost consent, a crash and a restart. The simulated
providers count every request themselves and note each rule broken; the test then checks
every rolling window from their logs."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.utils import format_datetime

import pytest
from tests.unit.refresh_fakes import MemoryLog, Targets

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.errors import Conflict, TooManyRequests
from ledgerlink.domain.refresh_budget import (
    POLICIES,
    Outcome,
    Provider,
    Quota,
    Result,
    Target,
    day_slots,
    time_zone,
)
from ledgerlink.domain.refresh_text import parse_retry_after, quota_from_headers
from ledgerlink.services.linking.refresh import RefreshPlanner

DAY, TICK = timedelta(hours=24), timedelta(minutes=5)


def hours(**weights: int) -> tuple[int, ...]:
    h = [0] * 24
    for name, w in weights.items():
        h[int(name[1:])] = w
    return tuple(h)


MORNING_EVENING = hours(h7=8, h8=10, h19=6, h20=9, h21=7, h22=3)
NIGHT_OWL = hours(h22=5, h23=9, h0=10, h1=6, h2=2)
OFFICE = hours(h9=4, h10=5, h11=3, h12=6, h13=5, h14=3, h15=4, h16=5, h17=3)
NO_DATA = (0,) * 24


@dataclass(frozen=True)
class Spec:
    id: str
    provider: Provider
    zone: str
    activity: tuple[int, ...]
    attended_per_day: int = 0
    throttles: bool = False  # the provider answers some requests with 429
    header_limit: int | None = None  # GoCardless: sends quota headers with this limit


SPECS = [
    Spec("eb-berlin-a", Provider.PSD2, "Europe/Berlin", MORNING_EVENING, 8, throttles=True),
    Spec("eb-berlin-b", Provider.PSD2, "Europe/Berlin", NO_DATA, 1),  # loses its consent
    Spec("eb-lisbon", Provider.PSD2, "Europe/Lisbon", NIGHT_OWL),
    Spec("eb-kolkata", Provider.PSD2, "Asia/Kolkata", OFFICE, 3, throttles=True),
    Spec("eb-newyork", Provider.PSD2, "America/New_York", MORNING_EVENING, 2),
    Spec("gc-helsinki", Provider.GOCARDLESS, "Europe/Helsinki", OFFICE, 3, header_limit=4),
    Spec("gc-madrid", Provider.GOCARDLESS, "Europe/Madrid", MORNING_EVENING, 6, header_limit=10),
    Spec("gc-berlin", Provider.GOCARDLESS, "Europe/Berlin", NO_DATA, 3, throttles=True),
    Spec("sf-newyork", Provider.SIMPLEFIN, "America/New_York", MORNING_EVENING, 8, throttles=True),
    Spec("sf-la", Provider.SIMPLEFIN, "America/Los_Angeles", NIGHT_OWL, 4),
    Spec("sf-toronto", Provider.SIMPLEFIN, "America/Toronto", NO_DATA, 20),  # presses refresh a lot
    Spec("sf-chicago", Provider.SIMPLEFIN, "America/Chicago", OFFICE, 2),
]
LOSES_CONSENT = "eb-berlin-b"


@dataclass
class Sim:
    """The three providers as the planner meets them: each counts requests its own way."""

    specs: dict[str, Spec]
    rng: random.Random
    start: datetime
    requests: dict[str, list[tuple[datetime, bool]]] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)
    wait_until: dict[str, datetime] = field(default_factory=dict)
    gc_used: Counter[tuple[str, str, datetime]] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    consent_lost: tuple[datetime, datetime] = (datetime.max.replace(tzinfo=UTC),) * 2
    told_lost: int = 0

    def call(self, target: Target, at: datetime, attended: bool) -> Outcome:
        spec, log = self.specs[target.id], self.requests.setdefault(target.id, [])
        log.append((at, attended))
        if at < self.wait_until.get(target.id, at):
            self.broken.append(f"{target.id}: asked at {at} before its Retry-After")
        window = [(t, a) for t, a in log if t > at - DAY]
        if target.provider is Provider.PSD2 and sum(1 for _, a in window if not a) > 4:
            self.broken.append(f"{target.id}: a 5th unattended request in 24 h at {at}")
        if target.provider is Provider.SIMPLEFIN and len(window) > 24:
            self.broken.append(f"{target.id}: request {len(window)} in 24 h at {at}")
        if target.id == LOSES_CONSENT and self.consent_lost[0] <= at < self.consent_lost[1]:
            self.told_lost += 1
            return Outcome(Result.NEEDS_RECONNECT)
        if spec.throttles and self.rng.random() < 0.05:
            wait = timedelta(minutes=self.rng.choice((20, 45, 90)))
            form = self.rng.choice(("seconds", "http-date"))
            header = (
                str(int(wait.total_seconds()))
                if form == "seconds"
                else format_datetime(at + wait, usegmt=True)
            )
            self.injected[form] += 1
            self.wait_until[target.id] = at + wait
            return Outcome(Result.RATE_LIMITED, retry_at=parse_retry_after(header, now=at))
        if target.provider is Provider.GOCARDLESS:
            return self._gocardless(target, spec, at)
        return Outcome(Result.OK)

    def _gocardless(self, target: Target, spec: Spec, at: datetime) -> Outcome:
        """Per account and scope, in windows that reset at midnight UTC."""
        window = datetime.combine(at.date(), time(0), UTC)
        limit, quotas = spec.header_limit or 4, []
        for scope in target.policy.scopes:
            self.gc_used[target.id, scope, window] += 1
            used = self.gc_used[target.id, scope, window]
            if used > limit:
                self.broken.append(f"{target.id}: {scope} call {used} of {limit} in the window at {at}")
            if spec.header_limit is not None:
                headers = {
                    "X-RateLimit-Account-Success-Limit": str(limit),
                    "X-RateLimit-Account-Success-Remaining": str(max(0, limit - used)),
                    "X-RateLimit-Account-Success-Reset": str(int((window + DAY - at).total_seconds())),
                }
                quota = quota_from_headers(headers, now=at)
                assert isinstance(quota, Quota)
                quotas.append((scope, quota))
        return Outcome(Result.OK, quotas=tuple(quotas))


def attended_times(spec: Spec, start: datetime, rng: random.Random) -> list[datetime]:
    """When the person asks: at their active hours (any hour without data), now and then twice in a row."""
    tz, weights = time_zone(spec.zone), [w or (0 if sum(spec.activity) else 1) for w in spec.activity]
    out = []
    for day in range(7):
        local_day = (start + day * DAY).astimezone(tz).date()
        for _ in range(spec.attended_per_day):
            hour = rng.choices(range(24), weights=weights)[0]
            local = datetime.combine(local_day, time(hour, rng.randrange(60), rng.randrange(60)), tz)
            at = local.astimezone(UTC)
            out.append(at)
            if rng.random() < 0.2:
                out.append(at + timedelta(seconds=20))  # hammering: refused by the floor
    return sorted(t for t in out if start <= t < start + 7 * DAY)


@dataclass
class Week:
    sim: Sim
    targets: dict[str, Target]
    notices: Counter[str]
    refused: Counter[tuple[str, str]]
    attended_ok: Counter[str]


async def simulate(start: datetime, seed: int) -> Week:
    rng = random.Random(seed)
    targets = {s.id: Target(s.id, s.provider, s.zone, s.activity) for s in SPECS}
    sim = Sim({s.id: s for s in SPECS}, rng, start)
    sim.consent_lost = (start + timedelta(days=2, hours=12), start + timedelta(days=4, hours=12))
    reconnect_at = sim.consent_lost[1]
    clock, log, source = FrozenClock(start), MemoryLog(), Targets(list(targets.values()))
    planner = RefreshPlanner(log=log, targets=source, clock=clock)
    asks = sorted((t, s.id) for s in SPECS for t in attended_times(s, start, rng))
    week = Week(sim, targets, Counter(), Counter(), Counter())
    restart_at, restarted = start + timedelta(days=3, hours=13), False

    async def ask(target_id: str) -> None:
        try:
            claim = await planner.claim(target_id, attended=True)
        except (TooManyRequests, Conflict) as e:
            week.refused[target_id, e.code] += 1
            return
        outcome = sim.call(targets[target_id], clock.now(), attended=True)
        recorded = await planner.record(claim, outcome)
        week.notices[target_id] += recorded.say_reconnect
        week.attended_ok[target_id] += outcome.result is Result.OK

    now = start
    while now < start + 7 * DAY:
        while asks and asks[0][0] <= now:
            at, target_id = asks.pop(0)
            clock.advance(at - clock.now())
            await ask(target_id)
        clock.advance(now - clock.now())
        if not restarted and now >= restart_at and (due := await planner.due()):
            # A crash: one request went out, its answer never recorded; then a new process.
            await planner.claim(due[0].target_id)
            sim.call(targets[due[0].target_id], now, attended=False)
            planner, restarted = RefreshPlanner(log=log, targets=source, clock=clock), True
        if reconnect_at <= now < reconnect_at + TICK:
            await planner.reconnected(LOSES_CONSENT)
        for p in await planner.due():
            claim = await planner.claim(p.target_id)
            recorded = await planner.record(claim, sim.call(targets[p.target_id], now, attended=False))
            week.notices[p.target_id] += recorded.say_reconnect
        if sim.consent_lost[0] + DAY <= now < sim.consent_lost[0] + DAY + TICK:
            line = await planner.freshness(LOSES_CONSENT)
            assert line.endswith("· reconnect to refresh"), line
        now += TICK
    assert restarted
    return week


# Berlin springs forward on Sunday 29 March 2026; New York falls back on Sunday 1 November 2026.
WEEKS = [datetime(2026, 3, 23, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC)]


@pytest.fixture(scope="module", params=WEEKS, ids=["march-dst", "november-dst"])
def week(request: pytest.FixtureRequest) -> Week:
    return asyncio.run(simulate(request.param, seed=WEEKS.index(request.param) + 10))


def unattended(week: Week, target_id: str) -> list[datetime]:
    return [t for t, a in week.sim.requests.get(target_id, []) if not a]


def most_in_24h(times: list[datetime]) -> int:
    return max((sum(1 for u in times if t - DAY < u <= t) for t in times), default=0)


def test_no_provider_saw_a_rule_broken(week: Week) -> None:
    assert week.sim.broken == []
    assert week.sim.injected["seconds"] > 0 and week.sim.injected["http-date"] > 0  # 429s did happen


def test_every_budget_held_on_every_rolling_window(week: Week) -> None:
    for target_id, target in week.targets.items():
        log, policy = week.sim.requests[target_id], POLICIES[target.provider]
        counted = [t for t, a in log if policy.attended_counts or not a]
        header_limit = SPECS_BY_ID[target_id].header_limit
        if header_limit is None:  # PSD2, SimpleFIN, GoCardless on its static guess: rolling 24 h
            assert most_in_24h(counted) <= policy.limit, target_id
        else:  # GoCardless as its headers said: per scope, per window from midnight UTC
            per_day = Counter(t.date() for t in counted)
            assert max(per_day.values()) <= header_limit, target_id
        # The budget is used, not just kept, where the person seldom refreshes by hand.
        spec = SPECS_BY_ID[target_id]
        # (A slot soon after one of those is skipped: the data is fresh.)
        if spec.attended_per_day <= 2 and target_id != LOSES_CONSENT:
            assert len(unattended(week, target_id)) >= 7 * policy.planned * 0.5, target_id


def test_unattended_refreshes_go_out_at_their_slots_across_the_daylight_saving_change(week: Week) -> None:
    """Each one at the first tick after one of its slots (local hours, whatever the offset), or
    where the budget let it: 24 h after an earlier request."""
    for target_id in ("eb-lisbon", "eb-newyork", "sf-la", "sf-chicago"):
        target, log = week.targets[target_id], week.sim.requests[target_id]
        first = week.sim.start.astimezone(time_zone(target.zone)).date() - timedelta(days=1)
        slots = [s for d in range(9) for s in day_slots(target, first + timedelta(days=d))]
        for t in unattended(week, target_id)[1:]:
            at_slot = any(t - TICK < s <= t for s in slots)
            released = any(t - TICK < u + DAY <= t for u, _ in log)
            assert at_slot or released, (target_id, t)
    assert len(unattended(week, "eb-lisbon")) == 28  # no attended ones: every slot, 4 a day


def test_unattended_refreshes_keep_their_gap(week: Week) -> None:
    for target_id, target in week.targets.items():
        log, policy = week.sim.requests[target_id], POLICIES[target.provider]
        for (before, _), (at, attended) in itertools.pairwise(log):
            assert at - before >= (policy.attended_floor if attended else policy.min_gap), (target_id, at)


def test_attended_psd2_refreshes_are_not_counted(week: Week) -> None:
    psd2 = [t for t, target in week.targets.items() if target.provider is Provider.PSD2]
    assert all(week.refused[t, "refresh_budget"] == 0 for t in psd2)  # never refused for budget
    assert most_in_24h([t for t, _ in week.sim.requests["eb-berlin-a"]]) > 8  # many a day, all allowed
    assert week.attended_ok["eb-berlin-a"] >= 30
    assert week.refused["eb-berlin-a", "refresh_floor"] > 0  # hammering was slowed down
    # SimpleFIN and GoCardless count them: the heavy pressers reached their budget and were told.
    assert (
        week.refused["sf-toronto", "refresh_budget"] > 0 and week.refused["gc-berlin", "refresh_budget"] > 0
    )


def test_refreshes_follow_the_persons_active_hours(week: Week) -> None:
    for target_id in ("eb-berlin-a", "eb-kolkata", "eb-lisbon", "gc-madrid", "sf-newyork", "sf-la"):
        spec, tz = SPECS_BY_ID[target_id], time_zone(SPECS_BY_ID[target_id].zone)
        active = {h for h, w in enumerate(spec.activity) if w}
        times = unattended(week, target_id)
        share = sum(1 for t in times if t.astimezone(tz).hour in active) / len(times)
        assert share >= 2 * len(active) / 24, (target_id, share)
    evenly = [t.astimezone(time_zone("Europe/Berlin")).hour for t in unattended(week, "gc-berlin")]
    assert len(set(evenly)) >= 3  # no data: spread over the day


def test_a_lost_consent_is_said_once_and_nothing_is_asked_until_reconnected(week: Week) -> None:
    assert week.notices == Counter({LOSES_CONSENT: 1})
    assert week.sim.told_lost == 1  # one request met the lost consent; none followed it
    assert week.refused[LOSES_CONSENT, "needs_reconnect"] >= 1  # the person asked meanwhile
    after = [t for t, _ in week.sim.requests[LOSES_CONSENT] if t >= week.sim.consent_lost[1]]
    assert len(after) >= 4  # refreshes resumed after the reconnect


SPECS_BY_ID = {s.id: s for s in SPECS}
