"""The event bus every capability publishes to after commit (in-process today; ADR 0005).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ledgerlink.domain.events import Event

E = TypeVar("E", bound=Event)


Handler = Callable[[Any], Awaitable[None]]


class EventBus(Protocol):
    """Publishes domain events after commit. In-process by default; NATS JetStream later.

    Handlers are isolated: a failing handler is retried and logged, never re-raised into
    the publisher."""

    def subscribe(self, event_type: type[Event], handler: Handler) -> None: ...

    async def publish(self, event: Event) -> None: ...

    async def drain(self) -> None:
        """Wait until every published event has been handled (tests, shutdown)."""
        ...
