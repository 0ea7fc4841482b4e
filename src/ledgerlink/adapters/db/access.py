"""SQL repository of the access layer's audit log (see `AuditRepository` in
ledgerlink.services.access.ports; the log is written by `access.audit` and read, as a Merkle
tree, by ledgerlink.services.privacy.audit, whose signed heads are in `privacy`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo
from ledgerlink.adapters.db.direct import DirectConnection
from ledgerlink.adapters.db.lean import lean
from ledgerlink.domain.audit import AuditEntry
from ledgerlink.services.access.ports import AuditCount, AuditQuery, AuditRecord


def _day(dialect: str) -> Any:
    """The UTC day of an entry: SQLite stores naive UTC text, PostgreSQL an aware instant."""
    at = s.audit_log.c.at
    return func.date(func.timezone("UTC", at)) if dialect == "postgresql" else func.date(at)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _where(query: AuditQuery) -> list[Any]:
    a = s.audit_log
    where = [a.c.person_id == query.person_id]
    if query.since is not None:
        where.append(a.c.at >= query.since)
    if query.until is not None:
        where.append(a.c.at < query.until)
    if query.purposes is not None:
        where.append(a.c.purpose.in_(query.purposes))
    if query.exclude_purposes:
        where.append(a.c.purpose.not_in(query.exclude_purposes))
    if query.actor_prefix is not None:
        where.append(func.substr(a.c.actor, 1, len(query.actor_prefix)) == query.actor_prefix)
    return where


_AUDIT_LAST = lean(select(func.max(s.audit_log.c.seq)))
_AUDIT_INSERT = lean(insert(s.audit_log))


class SqlAudit(_Repo):
    """Append-only leaves of the audit Merkle tree.

    Appends are buffered in the unit of work and written together just before it commits (one
    index lookup and one `executemany` however many reads it made), or before any read of the
    log in the same unit of work. The write is serialised (SQLite: the writer; PostgreSQL: a
    transaction-scoped advisory lock), so leaf indexes have no gaps; a rollback drops the
    entries with the reads they describe."""

    _LOCK_KEY = 0x4C4C_4155  # "LLAU"

    def __init__(self, conn: AsyncConnection | DirectConnection) -> None:
        super().__init__(conn)
        self._pending: list[tuple[datetime, str, str, str, str, str]] = []

    async def append(
        self, *, at: datetime, actor: str, person_id: str, purpose: str, action: str, subject: str
    ) -> None:
        self._pending.append((at, actor, person_id, purpose, action, subject))

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if self._conn.dialect.name == "postgresql":
            await self._conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._LOCK_KEY})
        last = (await self._conn.execute(_AUDIT_LAST)).scalar()
        index = 0 if last is None else int(last) + 1
        rows = []
        for at, actor, person_id, purpose, action, subject in pending:
            entry = AuditEntry(index=index, at=at, actor=actor, person_id=person_id, purpose=purpose,
                               action=action, subject=subject)
            rows.append({"seq": index, "at": at, "actor": actor, "person_id": person_id, "purpose": purpose,
                         "action": action, "subject": subject, "leaf_hash": entry.leaf_hash().hex()})
            index += 1
        await self._conn.execute(_AUDIT_INSERT, rows)

    async def for_person(self, person_id: str, *, limit: int = 100) -> list[AuditRecord]:
        await self.flush()
        a = s.audit_log
        return await self._many(
            AuditRecord, select(a).where(a.c.person_id == person_id).order_by(a.c.seq.desc()).limit(limit)
        )

    async def all(self) -> list[AuditRecord]:
        await self.flush()
        return await self._many(AuditRecord, select(s.audit_log).order_by(s.audit_log.c.seq))

    async def size(self) -> int:
        await self.flush()
        last = (await self._conn.execute(select(func.max(s.audit_log.c.seq)))).scalar()
        return 0 if last is None else int(last) + 1

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        await self.flush()
        a = s.audit_log
        stmt = select(a.c.leaf_hash).where(a.c.seq >= start, a.c.seq < end).order_by(a.c.seq)
        return [bytes.fromhex(row[0]) for row in (await self._conn.execute(stmt)).all()]

    async def entries(self, start: int, end: int) -> list[AuditRecord]:
        await self.flush()
        a = s.audit_log
        return await self._many(
            AuditRecord, select(a).where(a.c.seq >= start, a.c.seq < end).order_by(a.c.seq)
        )

    # ----------------------------------------------------------------- the grouped access page (issue 13)

    async def days(self, query: AuditQuery, *, limit: int, offset: int = 0) -> list[date]:
        await self.flush()
        day = _day(self._conn.dialect.name).label("day")
        stmt = (select(day).where(*_where(query)).group_by(day).order_by(day.desc())
                .limit(limit).offset(offset))
        rows = (await self._conn.execute(stmt)).all()
        return [_as_date(row[0]) for row in rows]

    async def count_days(self, query: AuditQuery) -> int:
        await self.flush()
        day = _day(self._conn.dialect.name).label("day")
        days = select(day).where(*_where(query)).group_by(day).subquery()
        return int((await self._conn.execute(select(func.count()).select_from(days))).scalar_one())

    async def counts(self, query: AuditQuery) -> list[AuditCount]:
        await self.flush()
        a = s.audit_log
        day = _day(self._conn.dialect.name).label("day")
        stmt = (
            select(day, a.c.purpose, a.c.actor, func.count().label("n"))
            .where(*_where(query))
            .group_by(day, a.c.purpose, a.c.actor)
        )
        return [AuditCount(day=_as_date(r[0]), purpose=r[1], actor=r[2], count=int(r[3]))
                for r in (await self._conn.execute(stmt)).all()]

    async def first_seen(self, person_id: str) -> dict[str, datetime]:
        await self.flush()
        a = s.audit_log
        stmt = select(a.c.purpose, func.min(a.c.at)).where(a.c.person_id == person_id).group_by(a.c.purpose)
        # min() keeps the column's type, so both databases give aware UTC instants back.
        return {purpose: at for purpose, at in (await self._conn.execute(stmt)).all()}

    async def find(self, query: AuditQuery, *, limit: int, offset: int = 0) -> list[AuditRecord]:
        await self.flush()
        a = s.audit_log
        stmt = select(a).where(*_where(query)).order_by(a.c.seq.desc()).limit(limit).offset(offset)
        return await self._many(AuditRecord, stmt)
