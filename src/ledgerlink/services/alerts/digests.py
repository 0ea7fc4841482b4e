"""Daily and weekly digests, and alerts held during quiet hours (docs/messenger.md "Digests").

* Settings: off (the default: nothing arrives unasked), daily at an hour, or weekly on a
  weekday at an hour, on the wall clock of the person's IANA time zone (`persons.zone`, ADR
  0025; before one is chosen, the fixed UTC offset stored with older settings). Sealed; only
  the next due instant is clear.
* A digest is one message in the person's Ledgerlink (system) thread covering every linked
  bank: the local days covered (daily: the day before; weekly: the 7 days before), spending
  by category and total per currency, the largest purchases, deposits, current balances and
  every alert held since the last digest.
* Once per period, across restarts and processes: a `digests_sent` row per (person, period)
  is claimed in the same transaction that posts the message.
* Alerts raised in quiet hours are held (stored, not delivered) and released into the next
  digest, or, for people without a digest, into a "While you were away" summary once the
  quiet hours end.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from ledgerlink.domain import digest_body
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.digest_schedule import (
    DAILY,
    DEFAULT_HOUR,
    DEFAULT_WEEKDAY,
    OFF,
    Request,
    Schedule,
    legacy_zone,
    parse_request,
    parse_zone,
    quiet_end,
)
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.access.vault import PersonKeyMissing
from ledgerlink.services.alerts import budgets  # budget progress (issue 13)
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.messenger import ensure_system_thread
from ledgerlink.services.messaging.outgoing import put_card
from ledgerlink.services.messaging.ports import ThreadRecord

log = structlog.get_logger(__name__)

# Transactions can post days after they were first seen; read that far past the covered days.
_LATE_POSTING = timedelta(days=7)


# --------------------------------------------------------------------------- the person's settings


async def chosen_zone(uow: UnitOfWork, person_id: str) -> str | None:
    """The IANA zone the person chose; None before they chose one (ADR 0025)."""
    person = await uow.persons.get(person_id)
    return None if person is None else person.zone


async def current(deps: Deps, grant: Grant) -> Schedule | None:
    """The person's digest schedule, in their zone; None when off."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        params = await access.read_digest_settings(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        zone = await chosen_zone(uow, grant.person_id)
        await uow.commit()  # the audit entry
    return None if params is None else Schedule.from_params(params, zone=zone)


async def _known_zone(deps: Deps, uow: UnitOfWork, grant: Grant, purpose: Purpose) -> str:
    """The person's zone; before one is chosen, the fixed UTC offset of their quiet hours."""
    zone = await chosen_zone(uow, grant.person_id)
    if zone is not None:
        return zone
    rules = await access.read_alert_rules(deps.vault, uow, grant, purpose, at=deps.clock.now())
    quiet = next((r for r in rules if r.kind == "quiet_hours"), None)
    return legacy_zone(None if quiet is None else quiet.params.get("utc_offset"))


async def effective_zone(deps: Deps, grant: Grant) -> str:
    """The zone quiet hours and digests follow now (chosen, or the legacy fixed offset)."""
    async with deps.uow() as uow:
        found = await _known_zone(deps, uow, grant, Purpose.SHOW_TO_PERSON)
        await uow.commit()
    return found


