"""Partners are told to come back while this process cannot take their requests safely
(scale-out profile, issue 12): until the event bus has reached NATS once after start, every
partner POST gets 503 with Retry-After, so nothing is acknowledged that is not stored and
announced. Once up, a broker outage no longer matters here: the outbox keeps the events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledgerlink.entrypoints.problems import problem_body

__all__ = ["PartnersWaitUntilReady"]

_PROBLEM = [(b"content-type", b"application/problem+json")]


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
