"""Refreshes of bank-data provider accounts within their budgets (docs/refresh.md): the SQL attempt
log and targets behind `RefreshPlanner`, and the worker the sync scheduler runs each account
through.

- Unattended (the periodic `sync_all`, bank-side triggers): a provider account is read only when
  the planner says its slot is due; otherwise nothing goes out and the next tick asks again.
- Attended ("refresh" by the person, the first read after linking): `plan_attended`, with the
  person's presence forwarded (PSD2 does not count it); refused with a clear wait.
- The answer is recorded: ok, failed, 429 with its Retry-After (nothing before it), or
  needs_reconnect, which stops every refresh until the person reconnects; the Reconnect card
  itself is connection health's (`provider_consent_expired` opens an episode at once, one card).
OAuth banks are not budgeted: their accounts are synced as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from ledgerlink.domain.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from ledgerlink.domain.refresh_budget import (
    ACTIVITY_DAYS,
    Attempt,
    Outcome,
    Provider,
    Quota,
    Result,
    Target,
    time_zone,
    usual_activity,
)
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.connection_health import RECONNECT_NOW
from ledgerlink.services.linking.ports import BankError, LinkHealthRecord
from ledgerlink.services.linking.provider_ports import (
    ATTENDED_PSU,
    REFRESH_GROUP,
    REFRESH_QUOTAS,
    ProviderQuota,
    ProviderRateLimited,
    PsuPresence,
)
from ledgerlink.services.linking.refresh import RefreshPlanner
from ledgerlink.services.linking.refresh_ports import RefreshAccountRow, RefreshAttemptRepository

__all__ = ["PROVIDER_KINDS", "ProviderTargets", "RefreshWorker", "SqlRefreshLog"]

log = structlog.get_logger(__name__)

PROVIDER_KINDS = {"simplefin": Provider.SIMPLEFIN, "enablebanking": Provider.PSD2,
                  "gocardless": Provider.GOCARDLESS}
ACTIVITY_TTL = timedelta(hours=1)
Hours = tuple[str, tuple[int, ...]]  # a person's IANA zone and activity by local hour
SyncFn = Callable[[Deps, str, Callable[[BankError], None]], Awaitable[int]]


class SqlRefreshLog:
    """`RefreshLog` over the unit of work: `locked` is one transaction holding the target's lock."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._current: ContextVar[RefreshAttemptRepository | None] = ContextVar("refresh_uow", default=None)

    @asynccontextmanager
    async def locked(self, target_id: str) -> AsyncIterator[None]:
        async with self._deps.uow() as uow:
            await uow.refresh.lock(target_id)
            token = self._current.set(uow.refresh)
            try:
                yield
            finally:
                self._current.reset(token)
            await uow.commit()

    @contextlib.contextmanager
    def reading(self, repo: RefreshAttemptRepository) -> Iterator[None]:
        """Reads inside the caller's unit of work (no lock: for a check, never a claim)."""
        token = self._current.set(repo)
        try:
            yield
        finally:
            self._current.reset(token)

    async def _do(self, fn: Callable[[RefreshAttemptRepository], Awaitable[Any]], *, write: bool) -> Any:
        repo = self._current.get()
        if repo is not None:
            return await fn(repo)
        async with self._deps.uow(readonly=not write) as uow:
            out = await fn(uow.refresh)
            if write:
                await uow.commit()
        return out

    async def add(self, attempt: Attempt) -> None:
        await self._do(lambda r: r.add(attempt), write=True)

    async def finish(self, attempt_id: str, outcome: Outcome) -> Attempt | None:
        found: Attempt | None = await self._do(lambda r: r.finish(attempt_id, outcome), write=True)
        return found

    async def since(self, target_id: str, since: datetime) -> list[Attempt]:
        found: list[Attempt] = await self._do(lambda r: r.since(target_id, since), write=False)
        return found

    async def latest(self, target_id: str, results: frozenset[Result]) -> Attempt | None:
        found: Attempt | None = await self._do(lambda r: r.latest(target_id, results), write=False)
        return found


