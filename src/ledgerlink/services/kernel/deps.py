"""The dependency container handed to every use case. Built once, in `ledgerlink.bootstrap`.

Like the unit of work, it names the ports of several capabilities for the type checker only
(ADR 0017): the kernel imports no capability at run time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledgerlink.domain.clock import Clock
from ledgerlink.domain.events import Event
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.kernel.bus import EventBus
from ledgerlink.services.kernel.ports import PasswordHasher, RateLimiter, Signer
from ledgerlink.services.kernel.uow import UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from ledgerlink.services.access.vault import Vault
    from ledgerlink.services.dialogue.ports import PartnerSigning
    from ledgerlink.services.ingest.ports import SignatureVerifier
    from ledgerlink.services.linking.ports import BankDirectory, ReceiptSigner
    from ledgerlink.services.linking.refresh_ports import AttendedRefresher
    from ledgerlink.services.messaging.channel_ports import OutboundGuard
    from ledgerlink.services.messaging.ports import LiveFeed
    from ledgerlink.services.privacy.ports import CheckpointLog, DpMechanism
    from ledgerlink.services.receipts.merchant_link import MerchantLinks
    from ledgerlink.services.receipts.ports import CarrierClient
    from ledgerlink.services.receipts.service import Receipts


# (uow, grant, transaction id, the card so far) -> fields a capability above ingest adds to that
# purchase card. `shown_on` (a transaction id) in them: this one is shown on that purchase's card
# instead of its own (a bank refund, issue 11), so delivery writes no card for it.
CardExtras = Callable[[UnitOfWork, Grant, str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class Deps:
    uow: UnitOfWorkFactory
    bus: EventBus
    vault: Vault
    clock: Clock
    banks: BankDirectory
    hasher: PasswordHasher
    verifier: SignatureVerifier
    signer: Signer
    public_url: str  # where people's browsers reach the platform, e.g. http://127.0.0.1:8000
    link_duration_days: int = 90
    receipts_jws: ReceiptSigner | None = None  # signs consent receipts (None: none issued)
    dp: DpMechanism | None = None  # differentially private aggregates (None: refused with 503)
    partner_jws: PartnerSigning | None = None  # signed requests to banks / bank messages (bank dialogue)
    # Per-link locks for work that must be single-flight in this process (token refresh).
    link_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    live: LiveFeed | None = None  # this process's live connections (set by the web app)
    channel_kinds: frozenset[str] = frozenset()  # extra channels this process can send to
    checkpoints: CheckpointLog | None = None  # signed tree heads outside the database (ADR 0020)
    limiter: RateLimiter | None = None  # throttle counts (kernel/throttle.py); None: unlimited
    outbound: OutboundGuard | None = None  # public destinations only (None: literal checks only)
    # What capabilities above ingest add to a purchase card when delivery (re)writes it, so no
    # edit drops it (receipts, issue 11): (uow, grant, transaction id) -> fields to merge in.
    card_extras: list[CardExtras] = field(default_factory=list)
    carrier: CarrierClient | None = None  # follows pasted tracking numbers (issue 11); None: not
    receipt_address: Callable[[Grant], Awaitable[str]] | None = None  # the person's receipt email address
    refresher: AttendedRefresher | None = None  # "refresh" in chat (issue 10); None: not offered
    shop_links: MerchantLinks | None = None  # "unlink my shop" in chat (ADR 0031); None: not offered
    # Answers "Is this your … order?" tapped or typed in Matrix, Messenger, WhatsApp (issue 11).
    receipts: Receipts | None = None

    async def commit_and_publish(self, uow: UnitOfWork) -> None:
        """Commit, then publish what the work collected: events never leave before the data."""
        await uow.commit()
        fresh, uow.fresh = uow.fresh, []
        if fresh and self.live is not None:
            self.live.written(fresh)  # before the events: the hub finds them when they arrive
        events: Sequence[Event] = list(uow.events)
        uow.events.clear()
        for event in events:
            await self.bus.publish(event)
