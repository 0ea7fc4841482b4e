"""The built-in sandbox banks: their partner registrations, the credentials file each shares
with the platform, and building an embedded bank's app. `build_sandbox_app` is the only
platform code that imports ledgerlink.sandbox (lazily)."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import tempfile
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from ledgerlink.adapters.crypto.partner_jws import new_ed25519_pem
from ledgerlink.config import Settings
from ledgerlink.domain.clock import Clock
from ledgerlink.services.privacy.aggregates import API_KEY_PREFIX

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
            if creds._publish(path):
                return creds
            # Another process of the cluster created it first: everyone uses that one.
        stored = json.loads(path.read_text())
        if all(name in stored for name in fields):
            return cls(**{name: stored[name] for name in fields})
        creds = cls(**{**cls._fresh(), **{k: v for k, v in stored.items() if k in fields}})
        creds._rewrite(path)
        return creds

    def _publish(self, path: Path) -> bool:
        """Create the file whole or not at all: written to a private temporary name, then
        hard-linked into place, which fails if the file exists. Processes starting at once
        cannot see a half-written file, and only one set of keys wins."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(self.__dict__, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def _rewrite(self, path: Path) -> None:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
        tmp = Path(name)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.__dict__, fh)
        os.replace(tmp, path)

    @classmethod
    def replace_partner_api_key(cls, path: Path, api_key: str) -> None:
        """A key issued with `ledgerlink partners api-key` for a built-in bank: the embedded
        bank uses it from its next start (its registration file is rewritten, 0600)."""
        creds = cls.load_or_create(path)
        replace(creds, partner_api_key=api_key)._rewrite(path)


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


def build_graph_simulator(
    settings: Settings,
    *,
    clock: Clock,
    public_url: str,
    messenger_callback: str | None,
    whatsapp_callback: str | None,
    templates: list[dict[str, Any]],
) -> Any:
    """The Graph API simulator (Messenger, WhatsApp) standing in for Meta (issue 15): fresh
    secrets and tokens on each start (its conversations live in memory anyway); the WhatsApp
    templates we would submit count as approved there."""
    from ledgerlink.sandbox.graph import GraphSimConfig, create_graph_app

    config = GraphSimConfig(
        public_url=public_url,
        messenger_callback=messenger_callback,
        whatsapp_callback=whatsapp_callback,
        templates=templates,
        clock=clock,
        status_delay_seconds=0.6 if settings.sandbox_simulate else 0.0,
    )
    return create_graph_app(config)


SHOP_SECRETS_FILE = "sandbox-shops.json"


def shop_webhook_secret(data_dir: Path, slug: str) -> str:
    """The Standard Webhooks secret a sandbox shop signs its events with, shared by the platform
    and a shop in its own process (`ledgerlink sandbox-merchant`) through the data dir, as the
    sandbox bank's registration is: one per shop slug, made on first use, the file 0600."""
    path = data_dir / SHOP_SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if slug not in stored:
        stored[slug] = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
        os.replace(name, path)
    return stored[slug]


def build_standalone_shop_app(settings: Settings, *, bank_url: str, shop_url: str, clock: Clock,
                              http: httpx.AsyncClient) -> Any:
    """The sandbox shop in its own process (`ledgerlink sandbox-merchant`): it pays through the
    sandbox bank at `bank_url` over HTTP with the bank's admin token (the registration file of
    `ledgerlink sandbox` in the same data dir) and signs its events to the platform's merchant
    endpoint with the secret both read from the data dir."""
    from ledgerlink.sandbox.merchant import ShopConfig, create_shop_app
    from ledgerlink.sandbox.merchant._bank_http import BankOverHttp

    creds = SandboxCredentials.load_or_create(settings.data_dir / SANDBOX_BANKS[0].credentials_file)
    bank = BankOverHttp(bank_url, admin_token=creds.admin_token, http=http)
    platform = settings.resolved_public_url
    config = ShopConfig(
        public_url=shop_url.rstrip("/"),
        events_url=f"{platform}/partners/merchants/acme/events",
        webhook_secret=shop_webhook_secret(settings.data_dir, "acme"),
        clock=clock, http=http, pay=bank.pay, capture=bank.capture, refund_payment=bank.refund,
        charge_card=bank.charge_card, void=bank.void, **_moving(settings),
    )
    return create_shop_app(config)