class ProviderTargets:
    """`RefreshTargets`: each provider account of an active link (a SimpleFIN link is one target)."""

    def __init__(self, deps: Deps, partners: dict[str, Provider], *, zone: str = "UTC") -> None:
        self._deps = deps
        self._partners = partners
        self._zone = zone  # for a person who has not chosen one
        self._people: dict[str, tuple[datetime, str, tuple[int, ...]]] = {}
        # Every account's task asks at once when a person's hours are stale: one reads them.
        self._reading: dict[str, asyncio.Lock] = {}

    async def rows(self, uow: UnitOfWork | None = None) -> list[RefreshAccountRow]:
        """Inside the caller's unit of work when given one."""
        if uow is not None:
            return await uow.refresh.active_accounts(list(self._partners))
        async with self._deps.uow(readonly=True) as own:
            return await own.refresh.active_accounts(list(self._partners))

    def target_id(self, row: RefreshAccountRow) -> str:
        return row.link_id if self._partners[row.partner_id] is Provider.SIMPLEFIN else row.account_id

    async def target(self, row: RefreshAccountRow, uow: UnitOfWork | None = None) -> Target:
        """The target `row` belongs to (its id, provider and person's hours), read inside the
        caller's unit of work when given one."""
        zone, activity = await self.person_hours(row.person_id, uow)
        return Target(id=self.target_id(row), provider=self._partners[row.partner_id], zone=zone,
                      activity=activity)

    async def all(self) -> Sequence[Target]:
        seen: dict[str, Target] = {}
        for row in await self.rows():
            if self.target_id(row) not in seen:
                seen[self.target_id(row)] = await self.target(row)
        return list(seen.values())

    async def person_hours(self, person_id: str, uow: UnitOfWork | None = None) -> Hours:
        """The person's IANA zone and when they are usually active there (`usual_activity`),
        read again at most every `ACTIVITY_TTL`: the slots of a day move little from hour to hour.
        Inside the caller's unit of work when given one: a task that holds a connection never
        waits for a second (every account's task could hold one of the pool's)."""
        now = self._deps.clock.now()
        async with self._reading.setdefault(person_id, asyncio.Lock()):
            cached = self._people.get(person_id)
            if cached is not None and now - cached[0] < ACTIVITY_TTL:
                return cached[1], cached[2]
            if uow is not None:
                return await self._read_hours(uow, person_id, now)
            async with self._deps.uow(readonly=True) as own:
                return await self._read_hours(own, person_id, now)

    async def _read_hours(self, uow: UnitOfWork, person_id: str, now: datetime) -> Hours:
        person = await uow.persons.get(person_id)
        moments = await uow.refresh.person_activity(person_id, since=now - timedelta(days=ACTIVITY_DAYS))
        zone = person.zone if person is not None and person.zone else self._zone
        try:
            time_zone(zone)
        except InvalidInput:  # a zone this machine's tz database no longer knows
            zone = self._zone
        activity = usual_activity(moments, zone)
        self._people[person_id] = (now, zone, activity)
        return zone, activity

    async def get(self, target_id: str) -> Target | None:
        row = next((r for r in await self.rows() if self.target_id(r) == target_id), None)
        return None if row is None else await self.target(row)


def _quotas(noted: Sequence[tuple[str, ProviderQuota]], now: datetime) -> tuple[tuple[str, Quota], ...]:
    """Each scope's last reported quota, as the budget reads it (a reset instant, not seconds).
    Of a group (several accounts, one target) the smallest remaining counts."""
    by_scope: dict[str, Quota] = {}
    for scope, q in noted:
        if q.remaining is None or q.reset_after is None:
            continue  # half a report: the static budget still decides
        quota = Quota(remaining=max(0, q.remaining), reset_at=now + timedelta(seconds=max(0, q.reset_after)),
                      limit=q.limit)
        old = by_scope.get(scope)
        by_scope[scope] = quota if old is None or quota.remaining <= old.remaining else old
    return tuple(sorted(by_scope.items()))


def _check_consent(health: LinkHealthRecord | None) -> None:
    if health is not None and health.attention_at is not None and health.last_error in RECONNECT_NOW:
        # Another account of this link already found the consent gone: ask nothing more.
        raise Conflict("This connection needs a new consent: reconnect it to refresh.",
                       code="needs_reconnect")


def _outcome(error: BankError | None, now: datetime) -> Outcome:
    if error is None:
        return Outcome(Result.OK)
    if isinstance(error, ProviderRateLimited):
        return Outcome(Result.RATE_LIMITED, retry_at=now + timedelta(seconds=error.retry_after))
    if error.code in RECONNECT_NOW:
        return Outcome(Result.NEEDS_RECONNECT)
    return Outcome(Result.FAILED)


