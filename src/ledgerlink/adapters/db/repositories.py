"""Repositories: the only place with SQL. They move sealed records, never plaintext."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, func, insert, or_, select, text, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.direct import DirectConnection
from ledgerlink.adapters.db.lean import lean
from ledgerlink.domain.audit import AuditEntry
from ledgerlink.services.access.ports import AuditRecord
from ledgerlink.services.ingest.ports import InboxRecord, TransactionRecord
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.linking.ports import AccountRecord, LinkRecord
from ledgerlink.services.messaging.ports import MessageRecord, PersonRecord, ThreadRecord

R = TypeVar("R")


def _to_record(cls: type[R], row: Any) -> R:
    mapping = row._mapping
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{n: mapping[n] for n in names if n in mapping})


_COLUMNS: dict[tuple[type, str], tuple[str, ...]] = {}


def _columns_of(cls: type, table: Table) -> tuple[str, ...]:
    key = (cls, table.name)
    names = _COLUMNS.get(key)
    if names is None:
        cols = set(table.c.keys())
        names = _COLUMNS[key] = tuple(f.name for f in dataclasses.fields(cls) if f.name in cols)
    return names


def _values(record: Any, table: Table) -> dict[str, Any]:
    # Shallow on purpose: dataclasses.asdict deep-copies every value (measured: 57% of an
    # inbox batch insert went to copying datetimes).
    return {name: getattr(record, name) for name in _columns_of(type(record), table)}


# --------------------------------------------------------------------------- prebuilt statements
# The statements of the per-event hot path are built once with bind parameters: SQLAlchemy then
# skips constructing the statement and computing its cache key on every call (measured on
# SQLite: 159 us per lookup built per call, 37 us prebuilt). See bench/README.md.


def _by(table: Table, *columns: str) -> Any:
    """SELECT * FROM table WHERE col = :col AND ...  (parameters named after the columns),
    registered for the direct SQLite path (`lean`)."""
    return lean(select(table).where(*(table.c[c] == bindparam(c) for c in columns)))


def _update_by_id(table: Table) -> Any:
    """UPDATE table SET <the given columns> WHERE id = :_id."""
    return update(table).where(table.c.id == bindparam("_id"))


def _set(record: Any, table: Table) -> dict[str, Any]:
    values = _values(record, table)
    values["_id"] = values.pop("id")
    return values


_PARTNER = _by(s.partners, "id")
_LINK = _by(s.links, "id")
_ACCOUNT = _by(s.accounts, "id")
_TXN = _by(s.transactions, "id")
def _txn_find(*keys: Any) -> Any:
    """The transaction known by any of `keys` (its bank id, or a pending id it replaced), as two
    indexed lookups: `account_id = ? AND (source_key ... OR pending_source_key ...)` would use
    only the account prefix of an index and walk all of the account's transactions."""
    t = s.transactions
    by_key = select(t).where(t.c.account_id == bindparam("account_id"), t.c.source_key.in_(keys))
    by_pending = select(t).where(t.c.account_id == bindparam("account_id"), t.c.pending_source_key.in_(keys))
    return union_all(by_key, by_pending).limit(1)


_TXN_FIND = _txn_find(bindparam("keys", expanding=True))
# The usual case, one or two keys, without an expanding IN (which is rendered anew per call).
_TXN_FIND_1 = lean(_txn_find(bindparam("k1")))
_TXN_FIND_2 = lean(_txn_find(bindparam("k1"), bindparam("k2")))
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
_INBOX = _by(s.inbox, "id")
_INBOX_UNPROCESSED = lean(
    select(s.inbox).where(s.inbox.c.processed_at.is_(None))
    .order_by(s.inbox.c.received_at, s.inbox.c.id).limit(bindparam("limit"))
)
_INBOX_UNPROCESSED_AMONG = (
    select(s.inbox)
    .where(s.inbox.c.id.in_(bindparam("ids", expanding=True)), s.inbox.c.processed_at.is_(None))
    .order_by(s.inbox.c.received_at, s.inbox.c.id)
)
_INBOX_CLAIM = (  # the row lock it takes makes PostgreSQL's SKIP LOCKED scans pass these rows
    update(s.inbox)
    .where(s.inbox.c.id.in_(bindparam("ids", expanding=True)), s.inbox.c.processed_at.is_(None))
    .values(processed_at=bindparam("at"))
    .returning(s.inbox.c.id)
)
_INBOX_CLAIM_1 = lean(
    update(s.inbox)
    .where(s.inbox.c.id == bindparam("_id"), s.inbox.c.processed_at.is_(None))
    .values(processed_at=bindparam("at"))
    .returning(s.inbox.c.id)
)
_INBOX_PROCESSED = lean(
    update(s.inbox).where(s.inbox.c.id == bindparam("_id")).values(processed_at=bindparam("at"))
)
_AUDIT_LAST = lean(select(func.max(s.audit_log.c.seq)))
_AUDIT_INSERT = lean(insert(s.audit_log))
_HOT_TABLES = ("transactions", "messages", "links", "accounts")
_INSERT = {name: lean(insert(s.metadata.tables[name])) for name in _HOT_TABLES}
_UPDATE = {name: lean(_update_by_id(s.metadata.tables[name])) for name in _HOT_TABLES}


