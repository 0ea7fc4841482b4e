"""Daily and weekly digests, and alerts held during quiet hours (docs/messenger.md "Digests").

* Settings: off (the default: nothing arrives unasked), daily at an hour, or weekly on a
  weekday at an hour, in the person's UTC offset. Sealed; only the next due instant is clear.
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
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import structlog

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access, digest_body
from ledgerlink.services.deps import Deps
from ledgerlink.services.linking import put_card
from ledgerlink.services.messenger import ensure_system_thread
from ledgerlink.services.ports import ThreadRecord, UnitOfWork
from ledgerlink.services.vault import PersonKeyMissing

log = structlog.get_logger(__name__)

DAILY, WEEKLY, OFF = "daily", "weekly", "off"
DEFAULT_HOUR = 8
DEFAULT_WEEKDAY = 0  # Monday
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Transactions can post days after they were first seen; read that far past the covered days.
_LATE_POSTING = timedelta(days=7)


# --------------------------------------------------------------------------- the schedule (pure)


@dataclass(frozen=True, slots=True)
class Schedule:
    frequency: str  # daily | weekly
    hour: int  # 0-23, local
    weekday: int  # 0 = Monday; weekly only
    utc_offset: int  # hours, -12..+14; fixed (no daylight saving rules)

    @property
    def _tz(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset))

    @property
    def _step(self) -> timedelta:
        return timedelta(days=1 if self.frequency == DAILY else 7)

    def latest_due(self, now: datetime) -> datetime:
        """The latest scheduled instant at or before `now`."""
        local = now.astimezone(self._tz)
        due = local.replace(hour=self.hour, minute=0, second=0, microsecond=0)
        if self.frequency == WEEKLY:
            due -= timedelta(days=(local.weekday() - self.weekday) % 7)
        if due > local:
            due -= self._step
        return due.astimezone(UTC)

    def next_due(self, now: datetime) -> datetime:
        """The first scheduled instant after `now`."""
        return self.latest_due(now) + self._step

    def covered(self, due: datetime) -> digest_body.Covered:
        """The local days a digest sent at `due` covers: the day, or 7 days, before it."""
        end = due.astimezone(self._tz).date() - timedelta(days=1)
        start = end - (self._step - timedelta(days=1))
        return digest_body.Covered(start=start, end=end, utc_offset=self.utc_offset)

    def period_key(self, due: datetime) -> str:
        return f"{self.frequency}:{self.covered(due).end.isoformat()}"

    def params(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "hour": self.hour,
            "weekday": self.weekday,
            "utc_offset": self.utc_offset,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Schedule:
        return cls(
            frequency=str(params["frequency"]),
            hour=int(params["hour"]),
            weekday=int(params.get("weekday", DEFAULT_WEEKDAY)),
            utc_offset=int(params["utc_offset"]),
        )

    def describe(self) -> str:
        at = f"{self.hour:02d}:00 (UTC{self.utc_offset:+d})"
        if self.frequency == DAILY:
            return f"Daily digest at {at}, covering the day before."
        return f"Weekly digest on {WEEKDAYS[self.weekday].capitalize()}s at {at}, covering the 7 days before."


def quiet_end(now: datetime, params: dict[str, Any]) -> datetime:
    """When the quiet hours that `now` falls in end: the next instant at their end hour."""
    local = now.astimezone(timezone(timedelta(hours=int(params["utc_offset"]))))
    end = local.replace(hour=int(params["end"]), minute=0, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


# --------------------------------------------------------------------------- validation and chat


def _whole(value: str | int, what: str, low: int, high: int, code: str) -> int:
    text = str(value).strip().lower().removeprefix("utc").replace(" ", "")
    if not re.fullmatch(r"[+-]?\d{1,3}", text):
        raise InvalidInput(f"The {what} is a whole number from {low} to {high}.", code=code)
    number = int(text)
    if not low <= number <= high:
        raise InvalidInput(f"The {what} goes from {low} to {high}; {number} is outside that.", code=code)
    return number


def make_schedule(
    *, frequency: str, hour: str | int, weekday: str | int, utc_offset: str | int
) -> Schedule | None:
    """A schedule from typed values (settings form or chat); None for off. Bad values raise
    InvalidInput saying which value and why."""
    frequency = str(frequency).strip().lower()
    if frequency == OFF:
        return None
    if frequency not in (DAILY, WEEKLY):
        raise InvalidInput("Choose off, daily or weekly.", code="bad_digest_frequency")
    day = str(weekday).strip().lower()
    if day in WEEKDAYS:
        index = WEEKDAYS.index(day)
    else:
        index = _whole(day, "weekday (0 is Monday)", 0, 6, "bad_digest_weekday")
    return Schedule(
        frequency=frequency,
        hour=_whole(hour, "digest hour", 0, 23, "bad_digest_hour"),
        weekday=index,
        utc_offset=_whole(utc_offset, "UTC offset", -12, 14, "bad_digest_offset"),
    )


@dataclass(frozen=True, slots=True)
class Request:
    """What a chat line asked: `frequency` None keeps the current one (or shows it)."""

    frequency: str | None = None
    hour: int | None = None
    weekday: int | None = None
    utc_offset: int | None = None
    wants: bool = False  # "send me a digest": on, with the current or default choices

    @property
    def shows(self) -> bool:
        return self == Request()


_OFF_WORDS = re.compile(r"\b(?:stop|cancel|turn off|switch off|disable|no more|unsubscribe|off|no|none)\b")
_DAY_ABBR = {d[:3]: i for i, d in enumerate(WEEKDAYS)} | {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
_AT = re.compile(r"\bat (?P<h>\d{1,3})(?P<min>[:.h]\d{1,2})? ?(?P<ampm>am|pm|a\.m\.|p\.m\.)?(?!\w)")
_AT_WORDS = re.compile(r"\bat (?P<w>noon|midday|midnight)\b")
_ON_DAY = re.compile(r"\b(?:on|every) (?P<d>[a-z]+day|[a-z]{3,5})s?\b")
_OFFSET = re.compile(r"\b(?:utc|gmt) ?(?P<o>[+-] ?\d{1,2})?\b")
_SHOW = re.compile(r"(?:show |what is |what's )?(?:my |the )?digests?(?: settings?)?")


def parse_request(said: str) -> Request:
    """Read a digest line ("send me a daily digest at 8", "weekly digest on monday",
    "stop digests"). Raises InvalidInput naming the bad part ("digest at 25")."""
    if _SHOW.fullmatch(said):
        return Request()
    if _OFF_WORDS.search(said):
        return Request(frequency=OFF)
    frequency = DAILY if re.search(r"\b(?:daily|every day|each day)\b", said) else None
    if re.search(r"\b(?:weekly|every week|each week|once a week)\b", said):
        frequency = WEEKLY
    hour = None
    if (m := _AT_WORDS.search(said)) is not None:
        hour = 0 if m["w"] == "midnight" else 12
    elif (m := _AT.search(said)) is not None:
        if m["min"] and int(m["min"][1:]) != 0:
            raise InvalidInput(
                'Digests go out on the hour: say, for example, "at 8" or "at 18".', code="bad_digest_hour"
            )
        hour = int(m["h"])
        if m["ampm"]:
            if not 1 <= hour <= 12:
                raise InvalidInput(
                    f'"{m[0][3:]}" is not an hour: with am or pm, use 1 to 12.', code="bad_digest_hour"
                )
            hour = hour % 12 + (12 if m["ampm"].startswith("p") else 0)
        elif not 0 <= hour <= 23:
            raise InvalidInput(
                f"The digest hour goes from 0 to 23; {hour} is not an hour of the day.",
                code="bad_digest_hour",
            )
    weekday = None
    for m in _ON_DAY.finditer(said):  # "turn on the weekly digest on friday": the second one
        word = m["d"]
        if word in WEEKDAYS:
            weekday = WEEKDAYS.index(word)
        elif word in _DAY_ABBR:
            weekday = _DAY_ABBR[word]
        elif word.endswith("day") and word not in ("day", "today", "everyday"):
            raise InvalidInput(
                f'"{word}" is not a day of the week: say monday, tuesday, … or sunday.',
                code="bad_digest_weekday",
            )
        if weekday is not None:
            break
    if weekday is not None:
        if frequency == DAILY:
            raise InvalidInput(
                f'A daily digest comes every day; say "weekly digest on {WEEKDAYS[weekday]}" for one a week.',
                code="bad_digest_weekday",
            )
        frequency = WEEKLY
    offset = None
    if (m := _OFFSET.search(said)) is not None:
        offset = _whole((m["o"] or "0").replace(" ", ""), "UTC offset", -12, 14, "bad_digest_offset")
    wants = (
        re.search(r"\b(?:send|give|want|start|turn on|switch on|enable|set|subscribe)\b", said) is not None
    )
    request = Request(frequency=frequency, hour=hour, weekday=weekday, utc_offset=offset, wants=wants)
    if request == Request():
        raise InvalidInput(
            'Say, for example, "send me a daily digest at 8", "weekly digest on '
            'monday at 9" or "stop digests".',
            code="bad_digest_request",
        )
    return request


# --------------------------------------------------------------------------- the person's settings


async def current(deps: Deps, grant: Grant) -> Schedule | None:
    """The person's digest schedule; None when off."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        params = await access.read_digest_settings(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=now)
        await uow.commit()  # the audit entry
    return None if params is None else Schedule.from_params(params)


