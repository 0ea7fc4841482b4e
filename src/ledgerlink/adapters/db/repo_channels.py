"""SQL repository of a person's extra channels and their deliveries (see `ChannelRepository`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.direct import DirectConnection
from ledgerlink.adapters.db.lean import lean
from ledgerlink.adapters.db.repositories import _Repo, _values
from ledgerlink.services.messaging.channel_ports import ChannelDeliveryRecord, ChannelRecord

__all__ = ["SqlChannels"]


_FOR_PERSON = lean(  # asked on every stored message (fan-out): built once, see repositories.py
    select(s.person_channels)
    .where(s.person_channels.c.person_id == bindparam("person_id"))
    .order_by(s.person_channels.c.created_at, s.person_channels.c.id)
)


class SqlChannels(_Repo):
    """Channels (outbound webhook, email) and one delivery row per message revision.

    `for_person` is asked for every message written; a unit of work reads each person's
    channels once (writes through this repository forget what was read)."""

    def __init__(self, conn: AsyncConnection | DirectConnection) -> None:
        super().__init__(conn)
        self._by_person: dict[str, list[ChannelRecord]] = {}

    async def add(self, channel: ChannelRecord) -> None:
        self._by_person.clear()
        await self._conn.execute(insert(s.person_channels).values(**_values(channel, s.person_channels)))

    async def get(self, channel_id: str) -> ChannelRecord | None:
        c = s.person_channels
        return await self._one(ChannelRecord, select(c).where(c.c.id == channel_id))

    async def for_person(self, person_id: str) -> list[ChannelRecord]:
        seen = self._by_person.get(person_id)
        if seen is None:
            seen = await self._many(ChannelRecord, _FOR_PERSON, {"person_id": person_id})
            self._by_person[person_id] = seen
        return list(seen)

    async def disable(self, channel_id: str, *, reason: str, at: datetime) -> None:
        self._by_person.clear()
        c = s.person_channels
        await self._conn.execute(
            update(c)
            .where(c.c.id == channel_id)
            .values(status="disabled", disabled_reason=reason, updated_at=at)
        )

    async def remove(self, channel_id: str) -> None:
        self._by_person.clear()
        d = s.channel_deliveries
        await self._conn.execute(delete(d).where(d.c.channel_id == channel_id))
        await self._conn.execute(delete(s.person_channels).where(s.person_channels.c.id == channel_id))

    async def add_delivery(self, delivery: ChannelDeliveryRecord) -> bool:
        d = s.channel_deliveries
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        stmt = ins(d).values(**_values(delivery, d)).on_conflict_do_nothing(
            index_elements=["channel_id", "message_id", "rev"]
        ).returning(d.c.id)  # what was written; rowcount after DO NOTHING is not reliable everywhere
        return (await self._conn.execute(stmt)).first() is not None

    async def pending(self, *, limit: int = 1000) -> list[ChannelDeliveryRecord]:
        d, c, m = s.channel_deliveries, s.person_channels, s.messages
        stmt = (
            select(d, m.c.thread_id)
            .join(c, c.c.id == d.c.channel_id)
            .outerjoin(m, m.c.id == d.c.message_id)
            .where(d.c.status == "pending", c.c.status == "active")
            .order_by(d.c.channel_id, d.c.created_at, d.c.rev, d.c.id)
            .limit(limit)
        )
        return await self._many(ChannelDeliveryRecord, stmt)

    async def update_delivery(self, delivery: ChannelDeliveryRecord) -> None:
        d = s.channel_deliveries
        values = _values(delivery, d)
        values.pop("id")
        await self._conn.execute(update(d).where(d.c.id == delivery.id).values(**values))

    async def recent_deliveries(self, channel_id: str, *, limit: int = 10) -> list[ChannelDeliveryRecord]:
        d = s.channel_deliveries
        stmt = (
            select(d).where(d.c.channel_id == channel_id)
            .order_by(d.c.created_at.desc(), d.c.rev.desc()).limit(limit)
        )
        return await self._many(ChannelDeliveryRecord, stmt)
