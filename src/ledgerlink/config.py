"""Settings, from the environment (LEDGERLINK_*) and the command line. No secrets in here:
secrets live in files inside the data directory, created on first run with 0600."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERLINK_", extra="ignore")

    data_dir: Path = Field(default=Path(".ledgerlink"), description="where the database and key files live")
    database_url: str | None = Field(default=None, description="default: SQLite in data_dir")
    master_key_file: Path | None = Field(default=None, description="default: data_dir/master.key")
    keystore_url: str | None = Field(
        default=None, description="where per-person data keys live; default: SQLite data_dir/keys.db"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(default=None, description="default: http://host:port")

    embedded_sandbox: bool = Field(default=True, description="run the sandbox bank in this process")
    sandbox_port: int | None = Field(default=None, description="default: port + 1")
    sandbox_url: str | None = Field(default=None, description="an external sandbox bank's base URL")
    sandbox_seed: int = 42
    sandbox_speed: float = 1.0
    sandbox_simulate: bool = True
    # A second built-in bank (Harbor Credit Union), so two banks can be linked at once.
    second_sandbox_bank: bool = Field(default=True, description="run a second embedded sandbox bank")
    second_sandbox_port: int | None = Field(default=None, description="default: port + 2")
    second_sandbox_url: str | None = Field(default=None, description="the second sandbox bank's base URL")
    prompt_check_interval_seconds: float = Field(
        default=30.0, ge=0, description="how often fraud prompts are reminded or closed; 0 = off"
    )

    link_duration_days: int = 90
    sync_interval_seconds: float = Field(default=300.0, description="periodic reconciliation; 0 = off")
    sync_min_interval_seconds: float = Field(
        default=5.0, description="at most one event-triggered sync per account per this many seconds"
    )
    log_level: str = "info"

    # Retention (docs/privacy.md "Retention"): days kept; 0 = keep forever.
    retention_inbox_days: int = Field(default=30, ge=0, description="bank event payloads, after processing")
    retention_transactions_days: int = Field(default=730, ge=0, description="after the booking date")
    retention_messages_days: int = Field(default=730, ge=0, description="after the last edit")
    retention_abandoned_links_days: int = Field(default=7, ge=0, description="unfinished consent flows")
    retention_receipts_days: int = Field(default=730, ge=0,
                                         description="shop orders and parcels, after the last change")
    retention_batch_size: int = Field(default=500, ge=1, description="rows deleted per statement")
    consent_check_interval_seconds: float = Field(
        default=3600.0, ge=0, description="how often consents are checked for expiry; 0 = off"
    )
    audit_sign_interval_seconds: float = Field(
        default=60.0, ge=0, description="how often a new audit tree head is signed; 0 = off"
    )
    retention_interval_seconds: float = Field(default=3600.0, ge=0, description="purge period; 0 = off")

    # Digests (docs/messenger.md "Digests"): how often due digests and held alerts are looked for.
    digest_interval_seconds: float = Field(
        default=60.0, ge=0, description="how often due digests are sent; 0 = off"
    )

    # Person-supplied destinations (webhook endpoints) must be public https addresses (ADR 0018).
    # Test-only: also allow loopback (127.0.0.0/8, ::1), plain http there too. Never in production.
    outbound_allow_loopback: bool = Field(
        default=False, description="TESTS ONLY: let webhook channels reach loopback addresses"
    )

    # Email channel (docs/messenger.md "Channels"): off while smtp_host is unset.
    smtp_host: str | None = Field(default=None, description="SMTP server for the email channel")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = Field(default="ledgerlink@localhost", description="From address of channel email")

    # Receipt emails in (docs/receipts.md): the inbound SMTP listener, off while the port is unset
    # (0: any free port). The embedded default listens on loopback only.
    receipt_mail_port: int | None = Field(default=None, ge=0, le=65535, description="inbound SMTP port")
    receipt_mail_host: str = Field(default="127.0.0.1", description="inbound SMTP listen address")
    receipt_mail_domain: str = Field(default="receipts.localhost", description="forwarding addresses' domain")
    receipt_mail_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="largest receipt email")
    # Followed parcels (docs/receipts.md): how often the carrier is asked about parcels still moving.
    parcel_poll_seconds: float = Field(default=900.0, ge=0, description="parcel status poll period; 0 = off")
    carrier_push_seconds: float = Field(default=0.0, ge=0,  # the embedded sandbox carrier's webhooks
                                        description="embedded sandbox carrier pushes tracking updates "
                                                    "this often (signed webhooks); 0 = off: polled only")
    shop_sync_seconds: float = Field(default=900.0, ge=0,  # ADR 0031
                                     description="linked shops' orders feed pull period; 0 = off")

    # Matrix channel (docs/messenger.md "Channels", ADR 0012): off until a homeserver and a bot
    # user are set, with a password or a session file (data_dir/matrix-session.json).
    matrix_homeserver: str | None = Field(default=None, description="the bot's homeserver base URL")
    matrix_user: str | None = Field(default=None, description="the bot's Matrix ID, e.g. @bot:example.org")
    matrix_password: SecretStr | None = Field(
        default=None, description="the bot's password; used once to log in, the session is then kept"
    )
    matrix_sync_timeout_seconds: float = Field(default=30.0, gt=0, le=300, description="sync long-poll")

    # Bank-data providers (docs/providers.md). SimpleFIN needs no operator credentials; Enable
    # Banking and GoCardless are off until theirs are set. No secret has a default.
    simplefin_bridge_url: str = Field(
        default="https://beta-bridge.simplefin.org/simplefin",
        description="the SimpleFIN Bridge root URL; setup tokens must point to its host",
    )
    simplefin_extra_hosts: list[str] = Field(
        default_factory=list, description="other SimpleFIN servers (hosts) a setup token may point to"
    )
    enablebanking_api_url: str = Field(default="https://api.enablebanking.com")
    enablebanking_application_id: str | None = Field(default=None, description="the application id (JWT kid)")
    enablebanking_private_key_file: Path | None = Field(
        default=None, description="the application's RSA private key, PEM (keep it 0600)"
    )
    gocardless_api_url: str = Field(default="https://bankaccountdata.gocardless.com")
    gocardless_secret_id: str | None = Field(default=None, description="user secret id")
    gocardless_secret_key: SecretStr | None = Field(default=None, description="user secret key")
    providers_allow_insecure_loopback: bool = Field(
        default=False, description="TESTS AND DEMO ONLY: accept http:// provider URLs on loopback addresses"
    )
    # Provider linking (issue 10): with the embedded sandbox, each provider that is not configured
    # live is served by its in-process simulator (mounted at /sandbox/<provider>), labelled so.
    provider_simulators: bool | None = Field(
        default=None, description="run the provider simulators (default: when the sandbox is embedded)"
    )

    # Scale-out profile (issue 12, ADR 0027): with nats_url set, events go through the outbox
    # and NATS JetStream instead of the in-process bus. `roles`: what this process runs
    # (`ledgerlink serve --role`): api, worker, gateway, comma-separated, or all.
    nats_url: str | None = Field(default=None, description="NATS server, e.g. nats://127.0.0.1:4222")
    nats_root: str = Field(default="ledgerlink", description="subject root and stream name prefix")
    nats_max_deliver: int = Field(default=5, ge=1, le=100, description="attempts before the dead letters")
    nats_ack_wait_seconds: float = Field(default=30.0, gt=0, description="redelivery after this without ack")
    roles: str = Field(default="all", description="api, worker, gateway (comma-separated) or all")
    schedule_tick_seconds: float = Field(  # ADR 0029: periodic jobs run once across workers
        default=1.0, gt=0, le=60, description="how often a worker tries and checks the job locks"
    )
    # A gateway's admission control on /ws (docs/messenger.md, close code 1013): new connections
    # in their session lookup, subscription and replay at once, queued behind them, and how long
    # one may wait in that queue before it is told to try again later.
    ws_admission_concurrent: int = Field(default=16, ge=1, description="new /ws connections admitted at once")
    ws_admission_queue: int = Field(default=512, ge=0, description="new /ws connections queued behind those")
    ws_admission_wait_seconds: float = Field(default=10.0, gt=0, description="longest wait in that queue")

    @property
    def enablebanking_enabled(self) -> bool:
        return bool(self.enablebanking_application_id and self.enablebanking_private_key_file)

    @property
    def gocardless_enabled(self) -> bool:
        return bool(self.gocardless_secret_id and self.gocardless_secret_key)

    # Messenger and WhatsApp (issue 15, docs/platforms.md). A platform is live
    # when its settings are all given; with none given the embedded Graph API simulator stands
    # in (when `graph_simulator` is on, by default with the embedded sandbox); else it is off.
    messenger_app_secret: SecretStr | None = Field(default=None, description="signs Messenger webhooks")
    messenger_verify_token: SecretStr | None = Field(default=None, description="the webhook handshake token")
    messenger_page_token: SecretStr | None = Field(default=None, description="the page's Send API token")
    messenger_graph_url: str | None = Field(default=None, description="default https://graph.facebook.com/v21.0")
    whatsapp_app_secret: SecretStr | None = Field(default=None, description="signs WhatsApp webhooks")
    whatsapp_verify_token: SecretStr | None = Field(default=None, description="the webhook handshake token")
    whatsapp_access_token: SecretStr | None = Field(default=None, description="the Cloud API access token")
    whatsapp_graph_url: str | None = Field(default=None, description="default https://graph.facebook.com/v21.0")
    whatsapp_phone_number_id: str | None = Field(default=None, description="the business number's id")
    whatsapp_business_number: str | None = Field(
        default=None, description="the number people write to, digits with country code (shown, wa.me)")
    graph_simulator: bool | None = Field(
        default=None, description="run the Graph API simulator for platforms without settings; "
                                  "default: as embedded_sandbox")

    @property
    def graph_simulator_enabled(self) -> bool:
        return self.embedded_sandbox if self.graph_simulator is None else self.graph_simulator

    @property
    def matrix_session_file(self) -> Path:
        """The bot's access token and device id (0600), written at the first login; an operator
        may write it instead of giving a password: {"user_id", "device_id", "access_token"}."""
        return self.data_dir / "matrix-session.json"

    @property
    def matrix_enabled(self) -> bool:
        return bool(self.matrix_homeserver and self.matrix_user) and (
            self.matrix_password is not None or self.matrix_session_file.exists()
        )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ledgerlink.db').resolve()}"

    @property
    def resolved_keystore_url(self) -> str:
        if self.keystore_url:
            return self.keystore_url
        return f"sqlite:///{(self.data_dir / 'keys.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_sandbox_port(self) -> int:
        return self.sandbox_port if self.sandbox_port is not None else self.port + 1

    @property
    def resolved_sandbox_url(self) -> str:
        if self.sandbox_url:
            return self.sandbox_url.rstrip("/")
        return f"http://{self.host}:{self.resolved_sandbox_port}"

    @property
    def resolved_second_sandbox_url(self) -> str:
        if self.second_sandbox_url:
            return self.second_sandbox_url.rstrip("/")
        port = self.second_sandbox_port if self.second_sandbox_port is not None else self.port + 2
        return f"http://{self.host}:{port}"

    @property
    def resolved_second_sandbox_port(self) -> int:
        return self.second_sandbox_port if self.second_sandbox_port is not None else self.port + 2

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"