class _Repo:
    def __init__(self, conn: AsyncConnection | DirectConnection) -> None:
        self._conn = conn

    async def _one(self, cls: type[R], stmt: Any, params: dict[str, Any] | None = None) -> R | None:
        row = (await self._conn.execute(stmt, params)).first()
        return None if row is None else _to_record(cls, row)

    async def _many(self, cls: type[R], stmt: Any, params: dict[str, Any] | None = None) -> list[R]:
        return [_to_record(cls, row) for row in (await self._conn.execute(stmt, params)).all()]


class _Remembering(_Repo):
    """`get` by id remembers what it read for the rest of the unit of work (one event's apply,
    delivery and alerts ask for the same rows several times), and writes through this
    repository keep it in step. Within one unit of work a row is read once, as with
    REPEATABLE READ: on SQLite nothing else writes meanwhile (the writer holds the database);
    on PostgreSQL a concurrent change made after the first read is seen from the next unit of
    work on, which is no worse than the read-modify-write of `update`."""

    def __init__(self, conn: AsyncConnection | DirectConnection) -> None:
        super().__init__(conn)
        self._seen: dict[str, Any] = {}

    async def _remembered(self, cls: type[R], stmt: Any, row_id: str) -> R | None:
        seen = self._seen.get(row_id)
        if seen is not None:
            return seen  # type: ignore[no-any-return]
        record = await self._one(cls, stmt, {"id": row_id})
        if record is not None:
            self._seen[row_id] = record
        return record

    def _remember(self, row_id: str, record: Any) -> None:
        self._seen[row_id] = record


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

    # Children before parents (foreign keys).
    _PERSON_TABLES = (
        "link_health",  # connection health (message templates)
        "prompts", "bank_outbox", "bank_messages",  # bank dialogue
        "thread_reads", "held_alerts", "digests_sent", "digest_settings",  # read state, digests
        "matrix_inbound", "matrix_events", "matrix_rooms",  # Matrix channel
        "channel_deliveries", "person_channels", "alert_rules", "consent_receipts", "messages", "threads",
        "transactions", "inbox", "accounts", "links",
    )  # fmt: skip

    async def erase(self, person_id: str, at: datetime) -> dict[str, int]:
        deleted: dict[str, int] = {}
        for name in self._PERSON_TABLES:
            table = s.metadata.tables[name]
            result = await self._conn.execute(table.delete().where(table.c.person_id == person_id))
            deleted[name] = int(result.rowcount or 0)
        await self._conn.execute(
            update(s.persons)
            .where(s.persons.c.id == person_id)
            .values(handle=f"erased-{person_id}", display_name="", password_hash="!", erased_at=at)
        )
        return deleted


class SqlPartners(_Repo):
    async def upsert(self, partner: PartnerRecord) -> None:
        existing = await self.get(partner.id)
        values = _values(partner, s.partners)
        if existing is None:
            await self._conn.execute(insert(s.partners).values(**values))
        else:
            values.pop("created_at")
            # The API key is issued and rotated only through set_api_key_hash: re-registering
            # a partner (bootstrap does it on every start) must not revoke its key.
            values.pop("api_key_hash")
            await self._conn.execute(update(s.partners).where(s.partners.c.id == partner.id).values(**values))

    async def get(self, partner_id: str) -> PartnerRecord | None:
        return await self._one(PartnerRecord, _PARTNER, {"id": partner_id})

    async def by_slug(self, slug: str) -> PartnerRecord | None:
        return await self._one(PartnerRecord, select(s.partners).where(s.partners.c.slug == slug))

    async def by_api_key_hash(self, api_key_hash: str) -> PartnerRecord | None:
        p = s.partners
        return await self._one(PartnerRecord, select(p).where(p.c.api_key_hash == api_key_hash))

    async def set_api_key_hash(self, partner_id: str, api_key_hash: str | None) -> None:
        await self._conn.execute(
            update(s.partners).where(s.partners.c.id == partner_id).values(api_key_hash=api_key_hash)
        )

    async def all(self) -> list[PartnerRecord]:
        return await self._many(PartnerRecord, select(s.partners).order_by(s.partners.c.slug))