class RefreshWorker:
    def __init__(self, deps: Deps, *, partners: dict[str, Provider], sync: SyncFn) -> None:
        self._deps = deps
        self.targets = ProviderTargets(deps, partners)
        self._log = SqlRefreshLog(deps)
        self.planner = RefreshPlanner(log=self._log, targets=self.targets, clock=deps.clock)
        self._partners = partners
        self._sync = sync

    def _group(self, row: RefreshAccountRow, rows: Sequence[RefreshAccountRow]) -> list[RefreshAccountRow]:
        tid = self.targets.target_id(row)
        return [r for r in rows if self.targets.target_id(r) == tid]

    async def run(self, account_id: str) -> None:
        """The sync scheduler's runner: OAuth banks sync; provider accounts when budgets allow.
        It runs for every account on every tick, mostly to be told "not yet": that answer is
        read in one unit of work, without the target's lock (`RefreshPlanner.check`)."""
        async with self._deps.uow(readonly=True) as uow:
            account = await uow.accounts.get(account_id)
            if account is None or account.partner_id not in self._partners:
                row = None
            else:
                rows = await self.targets.rows(uow)
                row = next((r for r in rows if r.account_id == account_id), None)
                if row is None:
                    return  # its link is no longer active
                # Attended: the person asked and is present (their PSU headers go with the read), or
                # the account was just linked, where every read counts anyway except under PSD2: a
                # read without the PSU's headers is an unattended one to the bank, so it is claimed
                # as one.
                just_linked = (account.sync_cursor is None
                               and self._partners[account.partner_id] is not Provider.PSD2)
                attended = ATTENDED_PSU.get() is not None or just_linked
                try:
                    _check_consent(await uow.link_health.get(row.link_id))
                    if not attended:
                        with self._log.reading(uow.refresh):
                            await self.planner.check(await self.targets.target(row, uow))
                except (TooManyRequests, Conflict) as exc:
                    log.info("refresh_not_now", account_id=account_id, code=exc.code)
                    return
        if row is None:
            await self._sync(self._deps, account_id, lambda _: None)
            return
        try:
            await self._refresh(row, attended=attended, rows=rows)
        except (TooManyRequests, Conflict) as exc:
            log.info("refresh_not_now", account_id=account_id, code=exc.code)

    async def _refresh(self, row: RefreshAccountRow, *, attended: bool, rows: Sequence[RefreshAccountRow]
                       ) -> Result:
        """Claim, read the target's accounts (`rows`: the active ones, just read), record."""
        claim = await self.planner.claim(await self.targets.target(row), attended=attended)
        errors: list[BankError] = []
        token, noted = REFRESH_GROUP.set(()), REFRESH_QUOTAS.set([])
        try:
            group = self._group(row, rows)
            async with self._deps.uow(readonly=True) as uow:
                ids = [acc.bank_account_id for r in group if (acc := await uow.accounts.get(r.account_id))]
            REFRESH_GROUP.set(tuple(ids))
            for r in group:
                with contextlib.suppress(BankError):  # recorded through `errors`
                    await self._sync(self._deps, r.account_id, errors.append)
                last = errors[-1] if errors else None
                if last is not None and (isinstance(last, ProviderRateLimited) or last.code in RECONNECT_NOW):
                    break
            quotas = _quotas(REFRESH_QUOTAS.get() or [], self._deps.clock.now())
        except Exception as exc:
            # Not the provider's answer (our own read or write broke): the claim still counts,
            # recorded as failed rather than left pending, and the cause is named.
            log.warning("refresh_crashed", target_id=claim.target_id, error=type(exc).__name__)
            await self.planner.record(claim, Outcome(Result.FAILED))
            raise
        finally:
            REFRESH_GROUP.reset(token)
            REFRESH_QUOTAS.reset(noted)
        outcome = _outcome(errors[-1] if errors else None, self._deps.clock.now())
        recorded = await self.planner.record(claim, replace(outcome, quotas=quotas))
        return recorded.attempt.outcome.result

    async def refresh_link(self, *, person_id: str, link_id: str, psu: PsuPresence | None) -> int:
        """The person asked ("refresh", the button): every account of their link, now. Raises
        TooManyRequests (with the wait) or Conflict `needs_reconnect`. Returns accounts refreshed."""
        async with self._deps.uow(readonly=True) as uow:
            link = await uow.links.get(link_id)
            accounts = [] if link is None else await uow.accounts.for_link(link_id)
        if link is None or link.person_id != person_id:
            raise NotFound("link not found")
        if link.partner_id not in self._partners:
            for account in accounts:
                await self._sync(self._deps, account.id, lambda _: None)
            return len(accounts)
        active = await self.targets.rows()
        rows = [r for r in active if r.link_id == link_id]
        results: dict[str, Result] = {}
        token = ATTENDED_PSU.set(psu)
        try:
            for row in rows:
                if self.targets.target_id(row) not in results:
                    async with self._deps.uow(readonly=True) as uow:
                        _check_consent(await uow.link_health.get(row.link_id))
                    results[self.targets.target_id(row)] = result = await self._refresh(
                        row, attended=True, rows=active)
                    if result is Result.NEEDS_RECONNECT:
                        break  # said once, by connection health; the other accounts wait too
        finally:
            ATTENDED_PSU.reset(token)
        # a 429, a failure or a consent gone is recorded, not raised: those accounts are not counted
        return sum(1 for r in rows if results.get(self.targets.target_id(r)) is Result.OK)

    async def on_link_activated(self, event: Any) -> None:
        """A new consent (a renewal or Reconnect): the link's refreshes resume."""
        for row in await self.targets.rows():
            if row.link_id == event.link_id:
                with contextlib.suppress(NotFound):
                    await self.planner.reconnected(self.targets.target_id(row))

    async def freshness(self, *, link_id: str, locale: str = "en") -> str | None:
        """The thread header line of a provider link ("updated 2 hr. ago · next refresh about
        14:00"), in the person's locale and zone."""
        row = next((r for r in await self.targets.rows() if r.link_id == link_id), None)
        if row is None:
            return None
        return await self.planner.freshness(self.targets.target_id(row), locale=locale)
