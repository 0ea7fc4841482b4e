"""The refresh planner's vocabulary: where its attempts are kept and where its targets come from.

The attempt log is the planner's only memory: every budget is recomputed from it, so it must
hold each request from *before* it goes out (result `pending`) to its outcome. Attempts hold
ids, instants and counts only, no personal data. Implementations: in memory in the tests; the
SQL one comes with the provider integration (issue 10, part 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ledgerlink.domain.refresh_budget import Attempt, Outcome, Result, Target

if TYPE_CHECKING:
    from ledgerlink.services.linking.provider_ports import PsuPresence

__all__ = [
    "AttendedRefresher", "RefreshAccountRow", "RefreshAttemptRepository", "RefreshLog", "RefreshTargets",
]


class RefreshLog(Protocol):
    def locked(self, target_id: str) -> AbstractAsyncContextManager[None]:
        """One writer per target: what runs inside reads and writes as one transaction that holds
        the target's lock (SQL: a row lock), so two processes never both claim the last request."""
        ...

    async def add(self, attempt: Attempt) -> None: ...

    async def finish(self, attempt_id: str, outcome: Outcome) -> Attempt | None:
        """Set a pending attempt's outcome; None if there is no such attempt."""
        ...

    async def since(self, target_id: str, since: datetime) -> list[Attempt]:
        """The target's attempts at or after `since`, oldest first."""
        ...

    async def latest(self, target_id: str, results: frozenset[Result]) -> Attempt | None:
        """The target's most recent attempt with one of these results, whatever its age."""
        ...


class RefreshTargets(Protocol):
    """What can be refreshed: active links' accounts (SimpleFIN: connections), with the
    person's zone and activity histogram (e.g. from message read times)."""

    async def all(self) -> Sequence[Target]: ...

    async def get(self, target_id: str) -> Target | None: ...


@dataclass(frozen=True, slots=True)
class RefreshAccountRow:
    account_id: str
    link_id: str
    partner_id: str
    person_id: str


class RefreshAttemptRepository(Protocol):
    """The attempt log's storage inside one unit of work (`uow.refresh`)."""

    async def lock(self, target_id: str) -> None:
        """Hold the target's lock until the unit of work ends (PostgreSQL: an advisory
        transaction lock; SQLite: the writer's lock, already held)."""
        ...

    async def add(self, attempt: Attempt) -> None: ...
    async def finish(self, attempt_id: str, outcome: Outcome) -> Attempt | None: ...
    async def since(self, target_id: str, since: datetime) -> list[Attempt]: ...
    async def latest(self, target_id: str, results: frozenset[Result]) -> Attempt | None: ...

    async def active_accounts(self, partner_ids: Sequence[str]) -> list[RefreshAccountRow]:
        """Accounts of active links with these partners."""
        ...

    async def person_activity(self, person_id: str, *, since: datetime) -> list[datetime]:
        """When the person themself did something (their own audited reads and writes: threads
        opened, messages sent) since `since`, newest first, at most a few thousand."""
        ...


class AttendedRefresher(Protocol):
    """A refresh the person asks for while present ("refresh" in chat, the header's button):
    `RefreshWorker` behind `Deps.refresher`, so a chat command reaches it without the container."""

    async def refresh_link(self, *, person_id: str, link_id: str, psu: PsuPresence | None) -> int: ...

    async def freshness(self, *, link_id: str, locale: str = "en") -> str | None: ...
