"""When to refresh a linked account without going over its provider's quota (pure: no reads, no
clock; the instant is an argument). Rules and references: docs/refresh.md.

A *target* is what one provider request refreshes: an account (PSD2 banks through Enable
Banking, GoCardless) or a whole connection (SimpleFIN: one request per access URL covers all
its accounts). Everything here is a function of the target and its recorded attempts, so a
restart changes nothing: the service stores every attempt *before* the request goes out
(result `pending`, counted like any other) and its outcome after.

- **Budget**: at most `limit` requests per rolling 24 h per target and scope (PSD2 RTS, Regulation
  (EU) 2018/389, art. 36(5)(b): "no more than four times in a 24-hour period"). Unattended
  refreshes keep `reserve` of it for the person. GoCardless quota headers (remaining, reset)
  override the static guess until their reset.
- **Attended** (the person asked, and is there): under PSD2 not counted (art. 36(5)(a)); under
  SimpleFIN and GoCardless counted. Always after `attended_floor` since the last request.
- **Plan**: `planned` unattended slots per day of the person (from their quietest local hour,
  in their IANA zone, so 23 or 25 real hours on a daylight-saving day), placed at the quantiles
  of their activity by hour (a fifth of the weight spread evenly), at least `min_gap` apart.
  A slot is taken once, never sooner than `min_gap` after any request; one falling within
  `min_gap` after a refresh the person asked for is skipped (the data is fresh).
- **429**: nothing before its Retry-After (capped at 24 h); without one, 15 min doubling per
  429 in a row, up to 6 h.
- **Consent**: a `needs_reconnect` answer stops every refresh until `reconnected`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledgerlink.domain.clock import ensure_utc
from ledgerlink.domain.errors import InvalidInput

__all__ = [
    "HISTORY",
    "MAX_RETRY_AFTER",
    "POLICIES",
    "Attempt",
    "Outcome",
    "Plan",
    "Policy",
    "Provider",
    "Quota",
    "Result",
    "Target",
    "activity_from",
    "day_slots",
    "day_start",
    "needs_reconnect",
    "plan",
    "plan_attended",
    "time_zone",
    "usual_activity",
]

DAY = timedelta(hours=24)
# How much history a plan reads (two budget windows); the latest consent mark is read whatever its age.
HISTORY = 2 * DAY
MAX_RETRY_AFTER = DAY
BACKOFF_FIRST = timedelta(minutes=15)
BACKOFF_MAX = timedelta(hours=6)
EVEN_SHARE = 0.2  # of a day's weight spread evenly: quiet hours still get an occasional slot
DEFAULT_ACTIVE_HOURS = (7, 22)  # local hours [from, to) assumed while too little is known
MIN_ACTIVITY = 12  # moments seen before the person's own hours replace the default
ACTIVITY_DAYS = 28  # how far back the moments are read


class Provider(StrEnum):
    PSD2 = "psd2"  # Enable Banking and any PSD2 bank: counted per account
    SIMPLEFIN = "simplefin"  # counted per access URL (connection)
    GOCARDLESS = "gocardless"  # counted per account and scope (details, balances, transactions)


@dataclass(frozen=True, slots=True)
class Policy:
    provider: Provider
    limit: int  # requests per target and scope per `window`
    planned: int  # unattended slots per local day
    reserve: int  # of `limit`, left for attended refreshes
    min_gap: timedelta  # between an unattended refresh and any request before it
    attended_counts: bool  # attended refreshes use the budget
    attended_floor: timedelta = timedelta(minutes=1)  # anti-hammering, attended or not
    window: timedelta = DAY
    scopes: tuple[str, ...] = ("refresh",)  # what one refresh calls, each with its own budget

    def __post_init__(self) -> None:
        # The plan fits the shortest local day (23 h) with its gaps, also across midnight.
        assert self.planned * self.min_gap <= timedelta(hours=23) and 0 <= self.reserve < self.limit


POLICIES: dict[Provider, Policy] = {
    Provider.PSD2: Policy(
        Provider.PSD2, limit=4, planned=4, reserve=0, min_gap=timedelta(hours=2), attended_counts=False
    ),
    Provider.SIMPLEFIN: Policy(
        Provider.SIMPLEFIN,
        limit=24,
        planned=12,
        reserve=4,
        min_gap=timedelta(minutes=30),
        attended_counts=True,
    ),
    Provider.GOCARDLESS: Policy(
        Provider.GOCARDLESS,
        limit=4,
        planned=3,
        reserve=1,
        min_gap=timedelta(hours=2),
        attended_counts=True,
        scopes=("balances", "transactions"),
    ),
}


@dataclass(frozen=True, slots=True)
class Target:
    id: str  # account id, or connection id for SimpleFIN
    provider: Provider
    zone: str  # the person's IANA time zone
    activity: tuple[int, ...] = (0,) * 24  # how often the person is active, by local hour

    def __post_init__(self) -> None:
        if len(self.activity) != 24 or any(n < 0 for n in self.activity):
            raise InvalidInput(
                "An activity histogram has 24 counts (local hours 0-23), none negative.", code="bad_activity"
            )
        time_zone(self.zone)

    @property
    def policy(self) -> Policy:
        return POLICIES[self.provider]


class Result(StrEnum):
    PENDING = "pending"  # claimed, no answer recorded yet (after a crash it stays counted)
    OK = "ok"
    FAILED = "failed"
    RATE_LIMITED = "rate_limited"  # 429
    NEEDS_RECONNECT = "needs_reconnect"  # the consent is gone or expired: only the person can renew
    RECONNECTED = "reconnected"  # a new consent: a mark, not a request


@dataclass(frozen=True, slots=True)
class Quota:
    """What the provider said remains for one scope until `reset_at` (GoCardless headers)."""

    remaining: int
    reset_at: datetime
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    retry_at: datetime | None = None  # from Retry-After (rate_limited)
    quotas: tuple[tuple[str, Quota], ...] = ()  # per scope


@dataclass(frozen=True, slots=True)
class Attempt:
    id: str
    target_id: str
    at: datetime
    attended: bool
    outcome: Outcome
    scopes: tuple[str, ...] = ()  # empty: every scope of the policy

    @property
    def is_request(self) -> bool:
        return self.outcome.result is not Result.RECONNECTED


@dataclass(frozen=True, slots=True)
class Plan:
    """`due`: a refresh may go out now. `next_at`: the earliest instant one may (None while the
    consent needs renewing). `reason`: what decides `next_at` (planned, spacing, floor, budget,
    retry_after, needs_reconnect)."""

    target_id: str
    state: str  # due | waiting | needs_reconnect
    next_at: datetime | None
    reason: str
    attended: bool = False
    waits: dict[str, datetime] = field(default_factory=dict, compare=False)

    @property
    def due(self) -> bool:
        return self.state == "due"


@lru_cache(maxsize=512)
def time_zone(name: str) -> ZoneInfo:
    """The IANA zone, or InvalidInput naming the bad value."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"{name[:64]!r} is not an IANA time zone (e.g. Europe/Berlin).", code="bad_time_zone"
        ) from None


