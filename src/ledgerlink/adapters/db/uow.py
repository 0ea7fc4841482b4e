"""The SQL unit of work: one connection, one transaction, repositories bound to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerlink.adapters.db.access import SqlAudit
from ledgerlink.adapters.db.alerts import SqlAlertRules, SqlDigests
from ledgerlink.adapters.db.auth import SqlFactors, SqlSessions, SqlSignInSteps
from ledgerlink.adapters.db.dialogue import SqlBankMessages, SqlBankOutbox, SqlPrompts
from ledgerlink.adapters.db.direct import DirectConnection
from ledgerlink.adapters.db.engine import READONLY_OPTION, create_sqlite_direct_engine
from ledgerlink.adapters.db.imports import SqlImports  # statement imports
from ledgerlink.adapters.db.ingest import SqlInbox, SqlTransactions
from ledgerlink.adapters.db.insights import SqlInsights  # insights (issue 13)
from ledgerlink.adapters.db.kernel import SqlIdempotency, SqlPartners
from ledgerlink.adapters.db.kernel_outbox import OutboxRouting, SqlOutbox  # scale-out outbox (issue 12)
from ledgerlink.adapters.db.linking import SqlAccounts, SqlLinkHealth, SqlLinks, SqlReceipts
from ledgerlink.adapters.db.linking_refresh import SqlRefreshAttempts  # refresh planner (issue 10)
from ledgerlink.adapters.db.messaging import SqlChannels, SqlMatrix, SqlPersons, SqlThreadReads, SqlThreads
from ledgerlink.adapters.db.messaging_platforms import SqlPlatforms
from ledgerlink.adapters.db.privacy import SqlDpLedger, SqlRetention, SqlTreeHeads
from ledgerlink.adapters.db.receipts import SqlShopReceipts  # receipts from merchants (issue 11)
from ledgerlink.adapters.db.receipts_merchant_links import SqlMerchantConsents  # linking a shop (ADR 0031)
from ledgerlink.adapters.db.receipts_tracking import SqlParcels  # pasted tracking numbers (issue 11)
from ledgerlink.domain.events import Event
from ledgerlink.services.access.ports import AuditRepository
from ledgerlink.services.alerts.ports import AlertRuleRepository, DigestRepository
from ledgerlink.services.auth.ports import FactorRepository, SessionRepository, SignInStepRepository
from ledgerlink.services.dialogue.ports import BankMessageRepository, BankOutboxRepository, PromptRepository
from ledgerlink.services.imports.ports import ImportRepository  # statement imports
from ledgerlink.services.ingest.ports import InboxRepository, TransactionRepository
from ledgerlink.services.insights.ports import InsightRepository  # insights (issue 13)
from ledgerlink.services.kernel.ports import IdempotencyRepository, PartnerRepository
from ledgerlink.services.linking.ports import (
    AccountRepository,
    LinkHealthRepository,
    LinkRepository,
    ReceiptRepository,
)
from ledgerlink.services.linking.refresh_ports import RefreshAttemptRepository  # issue 10
from ledgerlink.services.messaging.channel_ports import ChannelRepository, MatrixRepository
from ledgerlink.services.messaging.platform_ports import PlatformRepository
from ledgerlink.services.messaging.ports import (
    MessageView,
    PersonRepository,
    ThreadReadRepository,
    ThreadRepository,
)
from ledgerlink.services.privacy.ports import DpLedgerRepository, RetentionRepository, TreeHeadRepository
from ledgerlink.services.receipts.merchant_link_ports import MerchantConsentRepository  # ADR 0031
from ledgerlink.services.receipts.ports import ParcelRepository, ShopReceiptRepository  # issue 11


class WriterGate:
    """SQLite's single writer, queued in-process (FIFO) instead of spinning on busy_timeout.

    Priority waiters (the ingest group commit, which answers partners) go before the others,
    so accepting events never queues behind a backlog of processing work."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, priority: bool = False) -> None:
        if not self._held and not self._urgent and not self._normal:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if priority else self._normal).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # we were handed the gate while being cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    (self._urgent if priority else self._normal).remove(waiter)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # ownership passes directly: _held stays True
                    return
        self._held = False


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
    retention: RetentionRepository
    idempotency: IdempotencyRepository
    alert_rules: AlertRuleRepository
    channels: ChannelRepository
    prompts: PromptRepository  # bank dialogue
    bank_outbox: BankOutboxRepository
    bank_messages: BankMessageRepository
    reads: ThreadReadRepository  # read state
    digests: DigestRepository  # digests and held alerts
    link_health: LinkHealthRepository  # connection health (message templates)
    matrix: MatrixRepository  # Matrix channel
    sessions: SessionRepository  # sign-in sessions (ADR 0019)
    factors: FactorRepository  # second factors and the security log (ADR 0021)
    sign_in_steps: SignInStepRepository  # the second sign-in step (ADR 0021)
    imports: ImportRepository  # statement imports (ADR 0022)
    shop_receipts: ShopReceiptRepository  # receipts from merchants (issue 11)
    parcels: ParcelRepository  # pasted tracking numbers (issue 11)
    merchant_consents: MerchantConsentRepository  # linking a shop (ADR 0031)
    platforms: PlatformRepository  # Messenger and WhatsApp channels (ADR 0023)
    refresh: RefreshAttemptRepository  # refresh planner's attempt log (issue 10)
    insights: InsightRepository  # category corrections and budgets (issue 13)

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        write_lock: WriterGate | None,
        priority: bool = False,
        readonly: bool = False,
        direct: Engine | None = None,
        outbox: OutboxRouting | None = None,  # scale-out (issue 12): events go to the outbox
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._direct = direct
        self._readonly = readonly
        self._write_lock = None if readonly else write_lock  # readers skip the writer queue
        self._priority = priority
        self._conn: AsyncConnection | DirectConnection | None = None
        self.events: list[Event] = []
        self.fresh: list[tuple[str, MessageView]] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._write_lock is not None:
            await self._write_lock.acquire(priority=self._priority)
        try:
            self._conn = (
                DirectConnection(self._direct.connect()) if self._direct is not None
                else await self._engine.connect()
            )  # fmt: skip
            if self._readonly:
                await self._conn.execution_options(**{READONLY_OPTION: True})
            await self._conn.begin()
        except BaseException:
            # `async with` runs no __aexit__ when __aenter__ raises: a connection opened here
            # (then cancelled in begin(), say, at shutdown) must go back to the pool now, or
            # it is garbage-collected unreturned (SQLAlchemy's and aiosqlite's warnings in CI).
            opened, self._conn = self._conn, None
            try:
                if opened is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(opened.close())
            finally:
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
        self.retention = SqlRetention(conn)
        self.idempotency = SqlIdempotency(conn)
        self.alert_rules = SqlAlertRules(conn)
        self.channels = SqlChannels(conn)
        self.prompts = SqlPrompts(conn)  # bank dialogue
        self.bank_outbox = SqlBankOutbox(conn)
        self.bank_messages = SqlBankMessages(conn)
        self.reads = SqlThreadReads(conn)  # read state
        self.digests = SqlDigests(conn)  # digests and held alerts
        self.matrix = SqlMatrix(conn)  # Matrix channel
        self.link_health = SqlLinkHealth(conn)  # connection health (message templates)
        self.sessions = SqlSessions(conn)  # sign-in sessions (ADR 0019)
        self.factors = SqlFactors(conn)  # second factors (ADR 0021)
        self.sign_in_steps = SqlSignInSteps(conn)  # the second sign-in step (ADR 0021)
        self.imports = SqlImports(conn)  # statement imports (ADR 0022)
        self.shop_receipts = SqlShopReceipts(conn)  # receipts from merchants (issue 11)
        self.parcels = SqlParcels(conn)
        self.merchant_consents = SqlMerchantConsents(conn)  # linking a shop (ADR 0031)
        self.platforms = SqlPlatforms(conn)  # Messenger and WhatsApp channels (ADR 0023)
        self.refresh = SqlRefreshAttempts(conn)  # refresh planner's attempt log (issue 10)
        self.insights = SqlInsights(conn)  # category corrections and budgets (issue 13)
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
        await self.audit.flush()  # the accesses are durable with the work that made them
        routing = self._outbox if self.events else None  # scale-out (issue 12, ADR 0027)
        if routing is not None:
            await SqlOutbox(self._conn).add(routing.records(self.events))
            self.events.clear()  # they commit with the data; the relay publishes them
        await self._conn.commit()
        if routing is not None and routing.wake is not None:
            routing.wake()

    async def rollback(self) -> None:
        assert self._conn is not None, "rollback outside the unit of work"
        await self._conn.rollback()
        self.events.clear()
        self.fresh.clear()


class SqlUnitOfWorkFactory:
    """Units of work on `engine`; on SQLite, statements run directly (see `DirectConnection`)
    unless `direct=False`."""

    def __init__(self, engine: AsyncEngine, *, direct: bool = True) -> None:
        self.engine = engine
        sqlite = engine.dialect.name == "sqlite"
        self._write_lock = WriterGate() if sqlite else None
        self._direct: Engine | None = None
        self.outbox: OutboxRouting | None = None  # scale-out (issue 12): set by the composition root
        if sqlite and direct:
            self._direct = create_sqlite_direct_engine(engine.url.render_as_string(hide_password=False))

    def dispose(self) -> None:
        if self._direct is not None:
            self._direct.dispose()

    @property
    def write_gate(self) -> WriterGate | None:
        return self._write_lock

    def __call__(self, *, priority: bool = False, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            self.engine,
            write_lock=self._write_lock,
            priority=priority,
            readonly=readonly,
            direct=self._direct,
            outbox=self.outbox,  # scale-out (issue 12)
        )
