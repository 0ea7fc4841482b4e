"""SQL repository of link health (see `LinkHealthRepository` in ledgerlink.services.ports)."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.repositories import _Repo, _values
from ledgerlink.services.linking.ports import LinkHealthRecord


class SqlLinkHealth(_Repo):
    """One row per link whose syncs have failed at least once (codes and times only)."""

    async def get(self, link_id: str) -> LinkHealthRecord | None:
        h = s.link_health
        return await self._one(LinkHealthRecord, select(h).where(h.c.link_id == link_id))

    async def put(self, record: LinkHealthRecord) -> None:
        # Callers hold the link's thread lock, so update-then-insert does not race.
        h = s.link_health
        values = _values(record, h)
        result = await self._conn.execute(update(h).where(h.c.link_id == record.link_id).values(**values))
        if not result.rowcount:
            await self._conn.execute(insert(h).values(**values))
