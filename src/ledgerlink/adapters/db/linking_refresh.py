"""The refresh planner's attempt log (table `refresh_attempts`, docs/refresh.md): ids, instants
and counts only."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo
from ledgerlink.domain.refresh_budget import Attempt, Outcome, Quota, Result
from ledgerlink.services.linking.refresh_ports import RefreshAccountRow

__all__ = ["SqlRefreshAttempts"]

_ACTIVITY_ROWS = 5000  # enough for the hours' shape; bounded however active the person is


def _quotas(outcome: Outcome) -> str | None:
    if not outcome.quotas:
        return None
    return json.dumps([[scope, q.remaining, q.reset_at.isoformat(), q.limit] for scope, q in outcome.quotas])


def _attempt(row: object) -> Attempt:
    r = row._mapping  # type: ignore[attr-defined]
    quotas = tuple((str(scope), Quota(remaining=int(rem), reset_at=datetime.fromisoformat(reset),
                                      limit=None if lim is None else int(lim)))
                   for scope, rem, reset, lim in json.loads(r["quotas"] or "[]"))
    return Attempt(id=r["id"], target_id=r["target_id"], at=r["at"], attended=bool(r["attended"]),
                   outcome=Outcome(Result(r["result"]), retry_at=r["retry_at"], quotas=quotas),
                   scopes=tuple(r["scopes"].split()) if r["scopes"] else ())


class SqlRefreshAttempts(_Repo):
    async def lock(self, target_id: str) -> None:
        if self._conn.dialect.name == "postgresql":
            key = zlib.crc32(f"refresh:{target_id}".encode())
            await self._conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    async def add(self, attempt: Attempt) -> None:
        t = s.refresh_attempts
        await self._conn.execute(t.insert().values(
            id=attempt.id, target_id=attempt.target_id, at=attempt.at, attended=int(attempt.attended),
            result=attempt.outcome.result.value, retry_at=attempt.outcome.retry_at,
            quotas=_quotas(attempt.outcome), scopes=" ".join(attempt.scopes)))

    async def finish(self, attempt_id: str, outcome: Outcome) -> Attempt | None:
        t = s.refresh_attempts
        done = await self._conn.execute(update(t).where(t.c.id == attempt_id).values(
            result=outcome.result.value, retry_at=outcome.retry_at, quotas=_quotas(outcome)))
        if not done.rowcount:
            return None
        row = (await self._conn.execute(select(t).where(t.c.id == attempt_id))).first()
        return None if row is None else _attempt(row)

    async def since(self, target_id: str, since: datetime) -> list[Attempt]:
        t = s.refresh_attempts
        rows = await self._conn.execute(select(t).where(t.c.target_id == target_id, t.c.at >= since)
                                        .order_by(t.c.at, t.c.id))
        return [_attempt(r) for r in rows]

    async def latest(self, target_id: str, results: frozenset[Result]) -> Attempt | None:
        t = s.refresh_attempts
        row = (await self._conn.execute(
            select(t).where(t.c.target_id == target_id, t.c.result.in_([r.value for r in results]))
            .order_by(t.c.at.desc(), t.c.id.desc()).limit(1))).first()
        return None if row is None else _attempt(row)

    async def active_accounts(self, partner_ids: Sequence[str]) -> list[RefreshAccountRow]:
        a, lk = s.accounts, s.links
        rows = await self._conn.execute(
            select(a.c.id, a.c.link_id, a.c.partner_id, a.c.person_id)
            .join(lk, lk.c.id == a.c.link_id)
            .where(lk.c.status == "active", a.c.partner_id.in_(list(partner_ids)))
            .order_by(a.c.link_id, a.c.id))
        return [RefreshAccountRow(account_id=r[0], link_id=r[1], partner_id=r[2], person_id=r[3])
                for r in rows]

    async def person_activity(self, person_id: str, *, since: datetime) -> list[datetime]:
        a = s.audit_log
        rows = await self._conn.execute(
            select(a.c.at).where(a.c.person_id == person_id, a.c.actor == f"person:{person_id}",
                                 a.c.at >= since).order_by(a.c.at.desc()).limit(_ACTIVITY_ROWS))
        return [r[0] for r in rows]
