"""SQL repositories of messaging: persons, threads and their messages, read state, a person's
extra channels and their deliveries, and the Matrix channel (see `PersonRepository`,
`ThreadRepository`, `ThreadReadRepository` in ledgerlink.services.messaging.ports, and
`ChannelRepository`, `MatrixRepository` in ledgerlink.services.messaging.channel_ports, ADR 0012)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _INSERT, _UPDATE, _by, _Repo, _set, _values
from ledgerlink.adapters.db.direct import DirectConnection
from ledgerlink.adapters.db.lean import lean
from ledgerlink.services.messaging.channel_ports import (
    ChannelDeliveryRecord,
    ChannelRecord,
    MatrixEventRecord,
    MatrixRoomRecord,
)
from ledgerlink.services.messaging.ports import MessageRecord, PersonRecord, ThreadRecord

_THREAD = _by(s.threads, "id")
_THREAD_FOR_UPDATE = _THREAD.with_for_update()
_THREAD_OF_LINK = _by(s.threads, "link_id")
_MESSAGE_BY_SUBJECT = _by(s.messages, "thread_id", "subject_key")
_MESSAGES_SINCE = lean(
    select(s.messages)
    .where(s.messages.c.thread_id == bindparam("thread_id"), s.messages.c.rev > bindparam("after_rev"))
    .order_by(s.messages.c.rev)
    .limit(bindparam("limit"))
)
_BUMP = lean(
    update(s.threads)
    .where(s.threads.c.id == bindparam("_id"))
    .values(last_rev=s.threads.c.last_rev + 1, last_seq=s.threads.c.last_seq + bindparam("seq_step"))
    .returning(s.threads.c.last_seq, s.threads.c.last_rev)
)
_CHANNELS_FOR_PERSON = lean(  # asked on every stored message (fan-out)
    select(s.person_channels)
    .where(s.person_channels.c.person_id == bindparam("person_id"))
    .order_by(s.person_channels.c.created_at, s.person_channels.c.id)
)


class SqlPersons(_Repo):
    async def add(self, person: PersonRecord) -> None:
        await self._conn.execute(insert(s.persons).values(**_values(person, s.persons)))

    async def get(self, person_id: str) -> PersonRecord | None:
        return await self._one(PersonRecord, select(s.persons).where(s.persons.c.id == person_id))

    async def by_handle(self, handle: str) -> PersonRecord | None:
        return await self._one(PersonRecord, select(s.persons).where(s.persons.c.handle == handle))

    async def set_disclosure(self, person_id: str, level: str) -> None:
        await self._conn.execute(
            update(s.persons).where(s.persons.c.id == person_id).values(disclosure=level)
        )

    async def set_zone(self, person_id: str, zone: str) -> None:  # person time zone (issue 13)
        await self._conn.execute(update(s.persons).where(s.persons.c.id == person_id).values(zone=zone))

    # Children before parents (foreign keys).
    _PERSON_TABLES = (
        "merchant_events", "shop_order_charges", "shop_orders",  # receipts from merchants (issue 11)
        "receipt_addresses",  # the receipt-email forwarding address (issue 11)
        "merchant_order_versions", "merchant_consents",  # linking a shop (ADR 0031)
        "merchant_links", "merchant_aliases", "bank_refunds", "parcels",
        "category_corrections", "budgets",  # insights (issue 13)
        "insight_tags", "insight_scans", "insight_keys",  # the insight consumer's blind index (ADR 0033)
        "security_events", "webauthn_challenges", "pending_sign_ins",  # second factor (ADR 0021)
        "recovery_codes", "passkeys", "totp_factors",
        "sessions",  # every sign-in ends with the erasure (ADR 0019)
        "statement_entries", "csv_mappings", "statement_imports", "import_keys",  # imports (ADR 0022)
        "link_health",  # connection health (message templates)
        "prompts", "bank_outbox", "bank_messages",  # bank dialogue
        "thread_reads", "held_alerts", "digests_sent", "digest_settings",  # read state, digests
        "matrix_inbound", "matrix_events", "matrix_rooms",  # Matrix channel
        "platform_codes", "platform_sends", "platform_messages", "platform_bindings",  # Messenger, WhatsApp
        "channel_deliveries", "person_channels", "alert_rules", "consent_receipts", "messages", "threads",
        "transactions", "inbox", "accounts", "links",
    )  # fmt: skip

    async def erase(self, person_id: str, at: datetime) -> dict[str, int]:
        deleted: dict[str, int] = {}
        # The refresh log names links and accounts only by id (no person_id column): first.
        t = s.metadata.tables["refresh_attempts"]
        links = select(s.links.c.id).where(s.links.c.person_id == person_id)
        accounts = select(s.accounts.c.id).where(s.accounts.c.person_id == person_id)
        mine = t.c.target_id.in_(links) | t.c.target_id.in_(accounts)
        gone = await self._conn.execute(t.delete().where(mine))
        deleted["refresh_attempts"] = int(gone.rowcount or 0)
        for name in self._PERSON_TABLES:
            table = s.metadata.tables[name]
            result = await self._conn.execute(table.delete().where(table.c.person_id == person_id))
            deleted[name] = int(result.rowcount or 0)
        await self._conn.execute(
            update(s.persons)
            .where(s.persons.c.id == person_id)
            .values(handle=f"erased-{person_id}", display_name="", password_hash="!", erased_at=at,
                    zone=None)
        )
        return deleted


class SqlThreads(_Repo):
    """Within a unit of work a thread row is read once, by id or by link (every event's
    delivery and alerts ask for it), and `bump` keeps that copy's counters in step. `lock` on
    PostgreSQL reads the row FOR UPDATE the first time, then serves the locked copy; on SQLite
    the writer already holds the database, so it is `get`."""

    def __init__(self, conn: AsyncConnection | DirectConnection) -> None:
        super().__init__(conn)
        self._rows: dict[str, ThreadRecord] = {}
        self._of_link: dict[str, str] = {}  # link id -> thread id
        self._locked: set[str] = set()

    def _keep(self, thread: ThreadRecord | None) -> ThreadRecord | None:
        if thread is not None:
            self._rows[thread.id] = thread
            if thread.link_id is not None:
                self._of_link[thread.link_id] = thread.id
        return thread

    async def add(self, thread: ThreadRecord) -> None:
        await self._conn.execute(insert(s.threads).values(**_values(thread, s.threads)))

    async def get(self, thread_id: str) -> ThreadRecord | None:
        seen = self._rows.get(thread_id)
        if seen is not None:
            return seen
        return self._keep(await self._one(ThreadRecord, _THREAD, {"id": thread_id}))

    async def for_person(self, person_id: str) -> list[ThreadRecord]:
        return await self._many(
            ThreadRecord,
            select(s.threads).where(s.threads.c.person_id == person_id).order_by(s.threads.c.created_at),
        )

    async def system_thread(self, person_id: str) -> ThreadRecord | None:
        return await self._one(
            ThreadRecord,
            select(s.threads).where(s.threads.c.person_id == person_id, s.threads.c.kind == "system"),
        )

    async def for_link(self, link_id: str) -> ThreadRecord | None:
        thread_id = self._of_link.get(link_id)
        if thread_id is not None and thread_id in self._rows:
            return self._rows[thread_id]
        return self._keep(await self._one(ThreadRecord, _THREAD_OF_LINK, {"link_id": link_id}))

    async def lock(self, thread_id: str) -> ThreadRecord | None:
        if self._conn.dialect.name != "postgresql":
            return await self.get(thread_id)  # BEGIN IMMEDIATE already holds the database
        if thread_id in self._locked:
            return self._rows.get(thread_id)
        thread = self._keep(await self._one(ThreadRecord, _THREAD_FOR_UPDATE, {"id": thread_id}))
        if thread is not None:
            self._locked.add(thread_id)
        return thread

    async def bump(self, thread_id: str, *, new_message: bool) -> tuple[int, int]:
        row = (await self._conn.execute(_BUMP, {"_id": thread_id, "seq_step": 1 if new_message else 0})).one()
        seq, rev = int(row[0]), int(row[1])
        seen = self._rows.get(thread_id)
        if seen is not None:
            seen.last_seq, seen.last_rev = seq, rev
        return seq, rev

    async def add_message(self, message: MessageRecord) -> None:
        await self._conn.execute(_INSERT["messages"], _values(message, s.messages))

    async def update_message(self, message: MessageRecord) -> None:
        await self._conn.execute(_UPDATE["messages"], _set(message, s.messages))

    async def message_by_subject(self, thread_id: str, subject_key: str) -> MessageRecord | None:
        params = {"thread_id": thread_id, "subject_key": subject_key}
        return await self._one(MessageRecord, _MESSAGE_BY_SUBJECT, params)

    async def messages_since(
        self, thread_id: str, after_rev: int, *, limit: int = 500
    ) -> list[MessageRecord]:
        return await self._many(
            MessageRecord, _MESSAGES_SINCE, {"thread_id": thread_id, "after_rev": after_rev, "limit": limit}
        )

    async def latest_messages(self, thread_id: str, *, limit: int = 100) -> list[MessageRecord]:
        m = s.messages
        rows = await self._many(
            MessageRecord,
            select(m).where(m.c.thread_id == thread_id).order_by(m.c.seq.desc()).limit(limit),
        )
        return list(reversed(rows))


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
            seen = await self._many(ChannelRecord, _CHANNELS_FOR_PERSON, {"person_id": person_id})
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