def activity_from(instants: Iterable[datetime], zone: str) -> tuple[int, ...]:
    """A histogram by local hour of when the person was active (e.g. when they read messages)."""
    tz, hours = time_zone(zone), [0] * 24
    for instant in instants:
        hours[ensure_utc(instant).astimezone(tz).hour] += 1
    return tuple(hours)


def usual_activity(instants: Iterable[datetime], zone: str) -> tuple[int, ...]:
    """When the person is usually active, by local hour: from their recent moments (messages
    sent, threads read) once there are `MIN_ACTIVITY` of them, else 07-22 local."""
    hours = activity_from(instants, zone)
    if sum(hours) >= MIN_ACTIVITY:
        return hours
    first, last = DEFAULT_ACTIVE_HOURS
    return tuple(1 if first <= h < last else 0 for h in range(24))


def needs_reconnect(attempts: Sequence[Attempt]) -> bool:
    """The last word on the consent was the provider's "needs reconnect"."""
    for a in sorted(attempts, key=lambda a: a.at, reverse=True):
        if a.outcome.result in (Result.OK, Result.RECONNECTED):
            return False
        if a.outcome.result is Result.NEEDS_RECONNECT:
            return True
    return False


def day_slots(target: Target, day: date) -> tuple[datetime, ...]:
    """The unattended slots of one local day of the person, as UTC instants."""
    p = target.policy
    return _day_slots(target.zone, target.activity, p.planned, int(p.min_gap.total_seconds()), day)


def day_start(activity: tuple[int, ...]) -> int:
    """The local hour a planning day starts: the quietest (three hours around it), so a night
    owl's evening is not cut at midnight. Midnight when there is no data."""
    return min(range(24), key=lambda h: (activity[h - 1] + activity[h] + activity[(h + 1) % 24], h))


@lru_cache(maxsize=8192)
def _day_slots(zone: str, activity: tuple[int, ...], n: int, gap_s: int, day: date) -> tuple[datetime, ...]:
    tz, gap, begin = time_zone(zone), timedelta(seconds=gap_s), time(day_start(activity))
    start = datetime.combine(day, begin, tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), begin, tz).astimezone(UTC)
    total = sum(activity)
    density = [
        EVEN_SHARE / 24 + ((1 - EVEN_SHARE) * h / total if total else (1 - EVEN_SHARE) / 24) for h in activity
    ]
    # Real hours of this planning day (23, 24 or 25 of them), each weighted by its local hour.
    chunks: list[tuple[datetime, timedelta, float]] = []
    t = start
    while t < end:
        length = min(timedelta(hours=1), end - t)
        chunks.append((t, length, density[t.astimezone(tz).hour] * (length / timedelta(hours=1))))
        t += length
    whole = sum(w for _, _, w in chunks)
    wanted, placed, before, i = [whole * (k + 0.5) / n for k in range(n)], [], 0.0, 0
    for q in wanted:
        while i < len(chunks) - 1 and before + chunks[i][2] < q:
            before += chunks[i][2]
            i += 1
        t0, length, w = chunks[i]
        instant = t0 + length * min(1.0, (q - before) / w)
        placed.append(instant.replace(second=0, microsecond=0))
    # At least `gap` apart, the last at least `gap` before the next day's first.
    for k in range(n):
        placed[k] = max(placed[k], start if k == 0 else placed[k - 1] + gap)
    for k in reversed(range(n)):
        placed[k] = min(placed[k], end - gap if k == n - 1 else placed[k + 1] - gap)
    return tuple(placed)


