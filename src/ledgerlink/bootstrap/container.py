"""The running platform: what `bootstrap()` built, and its lifecycle (start the workers and
periodic tasks, drain them in tests, stop and release everything)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerlink.adapters.channels.webhook import WebhookChannel
from ledgerlink.adapters.crypto.keystore import SqlKeyStore
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.bootstrap.sandbox import SANDBOX_BANKS, SandboxCredentials
from ledgerlink.bootstrap.scaleout import ROLES  # --role (issue 12)
from ledgerlink.config import Settings
from ledgerlink.services.alerts import digests
from ledgerlink.services.auth.factors import SecondFactors
from ledgerlink.services.dialogue import prompts
from ledgerlink.services.dialogue.bank_dialogue import BankOutboxWorker
from ledgerlink.services.imports.importer import StatementImporter  # statement imports
from ledgerlink.services.ingest.inbox import InboxWorker, Ingest
from ledgerlink.services.ingest.sync import SyncScheduler
from ledgerlink.services.insights.spending import Spending  # charts, Spending page (issue 13)
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking import consent_expiry
from ledgerlink.services.linking.refresh_worker import RefreshWorker  # issue 10
from ledgerlink.services.messaging.channel_ports import MatrixClient
from ledgerlink.services.messaging.channels import ChannelWorker
from ledgerlink.services.messaging.matrix_inbound import MatrixInbound  # Matrix channel
from ledgerlink.services.messaging.platform_channels import PlatformChannel  # Messenger, WhatsApp
from ledgerlink.services.messaging.platform_inbound import PlatformInbound
from ledgerlink.services.messaging.platform_ports import WebhookGate
from ledgerlink.services.privacy import audit, retention
from ledgerlink.services.privacy.retention import RetentionPolicy
from ledgerlink.services.receipts import parcels  # followed parcels (issue 11)

log = structlog.get_logger(__name__)

def _alive(task: asyncio.Task[None] | None) -> bool:
    return task is not None and not task.done()


def _bus_running(bus: Any) -> set[str]:
    """The scale-out bus's own loops: its durable consumers and the outbox relay (JetStreamBus)."""
    names = set()
    if any(_alive(c.task) for c in getattr(bus, "_consumers", {}).values()):
        names.add("consumers")
    relay = getattr(bus, "relay", None)
    if relay is not None and _alive(getattr(relay, "_task", None)):
        names.add("relay")
    return names


