"""One durable pull consumer of the JetStream bus (`jetstream.py`): how much it fetches at
once, and the durable's name (ADR 0027, ADR 0035)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ledgerlink.domain.events import Event
from ledgerlink.services.kernel.bus import Handler

__all__ = ["FETCH_BUDGET", "Consumer", "durable_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
FETCH_BUDGET = 0.25  # seconds of handling fetched at once (the bound on what a kill charges)


@dataclass
class Consumer:
    event_type: type[Event]
    handler: Handler
    durable: str
    task: asyncio.Task[None] | None = None
    sub: Any = None
    seconds: float | None = None  # handling time per message: follows a slow-down at once
    backlog: bool = False  # more was waiting after the last message fetched

    def batch(self, cap: int) -> int:
        """How many to fetch: one while idle (a lingering fetch of more waits for all of them
        or its timeout before it returns the first) or while the handler's speed is unknown;
        with a backlog, what is handled within FETCH_BUDGET."""
        if not self.backlog or self.seconds is None:
            return 1
        return max(1, min(cap, int(FETCH_BUDGET / max(self.seconds, 1e-4))))

    def observe(self, seconds: float) -> None:
        self.seconds = seconds if self.seconds is None else max(seconds, 0.8 * self.seconds + 0.2 * seconds)


def durable_name(event_type: type[Event], handler_name: str) -> str:
    name = _UNSAFE.sub("_", f"{event_type.__name__}-{handler_name}")
    if len(name) > 120:
        name = f"{name[:100]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return name
