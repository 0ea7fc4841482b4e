"""The refresh planner's text, in and out (pure): provider headers in (Retry-After, GoCardless
quota headers), the thread header's freshness line out.

Headers are outside text: bounded, and anything unreadable is treated as absent (the planner
then falls back to its own backoff or static budget), never an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time

from ledgerlink.domain.clock import ensure_utc
from ledgerlink.domain.locale_text import ago
from ledgerlink.domain.refresh_budget import MAX_RETRY_AFTER, Quota, time_zone

__all__ = ["freshness", "parse_retry_after", "quota_from_headers"]

_MAX_HEADER = 64
_DIGITS = re.compile(r"[0-9]{1,10}")
_HTTP_DATE = re.compile(r"[A-Za-z]{3,9},? [0-9A-Za-z: -]{10,40}")
ROUND_TO = timedelta(minutes=5)


def parse_retry_after(value: str | None, *, now: datetime) -> datetime | None:
    """The instant a Retry-After value (RFC 9110 section 10.2.3: delay-seconds or HTTP-date)
    lets us ask again; at most `MAX_RETRY_AFTER` ahead, never before `now`. None when absent
    or unreadable."""
    now = ensure_utc(now)
    text = (value or "").strip()
    if not text or len(text) > _MAX_HEADER:
        return None
    if _DIGITS.fullmatch(text):
        return now + min(timedelta(seconds=int(text)), MAX_RETRY_AFTER)
    if not _HTTP_DATE.fullmatch(text):
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    # Every HTTP-date form is GMT; asctime's carries no zone at all.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return min(max(when, now), now + MAX_RETRY_AFTER)


def _count(value: str | None, high: int) -> int | None:
    text = (value or "").strip()
    if not _DIGITS.fullmatch(text) or int(text) > high:
        return None
    return int(text)


def quota_from_headers(headers: Mapping[str, str], *, now: datetime) -> Quota | None:
    """GoCardless's per-account quota of one endpoint, from `X-RateLimit-Account-Success-*`
    (also spelt `HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_*` in its documentation): remaining calls,
    seconds to the reset, the limit. None unless remaining and reset are both readable."""
    found: dict[str, str] = {}
    for key, value in headers.items():
        name = key.strip().lower().replace("_", "-").removeprefix("http-")
        if name.startswith("x-ratelimit-account-success-"):
            found[name.removeprefix("x-ratelimit-account-success-")] = value
    remaining = _count(found.get("remaining"), 10_000)
    reset = _count(found.get("reset"), int(MAX_RETRY_AFTER.total_seconds()))
    if remaining is None or reset is None:
        return None
    return Quota(
        remaining=remaining,
        reset_at=ensure_utc(now) + timedelta(seconds=reset),
        limit=_count(found.get("limit"), 10_000),
    )


def _locale(name: str) -> Locale:
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


def freshness(
    now: datetime,
    last_success: datetime | None,
    next_planned: datetime | None,
    zone: str,
    locale: str = "en",
    *,
    needs_reconnect: bool = False,
) -> str:
    """The thread header: "updated 2 hr. ago · next refresh about 14:00": how long ago in the
    person's locale (`locale_text.ago`), the time in their zone and locale (Babel), rounded to 5
    minutes; "tomorrow" or the weekday when not today."""
    now = ensure_utc(now)
    loc = _locale(locale)
    parts = ["not updated yet" if last_success is None
             else f"updated {ago(now - ensure_utc(last_success), locale=loc)}"]
    if needs_reconnect:
        parts.append("reconnect to refresh")
    elif next_planned is not None:
        planned = ensure_utc(next_planned)
        if planned <= now:
            parts.append("refreshing now")
        else:
            tz = time_zone(zone)
            step = int(ROUND_TO.total_seconds())
            seconds = (int(planned.timestamp()) + step // 2) // step * step  # half up
            rounded = datetime.fromtimestamp(seconds, UTC).astimezone(tz)
            clock = format_time(rounded, "short", locale=loc)
            days = (rounded.date() - now.astimezone(tz).date()).days
            if days == 0:
                parts.append(f"next refresh about {clock}")
            elif days == 1:
                parts.append(f"next refresh tomorrow about {clock}")
            else:
                parts.append(f"next refresh about {format_date(rounded, 'EEE', locale=loc)} {clock}")
    return " · ".join(parts)
