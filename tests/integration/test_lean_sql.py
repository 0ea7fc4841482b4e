"""The lean SQLite path (adapters/db/lean.py) against SQLAlchemy's own execution.

Rows of every hot table are written through one path and read back through the other, on the
same real SQLite file: equal records both ways means the lean path binds and reads every type
(aware datetimes, dates, JSON, bytes, NULLs) exactly as SQLAlchemy does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.dialects import sqlite

from ledgerlink.adapters.db import lean, schema
from ledgerlink.adapters.db._repo import _INSERT
from ledgerlink.adapters.db.engine import create_engine
from ledgerlink.adapters.db.ingest import _TXN_FIND_1
from ledgerlink.adapters.db.linking import _ACCOUNT, _LINK
from ledgerlink.adapters.db.migrate import upgrade_async
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.services.ingest.ports import InboxRecord, TransactionRecord
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.linking.ports import AccountRecord, LinkRecord
from ledgerlink.services.messaging.ports import MessageRecord, PersonRecord, ThreadRecord

AT = datetime(2026, 11, 26, 16, 30, 5, 123456, tzinfo=UTC)


@pytest.fixture
async def factories(tmp_path: Path) -> AsyncIterator[tuple[SqlUnitOfWorkFactory, SqlUnitOfWorkFactory]]:
    url = f"sqlite:///{tmp_path / 'lean.db'}"
    await upgrade_async(url)
    engine = create_engine(url)
    lean_side = SqlUnitOfWorkFactory(engine)  # direct connection: registered statements go lean
    sqlalchemy_side = SqlUnitOfWorkFactory(engine, direct=False)  # aiosqlite: SQLAlchemy only
    yield lean_side, sqlalchemy_side
    lean_side.dispose()
    await engine.dispose()


def _rows(n: int) -> tuple[PersonRecord, PartnerRecord, LinkRecord, AccountRecord, TransactionRecord,
                           ThreadRecord, MessageRecord]:
    person = PersonRecord(id=f"prs_{n}", handle=f"h{n}", display_name="P", password_hash="x", created_at=AT)
    partner = PartnerRecord(id=f"ptn_{n}", slug=f"bank-{n}", name="Bank", kind="bank",
                            webhook_secrets=["whsec_x"], created_at=AT)
    link = LinkRecord(id=f"lnk_{n}", person_id=person.id, partner_id=partner.id, status="active",
                      scopes=["accounts", "balances"], state=None, sealed_secrets=b"\x00\x01sealed",
                      bank_consent_id=None, created_at=AT, updated_at=AT + timedelta(seconds=1),
                      expires_at=AT + timedelta(days=90), token_expires_at=None)
    account = AccountRecord(id=f"acc_{n}", person_id=person.id, link_id=link.id, partner_id=partner.id,
                            bank_account_id=f"ba_{n}", type="checking", currency="EUR", last4="1234",
                            number_token="tok", sealed=b"\xffname", sync_cursor=None, created_at=AT,
                            balance_sealed=None, balance_as_of=AT + timedelta(minutes=5))
    txn = TransactionRecord(id=f"txn_{n}", account_id=account.id, person_id=person.id, source_key=f"b{n}",
                            pending_source_key=f"p{n}", status="posted", currency="EUR",
                            booking_date=date(2026, 11, 25), value_date=None, mcc="5411",
                            sealed=b"\x00txn", created_at=AT, updated_at=AT)
    thread = ThreadRecord(id=f"thr_{n}", person_id=person.id, kind="bank", title="Bank",
                          partner_id=partner.id, link_id=link.id, created_at=AT, last_rev=0, last_seq=0)
    message = MessageRecord(id=f"msg_{n}", thread_id=thread.id, person_id=person.id, seq=1, rev=1,
                            kind="transaction", subject_key=f"txn:{txn.id}", sealed=b"\x01body",
                            created_at=AT, edited_at=None)
    return person, partner, link, account, txn, thread, message


async def _write(factory: SqlUnitOfWorkFactory, n: int) -> None:
    person, partner, link, account, txn, thread, message = _rows(n)
    async with factory() as uow:
        await uow.persons.add(person)
        await uow.partners.upsert(partner)
        await uow.links.add(link)
        await uow.accounts.add(account)
        await uow.transactions.add(txn)
        await uow.threads.add(thread)
        assert await uow.threads.bump(thread.id, new_message=True) == (1, 1)
        await uow.threads.add_message(message)
        txn.status, txn.updated_at, txn.value_date = "pending", AT + timedelta(hours=1), date(2026, 11, 27)
        await uow.transactions.update(txn)
        await uow.audit.append(at=AT, actor="component:test", person_id=person.id, purpose="deliver_update",
                               action="read_account", subject=f"account:{account.id}")
        await uow.inbox.add(InboxRecord(id=f"ptn:{n}", partner_id=partner.id, person_id=person.id,
                                        event_type="transaction.updated", sealed=b"s", received_at=AT))
        assert await uow.inbox.claim([f"ptn:{n}"], AT) == {f"ptn:{n}"}
        await uow.commit()


async def _read(factory: SqlUnitOfWorkFactory, n: int) -> tuple[object, ...]:
    person, _, link, account, txn, thread, _ = _rows(n)
    async with factory(readonly=True) as uow:
        return (
            await uow.links.get(link.id),
            await uow.accounts.get(account.id),
            await uow.transactions.find(account.id, [f"b{n}"]),
            await uow.transactions.find(account.id, ["nope", f"p{n}"]),
            await uow.threads.get(thread.id),
            await uow.threads.message_by_subject(thread.id, f"txn:{txn.id}"),
            await uow.threads.messages_since(thread.id, 0),
            await uow.inbox.get(f"ptn:{n}"),
            [(e.actor, e.subject, e.at) for e in await uow.audit.for_person(person.id)],
        )


async def test_the_lean_path_reads_and_writes_exactly_what_sqlalchemy_does(
        factories: tuple[SqlUnitOfWorkFactory, SqlUnitOfWorkFactory]) -> None:
    lean_side, sqlalchemy_side = factories
    await _write(lean_side, 1)
    await _write(sqlalchemy_side, 2)
    for n in (1, 2):
        through_lean, through_sqlalchemy = await _read(lean_side, n), await _read(sqlalchemy_side, n)
        assert through_lean == through_sqlalchemy
        link, account, by_key, by_pending, thread, message, since, inbox, audit = through_lean
        assert link is not None and link.scopes == ["accounts", "balances"]
        assert link.expires_at == AT + timedelta(days=90) and link.expires_at.tzinfo is not None
        assert account is not None and account.balance_as_of == AT + timedelta(minutes=5)
        assert by_key is not None and by_key == by_pending and by_key.value_date == date(2026, 11, 27)
        assert by_key.status == "pending" and by_key.sealed == b"\x00txn"
        assert thread is not None and (thread.last_seq, thread.last_rev) == (1, 1)
        assert message is not None and since == [message] and message.edited_at is None
        assert inbox is not None and inbox.processed_at == AT
        assert audit == [("component:test", f"account:acc_{n}", AT)]


def test_the_hot_statements_are_registered_and_plain_ones_compile() -> None:
    dialect = sqlite.dialect()
    for stmt in (_LINK, _ACCOUNT, _TXN_FIND_1):
        assert lean.plan_for(stmt, dialect) is not None
    insert_txn = _INSERT["transactions"]
    keys = frozenset(c.key for c in insert_txn.table.c)
    plan = lean.plan_for(insert_txn, dialect, keys)
    assert plan is not None and plan.sql.startswith("INSERT INTO transactions")
    # An INSERT missing a column SQLAlchemy would fill in (a Python default) is left to it,
    # as is anything not registered.
    inbox_insert = lean.lean(insert(schema.inbox))
    assert lean.plan_for(inbox_insert, dialect, frozenset({"id", "partner_id", "event_type"})) is None
    assert lean.plan_for(insert(schema.inbox), dialect, frozenset({"id"})) is None
