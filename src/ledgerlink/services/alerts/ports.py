"""Alerts' vocabulary: alert rules, digest settings and held alerts (ADR 0013).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(slots=True)
class AlertRuleRecord:
    id: str
    person_id: str
    kind: str  # low_balance, large_purchase, deposit, fee, mute_merchant, quiet_hours, state
    account_id: str | None  # None: every account
    sealed: bytes  # JSON parameters (thresholds, merchant names, hours)
    enabled: int
    created_at: datetime
    updated_at: datetime


class AlertRuleRepository(Protocol):
    """Alert rules (owner: the alerts feature)."""

    async def add(self, rule: AlertRuleRecord) -> None: ...
    async def update(self, rule: AlertRuleRecord) -> None: ...
    async def delete(self, person_id: str, rule_id: str) -> bool:
        """Delete one of the person's rules; False when they have no such rule."""
        ...
    async def for_person(self, person_id: str) -> list[AlertRuleRecord]: ...


@dataclass(slots=True)
class DigestSettingsRecord:
    person_id: str
    sealed: bytes  # JSON: frequency, hour, weekday, utc_offset
    next_due_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class HeldAlertRecord:
    id: str
    person_id: str
    thread_id: str
    subject_key: str
    sealed: bytes | None  # JSON: kind, text; None once released
    held_at: datetime
    release_after: datetime  # the end of the quiet hours it was held in
    released_at: datetime | None = None
    released_in: str | None = None


class DigestRepository(Protocol):
    """Digest settings, the periods sent, and alerts held during quiet hours (owner: digests)."""

    async def settings(self, person_id: str) -> DigestSettingsRecord | None: ...
    async def put_settings(self, record: DigestSettingsRecord) -> None:
        """Insert or replace the person's settings."""
        ...

    async def delete_settings(self, person_id: str) -> bool: ...
    async def set_next_due(self, person_id: str, at: datetime) -> None: ...
    async def due(self, now: datetime, *, limit: int = 500) -> list[str]:
        """Persons whose next digest is due at `now`."""
        ...

    async def claim_period(self, *, digest_id: str, person_id: str, period_key: str, at: datetime) -> bool:
        """Record that the period's digest is being sent; False (nothing written) when it was
        already. On PostgreSQL a concurrent claim of the same period waits for the first to
        commit or roll back."""
        ...

    async def hold(self, record: HeldAlertRecord) -> bool:
        """Store a held alert; False (nothing written) if its subject is held already."""
        ...

    async def is_held(self, thread_id: str, subject_key: str) -> bool: ...
    async def held_pending(
        self, person_id: str, *, held_before: datetime, release_due: datetime | None = None
    ) -> list[HeldAlertRecord]:
        """The person's unreleased held alerts held before `held_before` (and, with
        `release_due`, whose quiet hours ended by then), oldest first."""
        ...

    async def release(self, ids: Sequence[str], *, at: datetime, released_in: str) -> set[str]:
        """Mark released (and drop their sealed text) the rows of `ids` not released yet;
        returns the ids this call released, so two processes never release one twice."""
        ...

    async def away_due(self, now: datetime, *, limit: int = 500) -> list[str]:
        """Persons without digest settings who have held alerts whose quiet hours ended."""
        ...
