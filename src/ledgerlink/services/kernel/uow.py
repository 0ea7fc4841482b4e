"""The unit of work: one database transaction, with every capability's repositories bound to it.

Each capability owns its repository Protocols (`services/<capability>/ports.py`); this
Protocol is their union, as the composition root builds it (`adapters/db/uow.py`). The kernel
names them for the type checker only: at run time it imports no capability (ADR 0017).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from ledgerlink.domain.events import Event

if TYPE_CHECKING:
    from ledgerlink.services.access.ports import AuditRepository
    from ledgerlink.services.alerts.ports import AlertRuleRepository, DigestRepository
    from ledgerlink.services.auth.ports import FactorRepository, SessionRepository, SignInStepRepository
    from ledgerlink.services.dialogue.ports import (
        BankMessageRepository,
        BankOutboxRepository,
        PromptRepository,
    )
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
    from ledgerlink.services.privacy.ports import (
        DpLedgerRepository,
        RetentionRepository,
        TreeHeadRepository,
    )
    from ledgerlink.services.receipts.merchant_link_ports import MerchantConsentRepository  # ADR 0031
    from ledgerlink.services.receipts.ports import ParcelRepository, ShopReceiptRepository  # issue 11


class UnitOfWork(Protocol):
    """One transaction. Events collected during the work are published after commit;
    `fresh` (messages written, with their views) goes to the process's `LiveFeed`."""

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
    bank_outbox: BankOutboxRepository  # bank dialogue
    bank_messages: BankMessageRepository  # bank dialogue
    reads: ThreadReadRepository  # read state
    digests: DigestRepository  # digests and held alerts
    matrix: MatrixRepository  # Matrix channel
    link_health: LinkHealthRepository  # connection health (message templates)
    sessions: SessionRepository  # sign-in sessions (ADR 0019)
    factors: FactorRepository  # second factors and the security log (ADR 0021)
    sign_in_steps: SignInStepRepository  # the second sign-in step, WebAuthn challenges (ADR 0021)
    imports: ImportRepository  # statement imports (ADR 0022)
    platforms: PlatformRepository  # Messenger and WhatsApp channels (ADR 0023)
    refresh: RefreshAttemptRepository  # refresh planner's attempt log (issue 10)
    insights: InsightRepository  # category corrections and budgets (issue 13)
    shop_receipts: ShopReceiptRepository  # receipts from merchants (issue 11)
    parcels: ParcelRepository  # pasted tracking numbers (issue 11)
    merchant_consents: MerchantConsentRepository  # linking a shop (ADR 0031)
    events: list[Event]
    fresh: list[tuple[str, MessageView]]

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, priority: bool = False, readonly: bool = False) -> UnitOfWork:
        """A new unit of work. `priority` jumps the queue for the single writer (ingest);
        `readonly` work never waits for writers and must not write."""
        ...