def _next_slot(target: Target, after: datetime, not_before: datetime) -> datetime:
    day = after.astimezone(time_zone(target.zone)).date() - timedelta(days=1)
    while True:
        for slot in day_slots(target, day):
            if slot > after and slot >= not_before:
                return slot
        day += timedelta(days=1)


def _retry_at(requests: Sequence[Attempt]) -> datetime | None:
    """When the provider lets us ask again after the 429s since the last request that got through."""
    streak: list[Attempt] = []
    for a in reversed(requests):
        if a.outcome.result is not Result.RATE_LIMITED:
            if a.outcome.result is not Result.PENDING:
                break
            continue
        streak.append(a)
    if not streak:
        return None
    last = streak[0]
    if last.outcome.retry_at is not None:
        return min(ensure_utc(last.outcome.retry_at), last.at + MAX_RETRY_AFTER)
    return last.at + min(BACKOFF_MAX, BACKOFF_FIRST * (1 << min(len(streak) - 1, 16)))


def _rolling_free(times: Sequence[datetime], allowed: int, now: datetime, window: timedelta) -> datetime:
    inside = [t for t in times if t > now - window]
    if len(inside) < allowed:
        return now
    return inside[len(inside) - allowed] + window


def _budget_free(target: Target, requests: Sequence[Attempt], now: datetime, *, keep: int) -> datetime:
    """The earliest instant (at least `now`) one more request fits every scope, keeping `keep` spare."""
    p, free = target.policy, now
    for scope in p.scopes:
        used = [
            (i, a.at)
            for i, a in enumerate(requests)
            if (p.attended_counts or not a.attended) and (not a.scopes or scope in a.scopes)
        ]
        seen = [(i, q) for i, a in enumerate(requests) for s, q in a.outcome.quotas if s == scope]
        if not seen:
            at = _rolling_free([t for _, t in used], p.limit - keep, now, p.window)
        else:
            index, quota = seen[-1]
            reset = ensure_utc(quota.reset_at)
            if now < reset:  # the provider's own count, as of that answer
                after = sum(1 for i, _ in used if i > index)
                at = now if after < quota.remaining - keep else reset
            else:  # past the provider's reset: its window starts again there
                allowed = max(1, (quota.limit or p.limit) - keep)
                at = _rolling_free([t for _, t in used if t >= reset], allowed, now, p.window)
        free = max(free, at)
    return free


def _decide(target: Target, attempts: Sequence[Attempt], now: datetime, *, attended: bool) -> Plan:
    now = ensure_utc(now)
    history = sorted((a for a in attempts if a.target_id == target.id), key=lambda a: a.at)
    if needs_reconnect(history):
        return Plan(target.id, "needs_reconnect", None, "needs_reconnect", attended)
    p = target.policy
    requests = [a for a in history if a.is_request]
    last = requests[-1].at if requests else None
    waits: dict[str, datetime] = {}
    if attended:
        waits["floor"] = last + p.attended_floor if last else now
        if p.attended_counts:
            waits["budget"] = _budget_free(target, requests, now, keep=0)
    else:
        # A slot soon after a refresh the person asked for is skipped: the data is fresh.
        asked = [a.at for a in requests if a.attended]
        if last is None:
            waits["planned"] = now
        else:
            since = max(last, now - DAY)  # any slot before that has passed anyway
            waits["planned"] = _next_slot(target, since, asked[-1] + p.min_gap if asked else since)
        waits["spacing"] = last + p.min_gap if last else now
        waits["budget"] = _budget_free(target, requests, now, keep=p.reserve)
    if (retry := _retry_at(requests)) is not None:
        waits["retry_after"] = retry
    reason, next_at = max(waits.items(), key=lambda kv: kv[1])
    return Plan(target.id, "due" if next_at <= now else "waiting", next_at, reason, attended, waits)


def plan(target: Target, attempts: Sequence[Attempt], now: datetime) -> Plan:
    """Whether an unattended refresh of the target is due at `now`, and else when it will be."""
    return _decide(target, attempts, now, attended=False)


def plan_attended(target: Target, attempts: Sequence[Attempt], now: datetime) -> Plan:
    """Whether a refresh the person asked for (and is present for) may go out at `now`."""
    return _decide(target, attempts, now, attended=True)
