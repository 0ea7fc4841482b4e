"""The composition root: the only place that picks SQLite or PostgreSQL, the event bus, and
how the sandbox bank is reached. Tests call `bootstrap()` with overrides."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import secrets
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerlink.adapters.banks.openbanking import OpenBankingConnector
from ledgerlink.adapters.channels import SmtpChannel, WebhookChannel
from ledgerlink.adapters.channels.matrix import NioMatrixClient  # Matrix channel
from ledgerlink.adapters.crypto import Argon2PasswordHasher, EnvelopeCrypto, MasterKeyFile
from ledgerlink.adapters.crypto.jws import JoseReceiptSigner
from ledgerlink.adapters.crypto.keystore import SqlKeyStore
from ledgerlink.adapters.crypto.partner_jws import PartnerJws, new_ed25519_pem, public_jwks
from ledgerlink.adapters.crypto.signing import SigningKeys
from ledgerlink.adapters.db.engine import create_engine
from ledgerlink.adapters.db.inbox_writer import inbox_writer
from ledgerlink.adapters.db.migrate import upgrade_async
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.adapters.dp import OpenDpMechanism
from ledgerlink.adapters.events import InProcessBus
from ledgerlink.adapters.webhooks import StandardWebhooksSigner, StandardWebhooksVerifier
from ledgerlink.config import Settings
from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.domain.events import (
    AccountSyncRequested,
    BalanceChanged,
    BankEventsReceived,
    BankRequestQueued,
    ChannelDeliveriesQueued,
    ChannelRemoved,
    LinkRevoked,
    TransactionChanged,
)
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.alerts import digests

# declines and prompts register the bank events they apply (services/ingest/account_events.py)
from ledgerlink.services.dialogue import declines, prompts  # noqa: F401
from ledgerlink.services.dialogue.bank_dialogue import BankOutboxWorker
from ledgerlink.services.ingest import delivery
from ledgerlink.services.ingest.inbox import InboxWorker, Ingest
from ledgerlink.services.ingest.sync import SyncScheduler
from ledgerlink.services.kernel.bus import EventBus
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord, PasswordHasher
from ledgerlink.services.linking import consent_expiry
from ledgerlink.services.linking.ports import BankConnector
from ledgerlink.services.messaging.channel_ports import Channel, MatrixClient
from ledgerlink.services.messaging.channels import ChannelWorker
from ledgerlink.services.messaging.matrix_channel import MatrixChannel  # Matrix channel
from ledgerlink.services.messaging.matrix_inbound import MatrixInbound  # Matrix channel
from ledgerlink.services.privacy import audit, retention
from ledgerlink.services.privacy.aggregates import API_KEY_PREFIX, hash_api_key
from ledgerlink.services.privacy.retention import RetentionPolicy
from ledgerlink.services.questions import commands

log = structlog.get_logger(__name__)

SANDBOX_PARTNER_ID = "ptn_sandbox_bank"
SANDBOX_PARTNER_SLUG = "sandbox-bank"
SANDBOX_PARTNER_NAME = "Sandbox Bank"


@dataclass(frozen=True)
class SandboxBankSpec:
    """One built-in sandbox bank: its partner registration and where its shared file lives."""

    partner_id: str
    slug: str
    name: str
    credentials_file: str
    seed_offset: int


SANDBOX_BANKS = (
    SandboxBankSpec(SANDBOX_PARTNER_ID, SANDBOX_PARTNER_SLUG, SANDBOX_PARTNER_NAME, "sandbox-client.json", 0),
    SandboxBankSpec("ptn_harbor_cu", "harbor-credit-union", "Harbor Credit Union", "harbor-client.json", 1),
)


@dataclass(frozen=True)
class SandboxCredentials:
    """What the platform and the sandbox bank share, like a real partner registration."""

    client_id: str
    client_secret: str
    webhook_secret: str
    admin_token: str
    # Bank dialogue (docs/bank-dialogue.md): the bank's Ed25519 key (the platform keeps only the
    # public half in its partner registration) and the bank's partner API key (stored hashed).
    signing_key_pem: str = ""
    partner_api_key: str = ""

    @classmethod
    def _fresh(cls) -> dict[str, str]:
        return {
            "client_id": "ledgerlink",
            "client_secret": secrets.token_urlsafe(32),
            "webhook_secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "admin_token": secrets.token_urlsafe(24),
            "signing_key_pem": new_ed25519_pem(),
            "partner_api_key": API_KEY_PREFIX + secrets.token_urlsafe(32),
        }

    @classmethod
    def load_or_create(cls, path: Path) -> SandboxCredentials:
        """The registration file, created (0600) on first use; a file from before a field
        existed gets that field added. Keys are generated only when missing."""
        fields = [f.name for f in dataclasses.fields(cls)]
        if not path.exists():
            creds = cls(**cls._fresh())
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(creds.__dict__, fh)
            return creds
        stored = json.loads(path.read_text())
        if all(name in stored for name in fields):
            return cls(**{name: stored[name] for name in fields})
        creds = cls(**{**cls._fresh(), **{k: v for k, v in stored.items() if k in fields}})
        creds._rewrite(path)
        return creds

    def _rewrite(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.__dict__, fh)
        os.replace(tmp, path)

    @classmethod
    def replace_partner_api_key(cls, path: Path, api_key: str) -> None:
        """A key issued with `ledgerlink partners api-key` for a built-in bank: the embedded
        bank uses it from its next start (its registration file is rewritten, 0600)."""
        creds = cls.load_or_create(path)
        replace(creds, partner_api_key=api_key)._rewrite(path)


class StaticBankDirectory:
    def __init__(self, connectors: dict[str, BankConnector]) -> None:
        self._connectors = connectors

    def connector(self, partner_id: str) -> BankConnector:
        return self._connectors[partner_id]


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
    matrix_client: MatrixClient | None = None  # Matrix channel: the bot, when configured
    matrix_inbound: MatrixInbound | None = None  # Matrix channel: the bot's sync loop
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _owns_http: bool = True

    @property
    def sandbox(self) -> Any:
        """The embedded sandbox bank's state (test hooks: purchase, post, ...)."""
        return None if self.sandbox_app is None else self.sandbox_app.state.bank

    @property
    def sandbox2(self) -> Any:
        """The second embedded sandbox bank (Harbor Credit Union), when it runs."""
        app = self.sandbox_apps.get(SANDBOX_BANKS[1].partner_id)
        return None if app is None else app.state.bank

    async def start(self) -> None:
        bus = self.deps.bus
        start = getattr(bus, "start", None)
        if start is not None:
            await start()
        self.inbox_worker.start()  # whatever was stored but not applied before a restart
        if self.channel_worker is not None:
            self.channel_worker.start()  # deliveries still pending before a restart
        if self.matrix_inbound is not None:  # Matrix channel
            self.matrix_inbound.start()
        if self.bank_outbox is not None:
            self.bank_outbox.start()  # requests to banks still pending before a restart
        settings = self.settings
        if settings.prompt_check_interval_seconds > 0:
            self._tasks.append(asyncio.create_task(
                prompts.run_checker(self.deps, settings.prompt_check_interval_seconds)
            ))
        if settings.sync_interval_seconds > 0:
            self._tasks.append(asyncio.create_task(self._periodic_sync()))
        if settings.consent_check_interval_seconds > 0:
            self._tasks.append(asyncio.create_task(
                consent_expiry.run_checker(self.deps, settings.consent_check_interval_seconds)
            ))
        if settings.audit_sign_interval_seconds > 0:
            self._tasks.append(
                asyncio.create_task(audit.run_signer(self.deps, settings.audit_sign_interval_seconds))
            )
        if settings.retention_interval_seconds > 0:
            policy = RetentionPolicy(
                inbox_days=settings.retention_inbox_days,
                transactions_days=settings.retention_transactions_days,
                messages_days=settings.retention_messages_days,
                abandoned_links_days=settings.retention_abandoned_links_days,
                batch_size=settings.retention_batch_size,
            )
            self._tasks.append(asyncio.create_task(
                retention.run_purger(self.deps, settings.retention_interval_seconds, policy=policy)
            ))
        if settings.digest_interval_seconds > 0:
            self._tasks.append(asyncio.create_task(
                digests.run_scheduler(self.deps, settings.digest_interval_seconds)
            ))

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
            if self.channel_worker is not None:
                await self.channel_worker.drain()
            if not self.scheduler._running:
                return

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.ingest.stop()
        await self.inbox_worker.stop()
        if self.matrix_inbound is not None:  # Matrix channel
            await self.matrix_inbound.stop()
        if self.channel_worker is not None:
            await self.channel_worker.stop()
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


