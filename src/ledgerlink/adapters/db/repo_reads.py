"""SQL repository of read state (see `ThreadReadRepository` in ledgerlink.services.ports)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.repositories import _Repo


class SqlThreadReads(_Repo):
    """One row per (person, thread): the last seq read. Ids and counters only."""

    async def advance(self, person_id: str, thread_id: str, seq: int, *, at: datetime) -> int | None:
        r = s.thread_reads
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        row_values = ins(r).values(person_id=person_id, thread_id=thread_id, last_read_seq=seq, updated_at=at)
        new = row_values.excluded
        # One statement, so two tabs (or processes) racing can only ever move it forward.
        stmt = row_values.on_conflict_do_update(
            index_elements=[r.c.person_id, r.c.thread_id],
            set_={"last_read_seq": new.last_read_seq, "updated_at": new.updated_at},
            where=r.c.last_read_seq < new.last_read_seq,
        ).returning(r.c.last_read_seq)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else int(row[0])

    async def last_read(self, person_id: str, thread_id: str) -> int:
        r = s.thread_reads
        stmt = select(r.c.last_read_seq).where(r.c.person_id == person_id, r.c.thread_id == thread_id)
        value = (await self._conn.execute(stmt)).scalar()
        return 0 if value is None else int(value)

    async def for_person(self, person_id: str) -> dict[str, int]:
        r = s.thread_reads
        stmt = select(r.c.thread_id, r.c.last_read_seq).where(r.c.person_id == person_id)
        return {row[0]: int(row[1]) for row in (await self._conn.execute(stmt)).all()}
