"""SQL repository of the access layer's audit log (see `AuditRepository` in
ledgerlink.services.access.ports; the log is written by `access.audit` and read, as a Merkle
tree, by ledgerlink.services.privacy.audit, whose signed heads are in `privacy`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo
from ledgerlink.adapters.db.direct import DirectConnection
from ledgerlink.adapters.db.lean import lean
from ledgerlink.domain.audit import AuditEntry
from ledgerlink.services.access.ports import AuditRecord

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
