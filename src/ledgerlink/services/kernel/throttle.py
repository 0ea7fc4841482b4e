"""The throttles (issue 14, ADR 0019): which actions are limited, per what, how much.

Counts live behind the `RateLimiter` port (`deps.limiter`); windows are moving windows over
real elapsed time, measured by the store (they are not business time and never stored with
the data). A refused action raises `TooManyRequests` with the seconds to wait, which the web
answers as 429 with `Retry-After` (an HTML page for forms, a problem document for fetch).
"""

from __future__ import annotations

from ledgerlink.domain.errors import TooManyRequests
from ledgerlink.services.kernel.ports import RateLimiter, RateRule

__all__ = ["BANK_EVENT_REFUSED_ADDRESS", "COMPOSE_ADDRESS", "COMPOSE_PERSON", "PARTNER_API",
           "PARTNER_AUTH_ADDRESS", "REGISTER_ADDRESS", "SIGN_IN_ACCOUNT", "SIGN_IN_ADDRESS", "check",
           "retry_words"]

_MINUTE, _HOUR, _DAY = 60, 3600, 86400

# Sign-in attempts per typed handle (whether or not it exists), since its last successful
# sign-in: 10 in 15 minutes, 100 in a day (NIST 800-63B: at most 100 consecutive failures).
SIGN_IN_ACCOUNT = RateRule("sign_in_account", ((10, 15 * _MINUTE), (100, _DAY)),
                           "Too many sign-in attempts.")
# Failed sign-ins per client address, across handles (credential stuffing).
SIGN_IN_ADDRESS = RateRule("sign_in_address", ((30, 15 * _MINUTE), (300, _DAY)),
                           "Too many sign-in attempts.")
REGISTER_ADDRESS = RateRule("register_address", ((20, _HOUR), (100, _DAY)),
                            "Too many new accounts from this network.")
COMPOSE_PERSON = RateRule("compose_person", ((30, _MINUTE), (600, _HOUR)), "Too many messages.")
COMPOSE_ADDRESS = RateRule("compose_address", ((120, _MINUTE),), "Too many messages.")
# For the partner API (entrypoints/throttling.py `rate_limited`), per partner.
PARTNER_API = RateRule("partner_api", ((600, _MINUTE),), "Too many requests from this partner.")
# Failed partner API authentications (missing or unknown key) per client address: key guessing.
PARTNER_AUTH_ADDRESS = RateRule("partner_auth_address", ((30, 15 * _MINUTE), (300, _DAY)),
                                "Too many requests without a valid partner API key.")
# Refused bank events (unknown partner, missing or bad signature, stale timestamp) per client
# address. Verified events are never counted: a bank's burst is not throttled (ADR 0019).
BANK_EVENT_REFUSED_ADDRESS = RateRule("bank_event_refused_address", ((100, _MINUTE), (1000, _HOUR)),
                                      "Too many unverifiable events from this network.")


def retry_words(rule: RateRule, seconds: int) -> str:
    """"Too many sign-in attempts. Please wait 3 minutes and try again." """
    if seconds < 90:
        wait = f"{seconds} seconds" if seconds != 1 else "a second"
    elif seconds < 90 * _MINUTE:
        wait = f"{round(seconds / _MINUTE)} minutes"
    else:
        wait = f"{round(seconds / _HOUR)} hours"
    return f"{rule.words} Please wait {wait} and try again."


async def check(limiter: RateLimiter | None, rule: RateRule, key: str, *, count: bool = True) -> None:
    """Count one `rule` hit for `key` (or, `count=False`, only look); raise `TooManyRequests`
    when a limit is exhausted. No limiter (a hand-built `Deps` in tests): nothing is limited."""
    if limiter is None:
        return
    wait = await (limiter.hit(rule, key) if count else limiter.wait(rule, key))
    if wait is not None:
        raise TooManyRequests(retry_words(rule, wait), retry_after=wait)