def _bank_hooks(bank: Any) -> dict[str, Any]:
    """The embedded bank's hooks a sandbox shop pays through, in-process."""
    from ledgerlink.sandbox._model import Problem
    from ledgerlink.sandbox.merchant.shop import ShopProblem

    async def charge_card(**card: Any) -> tuple[str, str]:
        """The checkout form's card, authorised at the embedded bank; its refusal, the shop's."""
        try:
            result: tuple[str, str] = await bank.card_purchase(**card)
        except Problem as exc:  # the bank's words, which never repeat the card number
            raise ShopProblem(exc.status, exc.code, exc.detail) from None
        return result

    return {"pay": bank.purchase, "capture": bank.post, "refund_payment": bank.refund,
            "charge_card": charge_card, "void": bank.void}


def _moving(settings: Settings) -> dict[str, Any]:
    return {"simulate": settings.sandbox_simulate,  # parcels move on the clock, 8 h a step at speed 1
            "ship_step": timedelta(hours=8) / max(settings.sandbox_speed, 0.01)}


def build_shop_app(settings: Settings, *, secret: str, bank: Any, clock: Clock,
                   oauth_secret: str | None = None) -> Any:
    """The embedded sandbox shop (issue 11): it charges through the embedded bank's purchase
    hook and signs its events to the platform's merchant endpoint; with `oauth_secret` the
    platform is its OAuth client (linking a shop, ADR 0031)."""
    from ledgerlink.bootstrap.merchant_links import SHOP_CLIENT_ID, shop_redirect_uri
    from ledgerlink.sandbox.merchant import ShopClient, ShopConfig, create_shop_app

    platform = settings.resolved_public_url
    config = ShopConfig(
        public_url=f"{platform}/sandbox/shop",
        events_url=f"{platform}/partners/merchants/acme/events",
        webhook_secret=secret,
        clock=clock,
        **_bank_hooks(bank),
        **_moving(settings),
        oauth_clients=[] if oauth_secret is None else [
            ShopClient(SHOP_CLIENT_ID, oauth_secret, (shop_redirect_uri(settings),))],
    )
    return create_shop_app(config)


def _oauth_clients(settings: Settings, oauth_secret: str | None) -> list[Any]:
    """This platform as an OAuth client of an embedded merchant (ADR 0031), or none."""
    from ledgerlink.bootstrap.merchant_links import SHOP_CLIENT_ID, shop_redirect_uri
    from ledgerlink.sandbox.merchant import ShopClient

    if oauth_secret is None:
        return []
    return [ShopClient(SHOP_CLIENT_ID, oauth_secret, (shop_redirect_uri(settings),))]


def build_market_app(settings: Settings, *, secret: str, bank: Any, clock: Clock,
                     oauth_secret: str | None = None) -> Any:
    """The embedded marketplace Harbor Market (issue 11), mounted at /sandbox/market beside the
    shop: its own products, partner slug `harbor` and webhook secret, paid at the same bank."""
    from ledgerlink.sandbox.merchant import create_shop_app
    from ledgerlink.sandbox.merchant.market import market_config

    platform = settings.resolved_public_url
    return create_shop_app(market_config(
        public_url=f"{platform}/sandbox/market", events_url=f"{platform}/partners/merchants/harbor/events",
        webhook_secret=secret, clock=clock, oauth_clients=_oauth_clients(settings, oauth_secret),
        **_bank_hooks(bank), **_moving(settings)))


def build_bistro_app(settings: Settings, *, secret: str, bank: Any, clock: Clock,
                     oauth_secret: str | None = None) -> Any:
    """The embedded restaurant Harbor Bistro (issue 11), at /sandbox/bistro: orders with a tip
    (MCC 5812; the charge posts for the bill and the tip), partner slug `bistro`."""
    from ledgerlink.sandbox.merchant import create_shop_app
    from ledgerlink.sandbox.merchant.restaurant import restaurant_config

    platform = settings.resolved_public_url
    return create_shop_app(restaurant_config(
        public_url=f"{platform}/sandbox/bistro", events_url=f"{platform}/partners/merchants/bistro/events",
        webhook_secret=secret, clock=clock, oauth_clients=_oauth_clients(settings, oauth_secret),
        **_bank_hooks(bank)))


def build_carrier_app(*, clock: Clock) -> Any:
    """The embedded sandbox carrier-tracking API (issue 11), mounted at /sandbox/carrier: a
    tracking number pasted in the demo is followed on its timeline, on the platform's clock."""
    from ledgerlink.sandbox.merchant.carrier import CarrierConfig, create_carrier_app

    return create_carrier_app(CarrierConfig(clock=clock))
