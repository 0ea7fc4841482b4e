"""Is this process fit to serve (scale-out profile, issue 12)?

- Partners are told to come back while this process cannot take their requests safely: until
  the event bus has reached NATS once after start, every partner POST gets 503 with
  Retry-After. The event would be durable (inbox and outbox rows commit in PostgreSQL before
  the 202), but a process that has never reached NATS has not heard any other process's cache
  invalidations (an erasure, a revoked link: ADR 0029), and a wrong NATS address should show at
  once. Once up, a broker outage no longer matters here: the outbox keeps the events and the
  relay catches up, so partners get 202 (ADR 0032).
- `/healthz` names each dependency: `database` always, `nats` on the scale-out profile. The
  database down is 503 (nothing can be stored); NATS down is 200 with status `degraded` (events
  are still stored and wait in the outbox; a load balancer must not drop every api for it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ledgerlink.entrypoints.problems import problem_body

__all__ = ["PartnersWaitUntilReady", "health"]

_PROBLEM = [(b"content-type", b"application/problem+json")]
CHECK_TIMEOUT = 2.0


async def health(database: Callable[[], Awaitable[Any]], bus: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /healthz. `database` runs one cheap query."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await database()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"down ({type(exc).__name__})"
    if hasattr(bus, "connected"):  # the scale-out profile
        checks["nats"] = "ok" if bus.connected and bus.ready else "down"
    if checks["database"] != "ok":
        return 503, {"status": "down", "checks": checks}
    status = "ok" if all(value == "ok" for value in checks.values()) else "degraded"
    return 200, {"status": status, "checks": checks}


class PartnersWaitUntilReady:
    def __init__(self, app: Any, *, ready: Callable[[], bool], retry_after: int = 5) -> None:
        self.app = app
        self._ready = ready
        self._retry_after = retry_after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)  # `.state` and friends: the wrapped app answers

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST"
                and scope["path"].startswith("/partners/") and not self._ready()):
            body = problem_body(503, "not_ready", "the platform is starting; nothing was stored, "
                                "send it again later", retry_after=self._retry_after)
            headers = [*_PROBLEM, (b"retry-after", str(self._retry_after).encode()),
                       (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
