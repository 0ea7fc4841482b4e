"""SQL repository of the Messenger and WhatsApp channels (`PlatformRepository` in
ledgerlink.services.messaging.platform_ports, ADR 0023): bindings, what each conversation
shows, what was sent and how it fared, pending link codes, and the webhook events handled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo, _values
from ledgerlink.services.messaging.platform_ports import (
    MessageMeta,
    PlatformBindingRecord,
    PlatformCodeRecord,
    PlatformMessageRecord,
    PlatformSendRecord,
)

HELD_REASONS = ("outside_window", "outside_human_agent_window")


class SqlPlatforms(_Repo):
    def _insert(self) -> type[postgresql.Insert] | type[sqlite.Insert]:
        return postgresql.Insert if self._conn.dialect.name == "postgresql" else sqlite.Insert

    # ------------------------------------------------------------------ bindings

    async def binding(self, channel_id: str) -> PlatformBindingRecord | None:
        b = s.platform_bindings
        return await self._one(PlatformBindingRecord, select(b).where(b.c.channel_id == channel_id))

    async def binding_by_address(self, platform: str, address_key: str) -> PlatformBindingRecord | None:
        b = s.platform_bindings
        return await self._one(
            PlatformBindingRecord, select(b).where(b.c.platform == platform, b.c.address_key == address_key)
        )

    async def bindings_of_person(self, person_id: str) -> list[PlatformBindingRecord]:
        b = s.platform_bindings
        return await self._many(
            PlatformBindingRecord, select(b).where(b.c.person_id == person_id).order_by(b.c.created_at)
        )

    async def add_binding(self, binding: PlatformBindingRecord) -> None:
        b = s.platform_bindings
        await self._conn.execute(self._insert()(b).values(**_values(binding, b)))

    async def touch_inbound(self, channel_id: str, *, at: datetime) -> None:
        b = s.platform_bindings
        await self._conn.execute(
            update(b).where(b.c.channel_id == channel_id).values(last_inbound_at=at, updated_at=at)
        )

    async def set_current_thread(self, channel_id: str, thread_id: str, *, at: datetime) -> None:
        b = s.platform_bindings
        await self._conn.execute(
            update(b).where(b.c.channel_id == channel_id).values(current_thread_id=thread_id, updated_at=at)
        )

    # ------------------------------------------------------------------ what the conversation shows

    async def message(self, channel_id: str, message_id: str) -> PlatformMessageRecord | None:
        m = s.platform_messages
        return await self._one(
            PlatformMessageRecord, select(m).where(m.c.channel_id == channel_id, m.c.message_id == message_id)
        )

    async def put_message(self, record: PlatformMessageRecord) -> None:
        m = s.platform_messages
        stmt = (
            self._insert()(m)
            .values(**_values(record, m))
            .on_conflict_do_update(
                index_elements=["channel_id", "message_id"],
                set_={"state_key": record.state_key, "updated_at": record.updated_at},
            )
        )
        await self._conn.execute(stmt)

    async def message_meta(self, message_id: str) -> MessageMeta | None:
        m = s.messages
        stmt = select(m.c.id, m.c.thread_id, m.c.kind, m.c.subject_key, m.c.created_at).where(
            m.c.id == message_id
        )
        return await self._one(MessageMeta, stmt)

    # ------------------------------------------------------------------ sends and their state

    async def add_send(self, send: PlatformSendRecord) -> None:
        p = s.platform_sends
        await self._conn.execute(
            self._insert()(p).values(**_values(send, p)).on_conflict_do_nothing(index_elements=["mid"])
        )

    async def send_for_delivery(self, delivery_id: str) -> PlatformSendRecord | None:
        p = s.platform_sends
        return await self._one(PlatformSendRecord, select(p).where(p.c.delivery_id == delivery_id).limit(1))

    async def send_by_mid(self, mid: str) -> PlatformSendRecord | None:
        p = s.platform_sends
        return await self._one(PlatformSendRecord, select(p).where(p.c.mid == mid))

    async def set_send_status(self, mid: str, status: str, *, error_code: str | None, at: datetime) -> None:
        p = s.platform_sends
        await self._conn.execute(
            update(p).where(p.c.mid == mid).values(status=status, error_code=error_code, updated_at=at)
        )

    async def recent_sends(self, channel_id: str, *, limit: int = 5) -> list[PlatformSendRecord]:
        p = s.platform_sends
        stmt = (
            select(p)
            .where(p.c.channel_id == channel_id)
            .order_by(p.c.created_at.desc(), p.c.mid)
            .limit(limit)
        )
        return await self._many(PlatformSendRecord, stmt)

    async def fail_delivery(self, delivery_id: str, *, error: str, at: datetime) -> None:
        d = s.channel_deliveries
        await self._conn.execute(
            update(d)
            .where(d.c.id == delivery_id)
            .values(status="failed", last_error=error[:64], next_attempt_at=None, updated_at=at)
        )

    async def held_since(self, channel_id: str, since: datetime | None) -> int:
        d = s.channel_deliveries
        stmt = (
            select(func.count())
            .select_from(d)
            .where(d.c.channel_id == channel_id, d.c.status == "skipped", d.c.last_error.in_(HELD_REASONS))
        )
        if since is not None:
            stmt = stmt.where(d.c.updated_at > since)
        return int((await self._conn.execute(stmt)).scalar_one())

    # ------------------------------------------------------------------ link codes

    async def add_code(self, code: PlatformCodeRecord) -> bool:
        c = s.platform_codes
        stmt = (
            self._insert()(c)
            .values(**_values(code, c))
            .on_conflict_do_nothing(index_elements=["code_key"])
            .returning(c.c.code_key)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def code(self, code_key: str) -> PlatformCodeRecord | None:
        c = s.platform_codes
        return await self._one(PlatformCodeRecord, select(c).where(c.c.code_key == code_key))

    async def use_code(self, code_key: str, *, at: datetime) -> bool:
        c = s.platform_codes
        result = await self._conn.execute(
            update(c).where(c.c.code_key == code_key, c.c.used_at.is_(None)).values(used_at=at)
        )
        return bool(result.rowcount)

    async def drop_codes(self, person_id: str, platform: str) -> None:
        c = s.platform_codes
        await self._conn.execute(
            delete(c).where(c.c.person_id == person_id, c.c.platform == platform, c.c.used_at.is_(None))
        )

    async def purge(self, *, before: datetime) -> int:
        c, e = s.platform_codes, s.platform_events_seen
        gone = await self._conn.execute(delete(c).where(or_(c.c.expires_at < before, c.c.used_at < before)))
        seen = await self._conn.execute(delete(e).where(e.c.seen_at < before))
        return int(gone.rowcount or 0) + int(seen.rowcount or 0)

    async def seen(self, platform: str, key: str, *, at: datetime) -> bool:
        e = s.platform_events_seen
        stmt = (
            self._insert()(e)
            .values(platform=platform, event_key=key[:255], seen_at=at)
            .on_conflict_do_nothing(index_elements=["platform", "event_key"])
            .returning(e.c.event_key)
        )
        return (await self._conn.execute(stmt)).first() is None