class SqlLinks(_Remembering):
    async def add(self, link: LinkRecord) -> None:
        await self._conn.execute(_INSERT["links"], _values(link, s.links))
        self._remember(link.id, link)

    async def get(self, link_id: str) -> LinkRecord | None:
        return await self._remembered(LinkRecord, _LINK, link_id)

    async def by_state(self, state: str) -> LinkRecord | None:
        return await self._one(LinkRecord, select(s.links).where(s.links.c.state == state))

    async def by_consent(self, partner_id: str, bank_consent_id: str) -> LinkRecord | None:
        return await self._one(
            LinkRecord,
            select(s.links)
            .where(s.links.c.partner_id == partner_id, s.links.c.bank_consent_id == bank_consent_id)
            .order_by(s.links.c.created_at.desc()),
        )

    async def for_person(self, person_id: str) -> list[LinkRecord]:
        return await self._many(
            LinkRecord,
            select(s.links).where(s.links.c.person_id == person_id).order_by(s.links.c.created_at),
        )

    async def update(self, link: LinkRecord) -> None:
        await self._conn.execute(_UPDATE["links"], _set(link, s.links))
        self._remember(link.id, link)

    async def expiring(self, before: datetime) -> list[LinkRecord]:
        lk = s.links
        return await self._many(
            LinkRecord,
            select(lk).where(lk.c.status == "active", lk.c.expires_at.is_not(None), lk.c.expires_at < before),
        )


class SqlAccounts(_Remembering):
    async def add(self, account: AccountRecord) -> None:
        await self._conn.execute(_INSERT["accounts"], _values(account, s.accounts))
        self._remember(account.id, account)

    async def get(self, account_id: str) -> AccountRecord | None:
        return await self._remembered(AccountRecord, _ACCOUNT, account_id)

    async def by_bank_id(self, partner_id: str, bank_account_id: str) -> list[AccountRecord]:
        return await self._many(
            AccountRecord,
            select(s.accounts).where(
                s.accounts.c.partner_id == partner_id, s.accounts.c.bank_account_id == bank_account_id
            ),
        )

    async def for_link(self, link_id: str) -> list[AccountRecord]:
        return await self._many(
            AccountRecord,
            select(s.accounts).where(s.accounts.c.link_id == link_id).order_by(s.accounts.c.created_at),
        )

    async def for_person(self, person_id: str) -> list[AccountRecord]:
        return await self._many(
            AccountRecord,
            select(s.accounts).where(s.accounts.c.person_id == person_id).order_by(s.accounts.c.created_at),
        )

    async def update(self, account: AccountRecord) -> None:
        await self._conn.execute(_UPDATE["accounts"], _set(account, s.accounts))
        self._remember(account.id, account)

    async def active_ids(self) -> list[str]:
        a, lk = s.accounts, s.links
        stmt = select(a.c.id).join(lk, lk.c.id == a.c.link_id).where(lk.c.status == "active")
        return [row[0] for row in (await self._conn.execute(stmt)).all()]