async def _known_offset(deps: Deps, uow: UnitOfWork, grant: Grant, purpose: Purpose) -> int:
    """The person's UTC offset as they told us for quiet hours; else UTC."""
    rules = await access.read_alert_rules(deps.vault, uow, grant, purpose, at=deps.clock.now())
    quiet = next((r for r in rules if r.kind == "quiet_hours"), None)
    return 0 if quiet is None else int(quiet.params.get("utc_offset", 0))


async def set_schedule(deps: Deps, grant: Grant, schedule: Schedule | None) -> None:
    now = deps.clock.now()
    async with deps.uow() as uow:
        await access.store_digest_settings(
            deps.vault, uow, grant,
            settings=None if schedule is None else schedule.params(),
            next_due_at=None if schedule is None else schedule.next_due(now), at=now,
        )  # fmt: skip
        await deps.commit_and_publish(uow)


async def apply_request(deps: Deps, grant: Grant, request: Request) -> Schedule | None:
    """Fold a chat request into the current settings; what was not said stays as it was
    (or takes the default: 08:00, Monday, the quiet-hours UTC offset)."""
    if request.frequency == OFF:
        await set_schedule(deps, grant, None)
        return None
    was = await current(deps, grant)
    if was is None:
        async with deps.uow() as uow:
            offset = await _known_offset(deps, uow, grant, Purpose.SHOW_TO_PERSON)
            await uow.commit()
    else:
        offset = was.utc_offset
    schedule = Schedule(
        frequency=request.frequency or (was.frequency if was else DAILY),
        hour=request.hour if request.hour is not None else (was.hour if was else DEFAULT_HOUR),
        weekday=request.weekday if request.weekday is not None else (was.weekday if was else DEFAULT_WEEKDAY),
        utc_offset=request.utc_offset if request.utc_offset is not None else offset,
    )
    await set_schedule(deps, grant, schedule)
    return schedule


