"""Idempotency keys of partner POSTs (see ledgerlink.services.kernel.idempotency)."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.repositories import _Repo, _values
from ledgerlink.services.kernel.ports import IdempotencyRecord


class SqlIdempotency(_Repo):
    async def claim(self, record: IdempotencyRecord) -> bool:
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        t = s.idempotency_keys
        stmt = ins(t).values(**_values(record, t)).on_conflict_do_nothing().returning(t.c.key)
        return (await self._conn.execute(stmt)).first() is not None

    async def get(self, partner_id: str, key: str) -> IdempotencyRecord | None:
        t = s.idempotency_keys
        return await self._one(
            IdempotencyRecord, select(t).where(t.c.partner_id == partner_id, t.c.key == key)
        )

    async def complete(self, partner_id: str, key: str, *, status: int, response: str) -> None:
        t = s.idempotency_keys
        await self._conn.execute(
            update(t)
            .where(t.c.partner_id == partner_id, t.c.key == key)
            .values(status=status, response=response)
        )

    async def release(self, partner_id: str, key: str) -> None:
        t = s.idempotency_keys
        await self._conn.execute(delete(t).where(t.c.partner_id == partner_id, t.c.key == key))
