"""The refresh planner: which accounts to refresh now, within every provider's quota.

A thin service over the pure rules in `domain/refresh_budget.py` (docs/refresh.md). The flow
for each refresh, unattended (`due`) or asked for by the person (attended):

1. `claim(target, attended=...)`: under the target's lock, plan from the stored attempts and,
   if a request may go out now, store it as `pending` (it counts from then on, even if we
   crash before the answer); else refuse (`TooManyRequests` with the seconds to wait, or
   `Conflict` `needs_reconnect`).
2. call the provider;
3. `record(claim, outcome)`: store the answer (ok, failed, 429 with its Retry-After, needs
   reconnect, GoCardless quotas). `Recorded.say_reconnect` is true exactly once per lost
   consent: the caller then shows Reconnect through connection health.

`reconnected(target)` after a renewal ends the `needs_reconnect` state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from ledgerlink.domain.clock import Clock
from ledgerlink.domain.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.refresh_budget import (
    HISTORY,
    Attempt,
    Outcome,
    Plan,
    Provider,
    Result,
    Target,
    needs_reconnect,
    plan,
    plan_attended,
)
from ledgerlink.domain.refresh_text import freshness
from ledgerlink.services.linking.refresh_ports import RefreshLog, RefreshTargets

__all__ = ["Recorded", "RefreshPlanner"]

log = structlog.get_logger(__name__)

_CONSENT = frozenset({Result.OK, Result.NEEDS_RECONNECT, Result.RECONNECTED})
_NAMES = {Provider.PSD2: "Your bank", Provider.SIMPLEFIN: "SimpleFIN", Provider.GOCARDLESS: "GoCardless"}


@dataclass(frozen=True, slots=True)
class Recorded:
    attempt: Attempt
    say_reconnect: bool  # the consent was just lost: show Reconnect (once)


def _refusal(target: Target, p: Plan, now: datetime) -> TooManyRequests:
    assert p.next_at is not None
    seconds = max(1, math.ceil((p.next_at - now).total_seconds()))
    if seconds < 120:
        wait = f"{seconds} s"
    elif seconds < 2 * 3600:
        wait = f"about {math.ceil(seconds / 60)} min"
    else:
        wait = f"about {round(seconds / 3600)} h"
    detail = {
        "floor": f"Refreshed a moment ago: try again in {wait}.",
        "spacing": f"Refreshed recently: the next automatic refresh is in {wait}.",
        "planned": f"The next automatic refresh is in {wait}.",
        "retry_after": f"{_NAMES[target.provider]} asked us to wait: try again in {wait}.",
        "budget": (
            f"{_NAMES[target.provider]} allows only a few refreshes a day for this account and "
            f"they are used up: the next one is possible in {wait}."
        ),
    }[p.reason]
    return TooManyRequests(detail, retry_after=seconds, code=f"refresh_{p.reason}")


def _refuse(target: Target, history: list[Attempt], now: datetime, *, attended: bool) -> None:
    p = (plan_attended if attended else plan)(target, history, now)
    if p.state == "needs_reconnect":
        raise Conflict("This connection needs a new consent: reconnect it to refresh.",
                       code="needs_reconnect")
    if not p.due:
        raise _refusal(target, p, now)


class RefreshPlanner:
    def __init__(self, *, log: RefreshLog, targets: RefreshTargets, clock: Clock) -> None:
        self._log = log
        self._targets = targets
        self._clock = clock

    async def _history(self, target_id: str, now: datetime) -> list[Attempt]:
        recent = await self._log.since(target_id, now - HISTORY)
        mark = await self._log.latest(target_id, _CONSENT)  # the consent's state, whatever its age
        if mark is not None and all(a.id != mark.id for a in recent):
            recent.insert(0, mark)
        return recent

    async def _target(self, target_id: str) -> Target:
        target = await self._targets.get(target_id)
        if target is None:
            raise NotFound("No such account to refresh.", code="refresh_target_not_found")
        return target

    async def plans(self, now: datetime | None = None) -> list[Plan]:
        """Every target's unattended plan at `now` (default: the clock's)."""
        at = now or self._clock.now()
        targets: Sequence[Target] = await self._targets.all()
        return [plan(t, await self._history(t.id, at), at) for t in targets]

    async def due(self, now: datetime | None = None) -> list[Plan]:
        """The targets whose unattended refresh is due now, longest waiting first."""
        due = [p for p in await self.plans(now) if p.due]
        return sorted(due, key=lambda p: (p.next_at.timestamp() if p.next_at else math.inf, p.target_id))

    async def claim(self, target: str | Target, *, attended: bool = False) -> Attempt:
        """Reserve one request to the provider, stored as pending; refused when it may not go out.
        `target` is its id, or the target itself when the caller has just read it (then the
        targets are not read again: the sync scheduler asks this of every account every tick)."""
        if isinstance(target, str):
            target = await self._target(target)
        target_id = target.id
        async with self._log.locked(target_id):
            now = self._clock.now()
            _refuse(target, await self._history(target_id, now), now, attended=attended)
            attempt = Attempt(
                id=new_id("rfa"),
                target_id=target_id,
                at=now,
                attended=attended,
                outcome=Outcome(Result.PENDING),
                scopes=target.policy.scopes,
            )
            await self._log.add(attempt)
        return attempt

    async def check(self, target: Target, *, attended: bool = False) -> None:
        """Raises what `claim` would refuse with, read without the target's lock: a caller that
        asks for every target on every tick is told "not yet" without the locked transaction.
        Passing is no promise (`claim` decides again under the lock); a refusal read just before
        another process's change costs that target one tick."""
        now = self._clock.now()
        _refuse(target, await self._history(target.id, now), now, attended=attended)

    async def record(self, claim: Attempt, outcome: Outcome) -> Recorded:
        """Store the provider's answer to a claimed request."""
        if outcome.result in (Result.PENDING, Result.RECONNECTED):
            raise InvalidInput(
                "An answer is ok, failed, rate_limited or needs_reconnect.", code="bad_outcome"
            )
        async with self._log.locked(claim.target_id):
            now = self._clock.now()
            before = needs_reconnect(await self._history(claim.target_id, now))
            done = await self._log.finish(claim.id, outcome)
            if done is None:
                raise NotFound("No such refresh attempt.", code="refresh_attempt_not_found")
            say = not before and needs_reconnect(await self._history(claim.target_id, now))
        if say:
            log.info("refresh_needs_reconnect", target_id=claim.target_id)
        elif outcome.result is Result.RATE_LIMITED:
            log.info("refresh_rate_limited", target_id=claim.target_id, retry_at=outcome.retry_at)
        return Recorded(attempt=done, say_reconnect=say)

    async def reconnected(self, target_id: str) -> None:
        """The person gave a new consent (renewal): refreshes resume."""
        await self._target(target_id)
        async with self._log.locked(target_id):
            now = self._clock.now()
            await self._log.add(
                Attempt(new_id("rfa"), target_id, now, attended=True, outcome=Outcome(Result.RECONNECTED))
            )

    async def freshness(self, target_id: str, *, locale: str = "en") -> str:
        """The thread header line: "updated 2 hr. ago · next refresh about 14:00"."""
        target = await self._target(target_id)
        now = self._clock.now()
        history = await self._history(target_id, now)
        last = await self._log.latest(target_id, frozenset({Result.OK}))
        p = plan(target, history, now)
        return freshness(
            now,
            last.at if last else None,
            p.next_at,
            target.zone,
            locale,
            needs_reconnect=p.state == "needs_reconnect",
        )
