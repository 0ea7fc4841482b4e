"""When a digest is due, and what a person asked for in chat (pure: no reads, no clock).

Settings: off (the default), daily at an hour, or weekly on a weekday at an hour, in the
person's IANA time zone (zoneinfo), so 08:00 stays 08:00 across daylight saving (ADR 0025).
`parse_request` reads "send me a weekly digest on friday at 6pm" and
friends; `services/alerts/digests.py` stores the result and sends the digests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ledgerlink.domain import digest_body
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.zones import (  # re-exported: the schedule's callers use them from here
    at_local as at_local,
)
from ledgerlink.domain.zones import (
    in_quiet_hours as in_quiet_hours,
)
from ledgerlink.domain.zones import (
    legacy_zone as legacy_zone,
)
from ledgerlink.domain.zones import (
    parse_zone as parse_zone,
)
from ledgerlink.domain.zones import (
    quiet_end as quiet_end,
)
from ledgerlink.domain.zones import (
    tz as tz,
)
from ledgerlink.domain.zones import (
    zone_label as zone_label,
)
from ledgerlink.domain.zones import (
    zone_names as zone_names,
)

DAILY, WEEKLY, OFF = "daily", "weekly", "off"


DEFAULT_HOUR = 8


DEFAULT_WEEKDAY = 0  # Monday


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Schedule:
    frequency: str  # daily | weekly
    hour: int  # 0-23, wall-clock time in `zone`
    weekday: int  # 0 = Monday; weekly only
    zone: str = "UTC"  # the person's IANA zone (kept on the person, not in the sealed settings)

    @property
    def _days(self) -> int:
        return 1 if self.frequency == DAILY else 7

    def _latest_day(self, now: datetime) -> date:
        day = now.astimezone(tz(self.zone)).date()
        if self.frequency == WEEKLY:
            day -= timedelta(days=(day.weekday() - self.weekday) % 7)
        if at_local(day, self.hour, self.zone) > now:
            day -= timedelta(days=self._days)
        return day

    def latest_due(self, now: datetime) -> datetime:
        """The latest scheduled instant at or before `now`."""
        return at_local(self._latest_day(now), self.hour, self.zone)

    def next_due(self, now: datetime) -> datetime:
        """The first scheduled instant after `now` (counted in local days, so a daylight
        saving change moves the UTC instant, not the local hour)."""
        return at_local(self._latest_day(now) + timedelta(days=self._days), self.hour, self.zone)

    def covered(self, due: datetime) -> digest_body.Covered:
        """The local days a digest sent at `due` covers: the day, or 7 days, before it."""
        end = due.astimezone(tz(self.zone)).date() - timedelta(days=1)
        start = end - timedelta(days=self._days - 1)
        return digest_body.Covered(start=start, end=end, zone=self.zone)

    def period_key(self, due: datetime) -> str:
        return f"{self.frequency}:{self.covered(due).end.isoformat()}"

    def params(self) -> dict[str, Any]:
        return {"frequency": self.frequency, "hour": self.hour, "weekday": self.weekday}

    @classmethod
    def from_params(cls, params: dict[str, Any], *, zone: str | None = None) -> Schedule:
        """Stored settings in `zone` (settings saved before zones carry a `utc_offset`)."""
        return cls(
            frequency=str(params["frequency"]),
            hour=int(params["hour"]),
            weekday=int(params.get("weekday", DEFAULT_WEEKDAY)),
            zone=zone or legacy_zone(params.get("utc_offset")),
        )

    def describe(self, now: datetime | None = None) -> str:
        at = f"{self.hour:02d}:00 ({zone_label(self.zone, now)})"
        if self.frequency == DAILY:
            return f"Daily digest at {at}, covering the day before."
        return f"Weekly digest on {WEEKDAYS[self.weekday].capitalize()}s at {at}, covering the 7 days before."


def quiet_values(start: str, end: str) -> dict[str, int]:
    """Quiet-hours form values checked (InvalidInput naming the bad one)."""
    values = {}
    for name, text in (("start", start), ("end", end)):
        word = "start" if name == "start" else "end"
        try:
            values[name] = int(str(text).strip())
        except ValueError:
            raise InvalidInput(
                f"The {word} hour is a whole hour from 0 to 23, such as 22 or 7.", code="bad_quiet_hours"
            ) from None
        if not 0 <= values[name] <= 23:
            raise InvalidInput(
                f"The {word} hour goes from 0 to 23; {values[name]} is not an hour.", code="bad_quiet_hours"
            )
    return values


def _whole(value: str | int, what: str, low: int, high: int, code: str) -> int:
    text = str(value).strip().lower().removeprefix("utc").replace(" ", "")
    if not re.fullmatch(r"[+-]?\d{1,3}", text):
        raise InvalidInput(f"The {what} is a whole number from {low} to {high}.", code=code)
    number = int(text)
    if not low <= number <= high:
        raise InvalidInput(f"The {what} goes from {low} to {high}; {number} is outside that.", code=code)
    return number


def make_schedule(
    *, frequency: str, hour: str | int, weekday: str | int, zone: str = "UTC"
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
        zone=zone,
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
