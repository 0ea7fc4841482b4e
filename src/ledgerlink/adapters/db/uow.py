"""The SQL unit of work: one connection, one transaction, repositories bound to it."""

from __future__ import annotations

import asyncio
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerlink.adapters.db.repo_audit import SqlTreeHeads
from ledgerlink.adapters.db.repo_dp import SqlDpLedger
from ledgerlink.adapters.db.repo_receipts import SqlReceipts
from ledgerlink.adapters.db.repositories import (
    SqlAccounts,
    SqlAudit,
    SqlInbox,
    SqlLinks,
    SqlPartners,
    SqlPersons,
    SqlThreads,
    SqlTransactions,
)
from ledgerlink.domain.events import Event
from ledgerlink.services.ports import (
    AccountRepository,
    AuditRepository,
    DpLedgerRepository,
    InboxRepository,
    LinkRepository,
    PartnerRepository,
    PersonRepository,
    ReceiptRepository,
    ThreadRepository,
    TransactionRepository,
    TreeHeadRepository,
)


class SqlUnitOfWork:
    persons: PersonRepository
    partners: PartnerRepository
    links: LinkRepository
    accounts: AccountRepository
    transactions: TransactionRepository
    threads: ThreadRepository
    inbox: InboxRepository
    audit: AuditRepository
    tree_heads: TreeHeadRepository
    receipts: ReceiptRepository
    dp: DpLedgerRepository

    def __init__(self, engine: AsyncEngine, *, write_lock: asyncio.Lock | None) -> None:
        self._engine = engine
        self._write_lock = write_lock
        self._conn: AsyncConnection | None = None
        self.events: list[Event] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._write_lock is not None:
            # SQLite has one writer; queue in-process instead of spinning on busy_timeout.
            await self._write_lock.acquire()
        try:
            self._conn = await self._engine.connect()
            await self._conn.begin()
        except BaseException:
            if self._write_lock is not None:
                self._write_lock.release()
            raise
        conn = self._conn
        self.persons = SqlPersons(conn)
        self.partners = SqlPartners(conn)
        self.links = SqlLinks(conn)
        self.accounts = SqlAccounts(conn)
        self.transactions = SqlTransactions(conn)
        self.threads = SqlThreads(conn)
        self.inbox = SqlInbox(conn)
        self.audit = SqlAudit(conn)
        self.tree_heads = SqlTreeHeads(conn)
        self.receipts = SqlReceipts(conn)
        self.dp = SqlDpLedger(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._conn is not None:
                if self._conn.in_transaction():
                    await self._conn.rollback()
                await self._conn.close()
        finally:
            self._conn = None
            if self._write_lock is not None:
                self._write_lock.release()

    async def commit(self) -> None:
        assert self._conn is not None, "commit outside the unit of work"
        await self._conn.commit()

    async def rollback(self) -> None:
        assert self._conn is not None, "rollback outside the unit of work"
        await self._conn.rollback()
        self.events.clear()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write_lock=self._write_lock)
