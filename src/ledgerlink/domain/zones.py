"""Time zones as people choose them (IANA names, zoneinfo) and quiet hours on the person's
wall clock, right across daylight saving (issue 13, ADR 0025). Pure: the digest schedule and the
alert rules both use it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ledgerlink.domain.errors import InvalidInput


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name zoneinfo knows, sorted (the settings page's list)."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def legacy_zone(utc_offset: int | str | None) -> str:
    """The zone for an offset stored before zones existed: a FIXED offset ("Etc/GMT-1" is
    UTC+1 all year; the Etc sign is inverted), so nothing moves until the person chooses."""
    hours = int(utc_offset or 0)
    return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


def parse_zone(text: str) -> str:
    """An IANA zone name as typed ("Europe/Berlin", any case); InvalidInput otherwise."""
    name = str(text).strip()
    if name:
        by_lower = {z.lower(): z for z in zone_names()}
        found = by_lower.get(name.lower().replace(" ", "_"))
        if found is not None:
            return found
    raise InvalidInput(
        f'"{name[:60]}" is not a time zone we know: choose one from the list, such as Europe/Berlin.'
        if name else "Choose your time zone from the list, such as Europe/Berlin.",
        code="bad_zone",
    )


def tz(zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # a zone removed from tzdata: UTC rather than a crash


def at_local(day: date, hour: int, zone: str) -> datetime:
    """The UTC instant of `hour`:00 on the local `day`. An hour skipped by a spring-forward
    (02:00 on 29 Mar in Berlin) is read with the offset before the change (so 03:00 CEST);
    an hour that happens twice is its first occurrence."""
    return datetime.combine(day, time(hour), tzinfo=tz(zone)).astimezone(UTC)


def zone_label(zone: str, when: datetime | None = None) -> str:
    """A zone as people read it: "Europe/Berlin, CET" at `when` (a fixed Etc zone: "UTC+1")."""
    if when is None and not (zone.startswith("Etc/") or zone == "UTC"):
        return zone.replace("_", " ")
    local = (when or datetime(2000, 1, 1, tzinfo=UTC)).astimezone(tz(zone))
    offset = local.utcoffset() or timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()) // 60, 60)
    fixed = f"UTC{hours:+d}" + (f":{rest:02d}" if rest else "") if offset else "UTC"
    if zone.startswith("Etc/") or zone == "UTC":
        return fixed
    return f"{zone.replace('_', ' ')}, {local.tzname() or fixed}"


def quiet_end(now: datetime, params: dict[str, Any], zone: str | None = None) -> datetime:
    """When the quiet hours that `now` falls in end: the next instant at their end hour."""
    zone = zone or legacy_zone(params.get("utc_offset"))
    day = now.astimezone(tz(zone)).date()
    end = at_local(day, int(params["end"]), zone)
    if end <= now:
        end = at_local(day + timedelta(days=1), int(params["end"]), zone)
    return end


def in_quiet_hours(now: datetime, params: dict[str, Any], zone: str | None = None) -> bool:
    """True when `now` is inside the quiet hours, on the wall clock of `zone`."""
    start, end = int(params["start"]), int(params["end"])
    hour = now.astimezone(tz(zone or legacy_zone(params.get("utc_offset")))).hour
    if start == end:
        return False
    return start <= hour < end if start < end else (hour >= start or hour < end)