async def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    bus: EventBus | None = None,
    http: httpx.AsyncClient | None = None,
    hasher: PasswordHasher | None = None,
    migrate: bool = True,
) -> Container:
    """Build everything from settings. Nothing is built at import time."""
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
    http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0))
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
    deps = Deps(
        uow=uow_factory,
        bus=bus or InProcessBus(),
        vault=Vault(crypto, keystore),
        clock=clock,
        banks=StaticBankDirectory(connectors),
        hasher=hasher or Argon2PasswordHasher(),
        verifier=StandardWebhooksVerifier(clock=clock),
        signer=SigningKeys(settings.data_dir / "signing.key", clock=clock),
        public_url=settings.resolved_public_url,
        link_duration_days=settings.link_duration_days,
        dp=OpenDpMechanism(),
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
        await uow.commit()
    scheduler = SyncScheduler(deps, min_interval=settings.sync_min_interval_seconds)
    ingest = Ingest(deps, writer=inbox_writer(db_url, uow_factory))
    container = Container(
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
    adapters: dict[str, Channel] = {"webhook": WebhookChannel(http, StandardWebhooksSigner(), clock)}
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
            deps, container.matrix_client, handle_text=commands.handle_text, replies=prompts.Replies(),
            timeout_seconds=settings.matrix_sync_timeout_seconds)
    container.channel_worker = ChannelWorker(deps, adapters)
    deps.channel_kinds = container.channel_worker.kinds  # rows are queued with each message
    container.bank_outbox = BankOutboxWorker(deps)
    _wire(container)
    if settings.embedded_sandbox:
        for spec, bank_url, c in registrations:
            app = build_sandbox_app(settings, c, clock=clock, bank=spec, url=bank_url)
            container.sandbox_apps[spec.partner_id] = app
        container.sandbox_app = container.sandbox_apps[SANDBOX_PARTNER_ID]
    return container


def _wire(container: Container) -> None:
    deps = container.deps

    async def on_transaction(event: TransactionChanged) -> None:
        await delivery.on_transaction_changed(deps, event)

    async def on_balance(event: BalanceChanged) -> None:
        await delivery.on_balance_changed(deps, event)

    deps.bus.subscribe(BankEventsReceived, container.inbox_worker.on_event)
    deps.bus.subscribe(LinkRevoked, container.ingest.on_link_revoked)
    deps.bus.subscribe(TransactionChanged, on_transaction)
    deps.bus.subscribe(BalanceChanged, on_balance)
    deps.bus.subscribe(AccountSyncRequested, container.scheduler.on_requested)
    if container.bank_outbox is not None:
        deps.bus.subscribe(BankRequestQueued, container.bank_outbox.on_queued)
    if container.channel_worker is not None:
        deps.bus.subscribe(ChannelDeliveriesQueued, container.channel_worker.on_queued)
        deps.bus.subscribe(ChannelRemoved, container.channel_worker.on_removed)


def build_sandbox_app(
    settings: Settings,
    creds: SandboxCredentials,
    *,
    clock: Clock,
    http: httpx.AsyncClient | None = None,
    bank: SandboxBankSpec = SANDBOX_BANKS[0],
    url: str | None = None,
) -> Any:
    from ledgerlink.sandbox import OAuthClientConfig, SandboxConfig, create_sandbox_app

    platform = settings.resolved_public_url
    config = SandboxConfig(
        public_url=url or settings.resolved_sandbox_url,
        name=bank.name,
        signing_key_pem=creds.signing_key_pem.encode() or None,
        seed=settings.sandbox_seed + bank.seed_offset,
        speed=settings.sandbox_speed,
        simulate=settings.sandbox_simulate,
        admin_token=creds.admin_token,
        clients=[
            OAuthClientConfig(
                client_id=creds.client_id,
                client_secret=creds.client_secret,
                redirect_uris=[f"{settings.resolved_public_url}/link/callback"],
                webhook_secret=creds.webhook_secret,
                jwks_uri=f"{platform}/.well-known/jwks.json",
                messages_url=f"{platform}/partner-api/v1/messages",
                api_key=creds.partner_api_key or None,
            )
        ],
        clock=clock,
        http=http,
    )
    return create_sandbox_app(config)
