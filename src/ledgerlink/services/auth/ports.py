"""Auth's vocabulary: a sign-in session and where sessions are kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(slots=True)
class SessionRecord:
    id: str  # hex SHA-256 of the cookie's random token: the database holds no usable session
    person_id: str
    created_at: datetime
    expires_at: datetime  # absolute lifetime; nothing extends it
    confirmed_at: datetime  # when the password was last entered (sign-in, sign-up, confirm)


class SessionRepository(Protocol):
    async def add(self, session: SessionRecord) -> None: ...
    async def get(self, session_id: str) -> SessionRecord | None: ...
    async def confirm(self, session_id: str, at: datetime) -> None: ...
    async def end(self, session_id: str) -> bool:
        """Delete the session; False when it was already gone."""
        ...
    async def end_all(self, person_id: str) -> int:
        """Delete every session of the person; returns how many."""
        ...
    async def end_expired(self, person_id: str, now: datetime) -> int: ...
