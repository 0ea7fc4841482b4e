"""SQL repository of the Matrix channel (see `MatrixRepository`, ADR 0012)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.repositories import _Repo, _values
from ledgerlink.services.messaging.channel_ports import MatrixEventRecord, MatrixRoomRecord

__all__ = ["SqlMatrix"]


class SqlMatrix(_Repo):
    """Rooms per (channel, thread), first events per message, handled inbound events and the
    bot's sync token."""

    def _insert(self) -> type[postgresql.Insert] | type[sqlite.Insert]:
        return postgresql.Insert if self._conn.dialect.name == "postgresql" else sqlite.Insert

    async def room_for(self, channel_id: str, thread_id: str) -> MatrixRoomRecord | None:
        r = s.matrix_rooms
        return await self._one(
            MatrixRoomRecord, select(r).where(r.c.channel_id == channel_id, r.c.thread_id == thread_id)
        )

    async def room(self, room_id: str) -> MatrixRoomRecord | None:
        r = s.matrix_rooms
        return await self._one(MatrixRoomRecord, select(r).where(r.c.room_id == room_id))

    async def rooms_of_person(self, person_id: str) -> list[MatrixRoomRecord]:
        r = s.matrix_rooms
        return await self._many(
            MatrixRoomRecord, select(r).where(r.c.person_id == person_id).order_by(r.c.created_at)
        )

    async def add_room(self, room: MatrixRoomRecord) -> None:
        r = s.matrix_rooms
        await self._conn.execute(self._insert()(r).values(**_values(room, r)))

    async def first_event(self, channel_id: str, message_id: str) -> MatrixEventRecord | None:
        e = s.matrix_events
        return await self._one(
            MatrixEventRecord, select(e).where(e.c.channel_id == channel_id, e.c.message_id == message_id)
        )

    async def event_by_id(self, room_id: str, event_id: str) -> MatrixEventRecord | None:
        e = s.matrix_events
        return await self._one(
            MatrixEventRecord, select(e).where(e.c.room_id == room_id, e.c.event_id == event_id)
        )

    async def add_event(self, event: MatrixEventRecord) -> None:
        e = s.matrix_events
        stmt = self._insert()(e).values(**_values(event, e)).on_conflict_do_nothing(
            index_elements=["channel_id", "message_id"]
        )
        await self._conn.execute(stmt)

    async def handled(self, event_id: str) -> bool:
        i = s.matrix_inbound
        row = (await self._conn.execute(select(i.c.event_id).where(i.c.event_id == event_id))).first()
        return row is not None

    async def mark_handled(self, event_id: str, *, person_id: str, room_id: str, at: datetime) -> bool:
        i = s.matrix_inbound
        stmt = self._insert()(i).values(
            event_id=event_id, person_id=person_id, room_id=room_id, handled_at=at
        ).on_conflict_do_nothing(index_elements=["event_id"])
        result = await self._conn.execute(stmt)
        return bool(result.rowcount)

    async def sync_token(self, user_id: str) -> str | None:
        t = s.matrix_sync
        row = (await self._conn.execute(select(t.c.next_batch).where(t.c.user_id == user_id))).first()
        return None if row is None else str(row[0])

    async def save_sync_token(self, user_id: str, token: str, *, at: datetime) -> None:
        t = s.matrix_sync
        await self._conn.execute(
            self._insert()(t).values(user_id=user_id, next_batch=token, updated_at=at)
            .on_conflict_do_update(index_elements=["user_id"], set_={"next_batch": token, "updated_at": at})
        )