async def set_zone(deps: Deps, grant: Grant, text: str) -> str:
    """Keep the person's IANA zone (InvalidInput for an unknown one) and move the next digest
    to its local hour in that zone, in one unit of work. Returns the zone kept."""
    name = parse_zone(text)
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.persons.set_zone(grant.person_id, name)
        params = await access.read_digest_settings(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        if params is not None:
            schedule = Schedule.from_params(params, zone=name)
            await access.store_digest_settings(
                deps.vault, uow, grant, settings=schedule.params(), next_due_at=schedule.next_due(now), at=now
            )
        await deps.commit_and_publish(uow)
    return name


async def set_schedule(deps: Deps, grant: Grant, schedule: Schedule | None) -> None:
    """Keep the schedule; its next due instant is counted in the person's zone."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        if schedule is not None:
            schedule = replace(schedule, zone=await _known_zone(deps, uow, grant, Purpose.SHOW_TO_PERSON))
        await access.store_digest_settings(
            deps.vault, uow, grant,
            settings=None if schedule is None else schedule.params(),
            next_due_at=None if schedule is None else schedule.next_due(now), at=now,
        )  # fmt: skip
        await deps.commit_and_publish(uow)


async def apply_request(deps: Deps, grant: Grant, request: Request) -> Schedule | None:
    """Fold a chat request into the current settings; what was not said stays as it was
    (or takes the default: 08:00, Monday). A UTC offset said in chat ("utc+2") becomes the
    person's zone as a fixed offset; the settings page offers real zones."""
    if request.frequency == OFF:
        await set_schedule(deps, grant, None)
        return None
    if request.utc_offset is not None:
        await set_zone(deps, grant, legacy_zone(request.utc_offset))
    was = await current(deps, grant)
    schedule = Schedule(
        frequency=request.frequency or (was.frequency if was else DAILY),
        hour=request.hour if request.hour is not None else (was.hour if was else DEFAULT_HOUR),
        weekday=request.weekday if request.weekday is not None else (was.weekday if was else DEFAULT_WEEKDAY),
    )
    await set_schedule(deps, grant, schedule)
    return await current(deps, grant)


async def chat(deps: Deps, grant: Grant, said: str) -> str:
    """Answer a digest line typed in a thread (InvalidInput for a bad one)."""
    request = parse_request(said)
    if request.shows:
        schedule = await current(deps, grant)
        if schedule is None:
            return (
                'Digests are off. Say "send me a daily digest at 8" or "weekly digest on monday" to get one.'
            )
        return schedule.describe(deps.clock.now())
    schedule = await apply_request(deps, grant, request)
    if schedule is None:
        return (
            "Digests are off. Alerts held during quiet hours now arrive in a short "
            '"While you were away" note when the quiet hours end.'
        )
    return f"Done: {schedule.describe(deps.clock.now())} It arrives in your Ledgerlink thread."


# --------------------------------------------------------------------------- holding alerts


async def is_held(uow: UnitOfWork, thread_id: str, subject_key: str) -> bool:
    """True when this fact's alert was held already (it reaches the person once, in a digest)."""
    return await uow.digests.is_held(thread_id, subject_key)


async def hold(
    deps: Deps,
    uow: UnitOfWork,
    grant: Grant,
    thread: ThreadRecord,
    *,
    kind: str,
    text: str,
    subject_key: str,
    quiet: dict[str, Any],
) -> None:
    """Keep an alert raised during quiet hours (`quiet`: the quiet-hours rule's parameters)."""
    now = deps.clock.now()
    await access.hold_alert(
        deps.vault,
        uow,
        grant,
        thread,
        subject_key=subject_key,
        kind=kind,
        text=text,
        release_after=quiet_end(now, quiet, await chosen_zone(uow, grant.person_id)),
        at=now,
    )


# --------------------------------------------------------------------------- sending


async def _banks(uow: UnitOfWork, person_id: str) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """Bank names by link id and by thread id, and the ids of active links."""
    threads = await uow.threads.for_person(person_id)
    active = {lk.id for lk in await uow.links.for_person(person_id) if lk.status == "active"}
    by_link = {t.link_id: t.title for t in threads if t.link_id is not None}
    by_thread = {t.id: t.title for t in threads}
    return by_link, by_thread, active


async def _compose(
    deps: Deps, uow: UnitOfWork, grant: Grant, schedule: Schedule, due: datetime, key: str
) -> dict[str, Any]:
    now = deps.clock.now()
    covered = schedule.covered(due)
    by_link, by_thread, active = await _banks(uow, grant.person_id)
    accounts = [
        a
        for a in await access.read_accounts(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
        if a.link_id in active
    ]
    txns = await access.read_transactions_between(
        deps.vault, uow, grant, Purpose.DELIVER_UPDATE, account_ids=[a.id for a in accounts],
        start=covered.start - timedelta(days=1), end=covered.end + _LATE_POSTING, at=now,
    )  # fmt: skip
    held = await access.release_held_alerts(deps.vault, uow, grant, held_before=now, released_in=key, at=now)
    body = digest_body.digest_body(
        schedule.frequency, covered,
        currencies=digest_body.spending(txns, accounts, covered),
        balance_list=digest_body.balances(accounts, by_link),
        held_list=digest_body.held(held, by_thread),
    )  # fmt: skip
    body["budgets"] = await budgets.progress(deps, uow, grant, now.date())  # issue 13
    return body


async def send_digest(deps: Deps, person_id: str) -> bool:
    """Send the person's digest for the latest due period unless it was sent. True if sent."""
    grant = Grant.for_component(person_id, "digests")
    now = deps.clock.now()
    async with deps.uow() as uow:
        try:
            params = await access.read_digest_settings(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
        except PersonKeyMissing:
            return False
        if params is None:
            return False
        schedule = Schedule.from_params(params, zone=await chosen_zone(uow, person_id))
        due = schedule.latest_due(now)
        await uow.digests.set_next_due(person_id, schedule.next_due(now))
        key = schedule.period_key(due)
        if not await uow.digests.claim_period(
            digest_id=new_id("dig"), person_id=person_id, period_key=key, at=now
        ):
            await uow.commit()  # sent already (before a restart, or by another process)
            return False
        body = await _compose(deps, uow, grant, schedule, due, key)
        thread = await ensure_system_thread(deps, uow, person_id)
        await put_card(deps, uow, grant, thread, CardKind.DIGEST, body, subject_key=f"digest:{key}")
        await deps.commit_and_publish(uow)
    return True


async def send_away(deps: Deps, person_id: str) -> bool:
    """Without a digest, held alerts arrive in one "While you were away" note once the quiet
    hours they were held in are over. True if one was sent."""
    grant = Grant.for_component(person_id, "digests")
    now = deps.clock.now()
    key = f"away:{new_id('awy')}"
    async with deps.uow() as uow:
        if await uow.digests.settings(person_id) is not None:
            return False  # the next digest carries them
        try:
            held = await access.release_held_alerts(
                deps.vault, uow, grant, held_before=now, release_due=now, released_in=key, at=now
            )
            zone = await _known_zone(deps, uow, grant, Purpose.DELIVER_UPDATE)
        except PersonKeyMissing:
            return False
        if not held:
            return False
        _, by_thread, _ = await _banks(uow, person_id)
        body = digest_body.away_body(
            min(h.held_at for h in held), now, zone, digest_body.held(held, by_thread)
        )
        thread = await ensure_system_thread(deps, uow, person_id)
        await put_card(deps, uow, grant, thread, CardKind.DIGEST, body, subject_key=key)
        await deps.commit_and_publish(uow)
    return True


@dataclass(frozen=True, slots=True)
class TickReport:
    digests: int
    away: int


async def tick(deps: Deps) -> TickReport:
    """Send every due digest and "While you were away" note. Safe to run from several
    processes at once and as often as wanted."""
    now = deps.clock.now()
    async with deps.uow(readonly=True) as uow:
        due = await uow.digests.due(now)
        away = await uow.digests.away_due(now)
    sent = notes = 0
    for person_id in due:
        try:
            sent += await send_digest(deps, person_id)
        except Exception as exc:  # one person's failure never holds back the others
            log.warning("digest_failed", error=type(exc).__name__)
    for person_id in away:
        try:
            notes += await send_away(deps, person_id)
        except Exception as exc:
            log.warning("away_summary_failed", error=type(exc).__name__)
    if sent or notes:
        log.info("digests_sent", digests=sent, away=notes)
    return TickReport(digests=sent, away=notes)


async def run_scheduler(deps: Deps, interval_seconds: float) -> None:
    while True:
        try:
            await tick(deps)
        except Exception:
            log.exception("digest_tick_failed")
        await asyncio.sleep(interval_seconds)