class SqlTransactions(_Remembering):
    async def add(self, txn: TransactionRecord) -> None:
        await self._conn.execute(_INSERT["transactions"], _values(txn, s.transactions))
        self._remember(txn.id, txn)

    async def find(self, account_id: str, source_keys: Sequence[str]) -> TransactionRecord | None:
        keys = list(source_keys)
        if len(keys) == 1:
            return await self._one(TransactionRecord, _TXN_FIND_1, {"account_id": account_id, "k1": keys[0]})
        if len(keys) == 2:
            params = {"account_id": account_id, "k1": keys[0], "k2": keys[1]}
            return await self._one(TransactionRecord, _TXN_FIND_2, params)
        return await self._one(TransactionRecord, _TXN_FIND, {"account_id": account_id, "keys": keys})

    async def get(self, txn_id: str) -> TransactionRecord | None:
        return await self._remembered(TransactionRecord, _TXN, txn_id)

    async def for_account(self, account_id: str, *, limit: int = 50) -> list[TransactionRecord]:
        t = s.transactions
        return await self._many(
            TransactionRecord,
            select(t).where(t.c.account_id == account_id).order_by(t.c.created_at.desc()).limit(limit),
        )

    async def for_account_between(
        self, account_id: str, start: date, end: date, *, limit: int = 1000
    ) -> list[TransactionRecord]:
        """Rows booked in [start, end] (inclusive), or, not booked yet (pending), created then
        (UTC dates); newest first."""
        from datetime import UTC, time, timedelta  # the module's import block is shared

        t = s.transactions
        since = datetime.combine(start, time.min, tzinfo=UTC)
        until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
        booked = t.c.booking_date.is_not(None) & t.c.booking_date.between(start, end)
        unbooked = t.c.booking_date.is_(None) & (t.c.created_at >= since) & (t.c.created_at < until)
        return await self._many(
            TransactionRecord,
            select(t)
            .where(t.c.account_id == account_id, or_(booked, unbooked))
            .order_by(t.c.created_at.desc())
            .limit(limit),
        )

    async def update(self, txn: TransactionRecord) -> None:
        await self._conn.execute(_UPDATE["transactions"], _set(txn, s.transactions))
        self._remember(txn.id, txn)


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


class SqlInbox(_Repo):
    async def add(self, record: InboxRecord) -> bool:
        return bool(await self.add_many([record]))

    async def add_many(self, records: Sequence[InboxRecord]) -> set[str]:
        """Insert, skipping ids already present; returns the ids actually inserted.

        One indexed lookup and one cached executemany per batch (a multi-row VALUES statement
        would be compiled anew for every batch size)."""
        if not records:
            return set()
        ids = [r.id for r in records]
        present = {
            row[0]
            for row in (await self._conn.execute(select(s.inbox.c.id).where(s.inbox.c.id.in_(ids)))).all()
        }
        fresh = [r for r in records if r.id not in present]
        if fresh:
            ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
            # ON CONFLICT covers a concurrent writer in another process (PostgreSQL).
            stmt = ins(s.inbox).on_conflict_do_nothing(index_elements=["id"])
            await self._conn.execute(stmt, [_values(r, s.inbox) for r in fresh])
        return {r.id for r in fresh}

    async def get(self, inbox_id: str) -> InboxRecord | None:
        return await self._one(InboxRecord, _INBOX, {"id": inbox_id})

    def _pg(self, stmt: Any) -> Any:
        # PostgreSQL: several workers share the inbox; each takes rows nobody else holds.
        return stmt.with_for_update(skip_locked=True) if self._conn.dialect.name == "postgresql" else stmt

    async def unprocessed(self, *, limit: int = 100) -> list[InboxRecord]:
        return await self._many(InboxRecord, self._pg(_INBOX_UNPROCESSED), {"limit": limit})

    async def unprocessed_among(self, ids: Sequence[str]) -> list[InboxRecord]:
        if not ids:
            return []
        return await self._many(InboxRecord, self._pg(_INBOX_UNPROCESSED_AMONG), {"ids": list(ids)})

    async def mark_processed(self, inbox_id: str, at: datetime) -> None:
        await self._conn.execute(_INBOX_PROCESSED, {"_id": inbox_id, "at": at})

    async def claim(self, ids: Sequence[str], at: datetime) -> set[str]:
        if not ids:
            return set()
        if len(ids) == 1:  # the usual case at a steady pace: no expanding IN to render
            rows = (await self._conn.execute(_INBOX_CLAIM_1, {"_id": ids[0], "at": at})).all()
        else:
            rows = (await self._conn.execute(_INBOX_CLAIM, {"ids": list(ids), "at": at})).all()
        return {row[0] for row in rows}

    async def mark_processed_many(self, ids: Sequence[str], at: datetime) -> None:
        if ids:
            await self._conn.execute(_INBOX_PROCESSED, [{"_id": i, "at": at} for i in ids])

    async def mark_failed(self, inbox_id: str, error_code: str) -> None:
        await self._conn.execute(
            update(s.inbox)
            .where(s.inbox.c.id == inbox_id)
            .values(attempts=s.inbox.c.attempts + 1, last_error=error_code[:64])
        )


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