async def chat(deps: Deps, grant: Grant, said: str) -> str:
    """Answer a digest line typed in a thread (InvalidInput for a bad one)."""
    request = parse_request(said)
    if request.shows:
        schedule = await current(deps, grant)
        if schedule is None:
            return (
                'Digests are off. Say "send me a daily digest at 8" or "weekly digest on monday" to get one.'
            )
        return schedule.describe()
    schedule = await apply_request(deps, grant, request)
    if schedule is None:
        return (
            "Digests are off. Alerts held during quiet hours now arrive in a short "
            '"While you were away" note when the quiet hours end.'
        )
    return f"Done: {schedule.describe()} It arrives in your Ledgerlink thread."


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
        release_after=quiet_end(now, quiet),
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
    return digest_body.digest_body(
        schedule.frequency, covered,
        currencies=digest_body.spending(txns, accounts, covered),
        balance_list=digest_body.balances(accounts, by_link),
        held_list=digest_body.held(held, by_thread),
    )  # fmt: skip


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
        schedule = Schedule.from_params(params)
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
            offset = await _known_offset(deps, uow, grant, Purpose.DELIVER_UPDATE)
        except PersonKeyMissing:
            return False
        if not held:
            return False
        _, by_thread, _ = await _banks(uow, person_id)
        body = digest_body.away_body(
            min(h.held_at for h in held), now, offset, digest_body.held(held, by_thread)
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
