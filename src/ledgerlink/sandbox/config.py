"""Configuration of the sandbox bank: who may connect, how fast it lives, where time comes from."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import httpx

from ledgerlink.domain.clock import Clock, SystemClock


@dataclass(frozen=True, kw_only=True)
class OAuthClientConfig:
    """A registered OAuth client (confidential: it authenticates with its secret)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    webhook_secret: str  # Standard Webhooks secret ("whsec_" + base64) signing pushed events
    name: str = "Ledgerlink"
    # The bank dialogue (docs/bank-dialogue.md): where the client publishes the keys that sign
    # its requests, where the bank posts its messages, and the partner API key it presents there.
    jwks_uri: str | None = None
    messages_url: str | None = None  # the platform's POST /partner-api/v1/messages
    api_key: str | None = field(default=None, repr=False)  # never in a repr or a log


@dataclass(kw_only=True)
class SandboxConfig:
    public_url: str = "http://127.0.0.1:8001"
    name: str = "Sandbox Bank"  # the brand on its pages and in its messages
    signing_key_pem: bytes | None = None  # the bank's Ed25519 key (PKCS8 PEM); generated if None
    seed: int = 42
    speed: float = 1.0  # >1 makes simulated activity happen faster in wall-clock time
    simulate: bool = True  # False: only the hooks create activity (tests)
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    clients: list[OAuthClientConfig] = field(default_factory=list)
    clock: Clock = field(default_factory=SystemClock)
    http: httpx.AsyncClient | None = None  # used for webhook push; created if None
    access_token_ttl_seconds: int = 3600
    consent_days: int = 90
    code_ttl_seconds: int = 60
    simulate_interval_seconds: float = 20.0  # mean wall-clock gap between simulated steps
    webhook_max_attempts: int = 6
    webhook_backoff_base_seconds: float = 0.5
    webhook_backoff_cap_seconds: float = 30.0
    webhook_timeout_seconds: float = 10.0
    reply_delay_seconds: float = 0.5  # the bank "types" before its message leaves (0 in tests)