@dataclass
class Container:
    settings: Settings
    deps: Deps
    engine: AsyncEngine
    ingest: Ingest
    inbox_worker: InboxWorker
    scheduler: SyncScheduler
    http: httpx.AsyncClient
    sandbox_credentials: SandboxCredentials
    keystore: SqlKeyStore
    sandbox_app: Any = None  # the embedded sandbox bank's ASGI app, when embedded
    sandbox_apps: dict[str, Any] = field(default_factory=dict)  # partner id -> embedded bank app
    bank_outbox: BankOutboxWorker | None = None  # signed requests to banks (bank dialogue)
    channel_worker: ChannelWorker | None = None  # webhook and email channels
    webhook_channel: WebhookChannel | None = None  # owns its public-only HTTP client (ADR 0018)
    matrix_client: MatrixClient | None = None  # Matrix channel: the bot, when configured
    matrix_inbound: MatrixInbound | None = None  # Matrix channel: the bot's sync loop
    # Messenger and WhatsApp (ADR 0023): the channels, their webhook gates, the inbound worker,
    # and the Graph API simulator's app when it stands in for Meta (mounted at /sandbox/graph).
    platform_channels: dict[str, PlatformChannel] = field(default_factory=dict)
    platform_gates: dict[str, WebhookGate] = field(default_factory=dict)
    platform_inbound: PlatformInbound | None = None
    graph_simulator_app: Any = None
    imports: StatementImporter | None = None  # statement files in (ADR 0022)
    second_factors: SecondFactors | None = None  # passkeys, TOTP, recovery codes (ADR 0021)
    provider_simulator_apps: dict[str, Any] = field(default_factory=dict)  # issue 10: path -> app
    refresh_worker: RefreshWorker | None = None  # provider refresh budgets (issue 10)
    spending: Spending | None = None  # the Spending page and its charts (issue 13)
    receipts: Any = None  # receipts from merchants (issue 11): services.receipts.service.Receipts
    shop_app: Any = None  # the embedded sandbox shop (issue 11), mounted at /sandbox/shop
    market_app: Any = None  # the embedded marketplace Harbor Market (issue 11), at /sandbox/market
    bistro_app: Any = None  # the embedded restaurant Harbor Bistro (issue 11), at /sandbox/bistro
    carrier_app: Any = None  # the embedded sandbox carrier (issue 11), mounted at /sandbox/carrier
    carrier_events: Any = None  # its pushed tracking updates: services.receipts.carrier_events.CarrierEvents
    receipt_mail: Any = None  # receipt emails (issue 11): services.receipts.emails.ReceiptMail
    merchant_links: Any = None  # linking a shop (ADR 0031): services.receipts.merchant_link.MerchantLinks
    merchant_sync: Any = None  # its orders-feed sync: services.receipts.merchant_sync.MerchantSync
    mail_listener: Any = None  # its inbound SMTP listener (adapters.mail_inbound), when a port is set
    schedule: Any = None  # scale-out (ADR 0029): periodic jobs once across workers (ClusterSchedule)
    roles: frozenset[str] = frozenset(ROLES)  # what this process runs (issue 12): api, worker, gateway
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _owns_http: bool = True

    @property
    def sandbox(self) -> Any:
        """The embedded sandbox bank's state (test hooks: purchase, post, ...)."""
        return None if self.sandbox_app is None else self.sandbox_app.state.bank

    @property
    def graph(self) -> Any:
        """The Graph API simulator (`GraphSim`: test hooks), when it stands in for Meta."""
        return None if self.graph_simulator_app is None else self.graph_simulator_app.state.graph

    @property
    def sandbox2(self) -> Any:
        """The second embedded sandbox bank (Harbor Credit Union), when it runs."""
        app = self.sandbox_apps.get(SANDBOX_BANKS[1].partner_id)
        return None if app is None else app.state.bank

    async def start(self) -> None:
        """Start what this process's roles run (issue 12; `roles`, from `settings.roles`): the
        bus in every role (the api publishes through the outbox, the gateway watches the live
        subjects); `api` the front doors with their own loops (the inbound mail listener, the
        Graph simulator standing in for Meta); `worker` every worker and periodic task (inbox
        apply, channel sender, Matrix sync, bank outbox, the schedules). `all`: everything."""
        bus = self.deps.bus
        start = getattr(bus, "start", None)
        if start is not None:
            await start()
        if "api" in self.roles:
            if self.graph is not None:  # Messenger, WhatsApp: the simulator, when it stands in
                await self.graph.start()
            if self.mail_listener is not None:  # receipt emails (issue 11)
                await self.mail_listener.start()
            for shop_app in (self.shop_app, self.market_app):  # sandbox shops: parcels on the clock
                if shop_app is not None and shop_app.state.shop.config.simulate:
                    self._tasks.append(asyncio.create_task(shop_app.state.shop.run_clock(),
                                                           name=f"sandbox_shop:{shop_app.state.shop.config.slug}"))
        if "worker" in self.roles:
            self._start_workers()

    def running(self) -> frozenset[str]:
        """The background work running in this process now, by name (tests, operators)."""
        workers = {"inbox": self.inbox_worker, "channels": self.channel_worker,
                   "bank_outbox": self.bank_outbox, "matrix_inbound": self.matrix_inbound}
        names = {name for name, w in workers.items() if w is not None and _alive(getattr(w, "_task", None))}
        names |= {t.get_name() for t in self._tasks if not t.done()}
        if self.graph is not None and getattr(self.graph, "_started", False):
            names.add("graph_simulator")
        if self.mail_listener is not None and getattr(self.mail_listener, "_server", None) is not None:
            names.add("mail_listener")
        return frozenset(names | _bus_running(self.deps.bus))

    def _start_workers(self) -> None:
        """The worker role: whatever was stored but not applied or sent before a restart first."""
        self.inbox_worker.start()
        if self.channel_worker is not None:
            self.channel_worker.start()  # deliveries still pending before a restart
        if self.matrix_inbound is not None:  # Matrix channel: the bot's sync loop
            self.matrix_inbound.start()
        if self.bank_outbox is not None:
            self.bank_outbox.start()  # requests to banks still pending before a restart
        settings = self.settings
        if self.schedule is not None:  # scale-out (ADR 0029): the same jobs, once across workers
            self._tasks.append(asyncio.create_task(self.schedule.run(), name="schedule"))
            return
        periodic: list[tuple[str, float, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("prompts", settings.prompt_check_interval_seconds,
             lambda: prompts.run_checker(self.deps, settings.prompt_check_interval_seconds)),
            ("sync", settings.sync_interval_seconds, self._periodic_sync),
            ("consent_expiry", settings.consent_check_interval_seconds,
             lambda: consent_expiry.run_checker(self.deps, settings.consent_check_interval_seconds)),
            ("audit_sign", settings.audit_sign_interval_seconds,
             lambda: audit.run_signer(self.deps, settings.audit_sign_interval_seconds)),
            ("retention", settings.retention_interval_seconds, self._purger),
            ("digests", settings.digest_interval_seconds,
             lambda: digests.run_scheduler(self.deps, settings.digest_interval_seconds)),
            ("parcels", settings.parcel_poll_seconds,  # followed parcels (issue 11)
             lambda: parcels.run_poller(self.deps, settings.parcel_poll_seconds,
                                        tick=settings.schedule_tick_seconds)),
            ("carrier_push", settings.carrier_push_seconds if self.carrier_events else 0,  # the sandbox's own
             lambda: self.carrier_app.state.carrier.run(settings.carrier_push_seconds)),
            ("shop_sync", settings.shop_sync_seconds if self.merchant_sync else 0,  # ADR 0031
             lambda: self.merchant_sync.run_syncer(settings.shop_sync_seconds,
                                                   tick=settings.schedule_tick_seconds)),
        ]
        for name, interval, run in periodic:
            if interval > 0:
                self._tasks.append(asyncio.create_task(run(), name=f"periodic:{name}"))

    async def _purger(self) -> None:
        settings = self.settings
        policy = RetentionPolicy(
            inbox_days=settings.retention_inbox_days,
            transactions_days=settings.retention_transactions_days,
            messages_days=settings.retention_messages_days,
            abandoned_links_days=settings.retention_abandoned_links_days,
            receipts_days=settings.retention_receipts_days,
            batch_size=settings.retention_batch_size,
        )
        await retention.run_purger(self.deps, settings.retention_interval_seconds, policy=policy)

    async def _periodic_sync(self) -> None:
        while True:
            try:
                await self.scheduler.sync_all()
            except Exception:
                log.exception("periodic_sync_failed")
            await asyncio.sleep(self.settings.sync_interval_seconds)

    async def drain(self) -> None:
        """Until the bus and the sync scheduler are idle (tests)."""
        for _ in range(20):
            for app in self.sandbox_apps.values():
                await app.state.bank.webhooks.drain()
            await self.deps.bus.drain()
            await self.inbox_worker.drain()
            await self.deps.bus.drain()
            await self.scheduler.drain()
            await self.deps.bus.drain()
            if self.channel_worker is not None:
                await self.channel_worker.drain()
                await self.deps.bus.drain()
            if self.bank_outbox is not None:
                await self.bank_outbox.drain()
                await self.deps.bus.drain()
            for app in self.sandbox_apps.values():  # the banks' own messages to us
                await app.state.bank.messages.drain()
            await self.deps.bus.drain()
            await self._drain_platforms()
            if self.channel_worker is not None:
                await self.channel_worker.drain()
            if not self.scheduler._running:
                return

    async def _drain_platforms(self) -> None:
        """Messenger, WhatsApp: the simulator's deliveries and the events they brought."""
        for _ in range(5):
            if self.graph is not None:
                await self.graph.drain()
            if self.platform_inbound is not None:
                await self.platform_inbound.drain()
            await self.deps.bus.drain()
            if self.channel_worker is not None:
                await self.channel_worker.drain()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.mail_listener is not None:
            await self.mail_listener.stop()
        await self.ingest.stop()
        await self.inbox_worker.stop()
        if self.matrix_inbound is not None:  # Matrix channel
            await self.matrix_inbound.stop()
        if self.platform_inbound is not None:  # Messenger, WhatsApp
            await self.platform_inbound.stop()
        if self.graph is not None:
            await self.graph.stop()
        if self.channel_worker is not None:
            await self.channel_worker.stop()
        if self.webhook_channel is not None:
            await self.webhook_channel.aclose()
        if self.matrix_client is not None:  # Matrix channel
            await self.matrix_client.close()
        if self.bank_outbox is not None:
            await self.bank_outbox.stop()
        await self.scheduler.drain()
        stop = getattr(self.deps.bus, "stop", None)
        if stop is not None:
            await stop()
        if self._owns_http:
            await self.http.aclose()
        uow = self.deps.uow
        if isinstance(uow, SqlUnitOfWorkFactory):
            uow.dispose()
        await self.engine.dispose()
        await self.keystore.close()
