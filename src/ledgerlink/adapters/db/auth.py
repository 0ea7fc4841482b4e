"""SQL repository of auth: sign-in sessions (`SessionRepository` in ledgerlink.services.auth.ports)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _by, _Repo, _values
from ledgerlink.services.auth.ports import SessionRecord

_SESSION = _by(s.sessions, "id")  # asked on every signed-in request


class SqlSessions(_Repo):
    async def add(self, session: SessionRecord) -> None:
        await self._conn.execute(insert(s.sessions).values(**_values(session, s.sessions)))

    async def get(self, session_id: str) -> SessionRecord | None:
        return await self._one(SessionRecord, _SESSION, {"id": session_id})

    async def confirm(self, session_id: str, at: datetime) -> None:
        await self._conn.execute(update(s.sessions).where(s.sessions.c.id == session_id)
                                 .values(confirmed_at=at))

    async def end(self, session_id: str) -> bool:
        result = await self._conn.execute(delete(s.sessions).where(s.sessions.c.id == session_id))
        return bool(result.rowcount)

    async def end_all(self, person_id: str) -> int:
        result = await self._conn.execute(delete(s.sessions).where(s.sessions.c.person_id == person_id))
        return int(result.rowcount or 0)

    async def end_expired(self, person_id: str, now: datetime) -> int:
        result = await self._conn.execute(
            delete(s.sessions).where(s.sessions.c.person_id == person_id, s.sessions.c.expires_at <= now))
        return int(result.rowcount or 0)


__all__ = ["SqlSessions"]
