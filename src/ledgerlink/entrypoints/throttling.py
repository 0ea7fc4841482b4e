"""Throttling as a FastAPI dependency, for routes that are not forms (the partner API).

    router.get("/partners/v1/...", dependencies=[Depends(rate_limited(throttle.PARTNER_API,
                                                                       key=partner_key))])

A refused request is 429 `too_many_requests` with `Retry-After` (problems.py). The counts are
those of `deps.limiter` (ADR 0019): one store for the messenger's throttles and these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from ledgerlink.entrypoints.dependencies import client_address, get_deps
from ledgerlink.services.kernel import throttle
from ledgerlink.services.kernel.ports import RateRule

__all__ = ["client_address", "rate_limited"]

KeyOf = Callable[[Request], str]


def rate_limited(rule: RateRule, *, key: KeyOf = client_address) -> Callable[[Request], Awaitable[None]]:
    """A dependency that counts one hit of `rule` per request, keyed by `key(request)` (default:
    the client address; for partners, their id or API key's hash), and refuses when exhausted."""

    async def dependency(request: Request) -> None:
        await throttle.check(get_deps(request).limiter, rule, f"{rule.name}:{key(request)}")

    return dependency
