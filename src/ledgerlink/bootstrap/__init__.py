"""The composition root: the only place that picks SQLite or PostgreSQL, the event bus, and
how the sandbox bank is reached. Tests call `bootstrap()` with overrides.

`bootstrap()` builds a `Container` (container.py: the workers' lifecycle), subscribes the
handlers to the bus (wiring.py) and embeds the sandbox banks (sandbox.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import structlog

from ledgerlink.adapters.auth import PyOtpCodes, SegnoQrCodes, WebAuthnPasskeys  # second factor
from ledgerlink.adapters.banks.openbanking import OpenBankingConnector
from ledgerlink.adapters.channels import SmtpChannel, WebhookChannel
from ledgerlink.adapters.channels.matrix import NioMatrixClient  # Matrix channel
from ledgerlink.adapters.channels.outbound import OutboundPolicy, Resolver
from ledgerlink.adapters.charts.pygal_charts import PygalCharts  # charts (issue 13)
from ledgerlink.adapters.checkpoints import CHECKPOINT_FILE, FileCheckpointLog
from ledgerlink.adapters.crypto import Argon2PasswordHasher, EnvelopeCrypto, MasterKeyFile
from ledgerlink.adapters.crypto.jws import JoseReceiptSigner
from ledgerlink.adapters.crypto.keystore import SqlKeyStore
from ledgerlink.adapters.crypto.partner_jws import PartnerJws, public_jwks
from ledgerlink.adapters.crypto.signing import SigningKeys
from ledgerlink.adapters.db.engine import create_engine
from ledgerlink.adapters.db.ingest_writer import inbox_writer
from ledgerlink.adapters.db.migrate import upgrade_async
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.adapters.dp import OpenDpMechanism
from ledgerlink.adapters.statements import StatementReader  # statement imports (ADR 0022)
from ledgerlink.adapters.throttle import LimitsRateLimiter
from ledgerlink.adapters.tls import tls_context  # one TLS context per process
from ledgerlink.adapters.webhooks import StandardWebhooksSigner, StandardWebhooksVerifier
from ledgerlink.bootstrap.container import Container
from ledgerlink.bootstrap.platforms import build_platforms  # Messenger, WhatsApp (ADR 0023)
from ledgerlink.bootstrap.providers import build_providers  # bank-data providers (issue 10)
from ledgerlink.bootstrap.sandbox import (
    SANDBOX_BANKS,
    SANDBOX_PARTNER_ID,
    SANDBOX_PARTNER_NAME,
    SANDBOX_PARTNER_SLUG,
    SandboxBankSpec,
    SandboxCredentials,
    build_bistro_app,  # issue 11: the restaurant Harbor Bistro (tips)
    build_carrier_app,  # issue 11
    build_market_app,  # issue 11: the marketplace Harbor Market
    build_sandbox_app,
    build_shop_app,  # issue 11
    shop_webhook_secret,  # issue 11: shared with `ledgerlink sandbox-merchant` through the data dir
)
from ledgerlink.bootstrap.scaleout import (  # scale-out profile (issue 12)
    cluster_schedule,
    event_bus,
    key_store,
    parse_roles,
    wire_invalidations,
    wire_live,
)
from ledgerlink.bootstrap.wiring import _wire
from ledgerlink.config import Settings
from ledgerlink.domain.checkpoint import origin_for
from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.auth.factors import SecondFactors  # second factor (ADR 0021)

# declines and prompts register the bank events they apply (services/ingest/account_events.py)
from ledgerlink.services.dialogue import declines, prompts, replies  # noqa: F401
from ledgerlink.services.dialogue.bank_dialogue import BankOutboxWorker
from ledgerlink.services.imports.importer import StatementImporter  # statement imports (ADR 0022)
from ledgerlink.services.ingest.inbox import InboxWorker, Ingest
from ledgerlink.services.ingest.sync import SyncScheduler, sync_account
from ledgerlink.services.insights.spending import Spending  # the Spending page (issue 13)
from ledgerlink.services.kernel.bus import EventBus
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord, PasswordHasher, RateLimiter
from ledgerlink.services.linking.ports import BankConnector, BankError
from ledgerlink.services.linking.refresh_worker import RefreshWorker  # refresh budgets (issue 10)
from ledgerlink.services.messaging.channel_ports import Channel
from ledgerlink.services.messaging.channels import ChannelWorker
from ledgerlink.services.messaging.matrix_channel import MatrixChannel  # Matrix channel
from ledgerlink.services.messaging.matrix_inbound import MatrixInbound  # Matrix channel
from ledgerlink.services.privacy.aggregates import hash_api_key
from ledgerlink.services.questions import commands

__all__ = [
    "SANDBOX_BANKS",
    "SANDBOX_PARTNER_ID",
    "SANDBOX_PARTNER_NAME",
    "SANDBOX_PARTNER_SLUG",
    "Container",
    "SandboxBankSpec",
    "SandboxCredentials",
    "StaticBankDirectory",
    "bootstrap",
    "build_sandbox_app",
]

log = structlog.get_logger(__name__)


async def _sync_for_refresh(deps: Deps, account_id: str, on_error: Callable[[BankError], None]) -> int:
    return await sync_account(deps, account_id, on_error=on_error)  # refresh budgets (issue 10)


class StaticBankDirectory:
    def __init__(self, connectors: dict[str, BankConnector]) -> None:
        self._connectors = connectors

    def connector(self, partner_id: str) -> BankConnector:
        return self._connectors[partner_id]


async def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    bus: EventBus | None = None,
    http: httpx.AsyncClient | None = None,
    hasher: PasswordHasher | None = None,
    migrate: bool = True,
    resolver: Resolver | None = None,
    limiter: RateLimiter | None = None,
) -> Container:
    """Build everything from settings. Nothing is built at import time. `resolver`: how
    outbound destinations' names are resolved (default: the system's; tests play DNS)."""
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db_url = settings.resolved_database_url
    if migrate:
        await upgrade_async(db_url)
    engine = create_engine(db_url)
    if engine.dialect.name == "sqlite":
        # aiosqlite runs each statement on a worker thread, which must take the GIL back from
        # the busy event loop: with the default 5 ms switch interval every hop can wait 5 ms
        # (measured: a 3-statement commit held the writer for 25 ms). 0.25 ms keeps hops short.
        sys.setswitchinterval(0.00025)
    crypto = EnvelopeCrypto(MasterKeyFile(settings.resolved_master_key_file, clock=clock))
    uow_factory = SqlUnitOfWorkFactory(engine)
    keystore = SqlKeyStore(settings.resolved_keystore_url)
    await keystore.open()
    owns_http = http is None
    http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0), verify=tls_context())
    banks = [(SANDBOX_BANKS[0], settings.resolved_sandbox_url)]
    if settings.second_sandbox_bank:
        banks.append((SANDBOX_BANKS[1], settings.resolved_second_sandbox_url))
    registrations = [
        (spec, bank_url, SandboxCredentials.load_or_create(settings.data_dir / spec.credentials_file))
        for spec, bank_url in banks
    ]
    creds = registrations[0][2]
    connectors: dict[str, BankConnector] = {
        spec.partner_id: OpenBankingConnector(
            issuer=bank_url, client_id=c.client_id, client_secret=c.client_secret, http=http, clock=clock
        )
        for spec, bank_url, c in registrations
    }
    providers = build_providers(settings, clock=clock, http=http)  # bank-data providers (issue 10)
    connectors.update(providers.connectors)
    bus = bus or event_bus(settings, engine, uow_factory, clock)  # in-process, or NATS (issue 12)
    deps = Deps(
        uow=uow_factory,
        bus=bus,
        vault=Vault(crypto, key_store(bus, keystore)),  # scale-out: tells all processes (ADR 0029)
        clock=clock,
        banks=StaticBankDirectory(connectors),
        hasher=hasher or Argon2PasswordHasher(),
        verifier=StandardWebhooksVerifier(clock=clock),
        signer=SigningKeys(settings.data_dir / "signing.key", clock=clock),
        public_url=settings.resolved_public_url,
        link_duration_days=settings.link_duration_days,
        dp=OpenDpMechanism(),
    )
    outbound = OutboundPolicy(allow_loopback=settings.outbound_allow_loopback, resolver=resolver)
    deps.outbound = outbound
    deps.limiter = limiter or LimitsRateLimiter()  # in memory: one process (ADR 0019)
    deps.checkpoints = FileCheckpointLog(  # every signed tree head, also outside the database
        settings.data_dir / CHECKPOINT_FILE, default_origin=origin_for(settings.resolved_public_url)
    )
    deps.receipts_jws = JoseReceiptSigner(deps.signer)  # same key file, same key ids as the JWKS
    deps.partner_jws = PartnerJws(deps.signer)
    async with deps.uow() as uow:
        for spec, bank_url, c in registrations:
            await uow.partners.upsert(
                PartnerRecord(
                    id=spec.partner_id,
                    slug=spec.slug,
                    name=spec.name,
                    kind="bank",
                    webhook_secrets=[c.webhook_secret],
                    created_at=datetime.now(UTC),
                    issuer=bank_url,
                    jwks=public_jwks(c.signing_key_pem.encode()),
                )
            )
            stored = await uow.partners.get(spec.partner_id)
            if stored is not None and stored.api_key_hash is None:
                # First start: the sandbox bank's registration file holds its partner API key.
                # A key issued later with `ledgerlink partners api-key` replaces it and is kept.
                await uow.partners.set_api_key_hash(spec.partner_id, hash_api_key(c.partner_api_key))
        for provider in providers.partners:  # bank-data providers (issue 10)
            await uow.partners.upsert(provider)
        await uow.commit()
    refresh_worker = RefreshWorker(deps, partners=providers.kinds, sync=_sync_for_refresh)  # issue 10
    scheduler = SyncScheduler(deps, min_interval=settings.sync_min_interval_seconds,
                              runner=refresh_worker.run)
    roles = parse_roles(settings.roles)  # what this process runs (issue 12): Container.start
    # Only a process that applies the inbox keeps what it stored opened for itself.
    ingest = Ingest(deps, writer=inbox_writer(db_url, uow_factory), hold=4096 if "worker" in roles else 0)
    container = Container(
        roles=roles,
        settings=settings,
        deps=deps,
        engine=engine,
        ingest=ingest,
        inbox_worker=InboxWorker(deps, pressure=lambda: ingest.in_flight, stored=ingest.take_stored),
        scheduler=scheduler,
        http=http,
        sandbox_credentials=creds,
        keystore=keystore,
        _owns_http=owns_http,
    )
    container.second_factors = SecondFactors(deps, totp=PyOtpCodes(), qr=SegnoQrCodes(),  # ADR 0021
                                             passkeys=WebAuthnPasskeys())
    # Statement imports (ADR 0022): entries older than the purger keeps are not stored.
    keep_days = settings.retention_transactions_days if settings.retention_interval_seconds > 0 else 0
    container.imports = StatementImporter(deps, StatementReader(), keep_days=keep_days)
    container.webhook_channel = WebhookChannel(StandardWebhooksSigner(), clock, outbound)
    adapters: dict[str, Channel] = {"webhook": container.webhook_channel}
    if settings.smtp_host:
        adapters["email"] = SmtpChannel(settings.smtp_host, settings.smtp_port, settings.smtp_sender)
    if settings.matrix_enabled and settings.matrix_homeserver and settings.matrix_user:  # Matrix channel
        password = settings.matrix_password
        container.matrix_client = NioMatrixClient(
            settings.matrix_homeserver, settings.matrix_user, session_file=settings.matrix_session_file,
            password=None if password is None else password.get_secret_value(),
        )
        adapters["matrix"] = MatrixChannel(deps, container.matrix_client)
        container.matrix_inbound = MatrixInbound(
            deps, container.matrix_client, handle_text=commands.handle_text, replies=replies.Replies(),
            timeout_seconds=settings.matrix_sync_timeout_seconds)
    platforms = build_platforms(settings, deps, http, handle_text=commands.handle_text,  # Messenger, WhatsApp
                                answer=replies.answer)  # bank prompts and receipt questions
    adapters.update(platforms.channels)
    container.platform_channels, container.platform_gates = platforms.channels, platforms.gates
    container.platform_inbound, container.graph_simulator_app = platforms.inbound, platforms.simulator_app
    container.channel_worker = ChannelWorker(deps, adapters)
    deps.channel_kinds = container.channel_worker.kinds  # rows are queued with each message
    container.bank_outbox = BankOutboxWorker(deps)
    container.provider_simulator_apps = providers.simulator_apps  # bank-data providers (issue 10)
    container.refresh_worker = refresh_worker
    container.spending = Spending(deps, PygalCharts())  # charts, Spending page (issue 13)
    _wire(container)
    container.schedule = cluster_schedule(settings, container)  # once across workers (ADR 0029)
    wire_invalidations(container)  # what one process caches, all forget (ADR 0029)
    wire_live(container)  # live frames reach the gateway holding the WebSocket (ADR 0032)
    if settings.embedded_sandbox:
        for spec, bank_url, c in registrations:
            app = build_sandbox_app(settings, c, clock=clock, bank=spec, url=bank_url)
            container.sandbox_apps[spec.partner_id] = app
        container.sandbox_app = container.sandbox_apps[SANDBOX_PARTNER_ID]
    _receipts(settings, container)  # receipts from merchants (issue 11)
    return container


def _receipts(settings: Settings, container: Container) -> None:
    """Receipts from merchants (issue 11): the merchant partner, its event handler, and the
    embedded sandbox shop paying through the embedded sandbox bank's purchase hook."""
    import secrets as _secrets

    from ledgerlink.bootstrap.merchant_links import wire_merchant_links
    from ledgerlink.domain.events import TransactionChanged
    from ledgerlink.services.receipts.service import MerchantPartner, Receipts

    secret = shop_webhook_secret(settings.data_dir, "acme")  # the embedded shop's, or its own process's
    harbor = shop_webhook_secret(settings.data_dir, "harbor")  # the marketplace Harbor Market's
    bistro = shop_webhook_secret(settings.data_dir, "bistro")  # the restaurant Harbor Bistro's
    container.receipts = Receipts(container.deps, [MerchantPartner("acme", "Acme Outfitters", (secret,)),
                                                   MerchantPartner("harbor", "Harbor Market", (harbor,)),
                                                   MerchantPartner("bistro", "Harbor Bistro", (bistro,))])
    container.deps.receipts = container.receipts  # its questions answered from every channel
    container.deps.bus.subscribe(TransactionChanged, container.receipts.on_transaction_changed)
    container.deps.card_extras.append(container.receipts.card_extras)  # delivery's edits keep it
    from ledgerlink.adapters.receipts_markup import read_mail
    from ledgerlink.services.receipts.emails import ReceiptMail

    container.receipt_mail = ReceiptMail(container.deps, container.receipts, read=read_mail,
                                         domain=settings.receipt_mail_domain)
    container.deps.receipt_address = container.receipt_mail.address  # chat and the settings page
    if settings.receipt_mail_port is not None:  # the inbound SMTP listener, started with the container
        from ledgerlink.adapters.mail_inbound import MailListener

        container.mail_listener = MailListener(
            container.receipt_mail.recipient, container.receipt_mail.deliver, host=settings.receipt_mail_host,
            port=settings.receipt_mail_port, max_bytes=settings.receipt_mail_max_bytes,
            hostname=settings.receipt_mail_domain)
    oauth_secret = _secrets.token_urlsafe(32) if container.sandbox_app is not None else None  # ADR 0031
    wire_merchant_links(settings, container, client_secret=oauth_secret)
    if container.sandbox_app is not None:
        container.shop_app = build_shop_app(settings, secret=secret, bank=container.sandbox,
                                            clock=container.deps.clock, oauth_secret=oauth_secret)
        container.market_app = build_market_app(settings, secret=harbor, bank=container.sandbox,
                                                clock=container.deps.clock, oauth_secret=oauth_secret)
        container.bistro_app = build_bistro_app(settings, secret=bistro, bank=container.sandbox,
                                                clock=container.deps.clock, oauth_secret=oauth_secret)
        from ledgerlink.adapters.carrier_http import HttpCarrierClient

        container.carrier_app = build_carrier_app(clock=container.deps.clock)  # pasted numbers followed
        carrier_url = f"{settings.resolved_public_url}/sandbox/carrier"
        from ledgerlink.bootstrap.carrier_push import wire_carrier_push  # pushed updates, when on

        container.deps.carrier = HttpCarrierClient(container.http, carrier_url,
                                                   **wire_carrier_push(settings, container))
