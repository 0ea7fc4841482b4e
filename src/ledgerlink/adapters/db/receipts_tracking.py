"""Parcels followed from a pasted tracking number (issue 11): the number sealed, the rest plain."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo, _values
from ledgerlink.services.receipts.ports import ParcelRecord


class SqlParcels(_Repo):
    async def put(self, record: ParcelRecord) -> None:
        t = s.parcels
        values = _values(record, t)
        done = await self._conn.execute(update(t).where(t.c.id == record.id).values(values))
        if not done.rowcount:
            await self._conn.execute(insert(t).values(values))

    async def get(self, parcel_id: str) -> ParcelRecord | None:
        t = s.parcels
        return await self._one(ParcelRecord, select(t).where(t.c.id == parcel_id))

    async def for_person(self, person_id: str) -> list[ParcelRecord]:
        t = s.parcels
        return await self._many(ParcelRecord, select(t).where(t.c.person_id == person_id)
                               .order_by(t.c.created_at, t.c.id))

    async def active(self, limit: int) -> list[ParcelRecord]:
        t = s.parcels
        return await self._many(ParcelRecord, select(t).where(t.c.active == 1)
                               .order_by(t.c.updated_at, t.c.id).limit(limit))
