"""Bank-data providers (issue 10, docs/providers.md): one `ProviderBankConnector` per provider that
is configured live, or, with the simulators on (default: when the sandbox is embedded), served
by its in-process simulator mounted on the platform at ``/sandbox/<provider>`` and named
"(simulator)". Going live is settings only: base URL plus credentials.

Like bootstrap/sandbox.py, this is platform code that imports `ledgerlink.sandbox` (lazily, and
only for the simulators)."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ledgerlink.adapters.banks.enablebanking import EnableBankingConnector
from ledgerlink.adapters.banks.gocardless import GoCardlessConnector
from ledgerlink.adapters.banks.provider_bank import ProviderBankConnector
from ledgerlink.adapters.banks.simplefin import SimpleFinConnector
from ledgerlink.config import Settings
from ledgerlink.domain.clock import Clock
from ledgerlink.domain.refresh_budget import Provider
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.linking.refresh_worker import PROVIDER_KINDS

__all__ = ["PROVIDERS", "BuiltProviders", "build_providers"]

# slug -> display name
PROVIDERS = {"simplefin": "SimpleFIN Bridge", "enablebanking": "Enable Banking",
             "gocardless": "GoCardless Bank Account Data"}
_SIM_APP_ID = "ledgerlink-simulated-application"


@dataclass
class BuiltProviders:
    connectors: dict[str, ProviderBankConnector] = field(default_factory=dict)  # partner id -> it
    partners: list[PartnerRecord] = field(default_factory=list)
    simulator_apps: dict[str, Any] = field(default_factory=dict)  # mount path -> ASGI app
    kinds: dict[str, Provider] = field(default_factory=dict)  # partner id -> budget kind


def partner_id(slug: str) -> str:
    return f"ptn_{slug}"


@functools.cache  # the simulator's application key: one per process (2048-bit keys cost ~0.1 s)
def _rsa_pem() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def _simulators(settings: Settings, clock: Clock, http: httpx.AsyncClient, live: set[str]) -> dict[str, Any]:
    from ledgerlink.sandbox.providers import (
        EnableBankingConfig,
        GoCardlessConfig,
        SimpleFinConfig,
        create_enablebanking_app,
        create_gocardless_app,
        create_simplefin_app,
    )

    public = settings.resolved_public_url.rstrip("/")
    seed = settings.sandbox_seed
    out: dict[str, Any] = {}
    if "simplefin" not in live:
        url = f"{public}/sandbox/simplefin"
        out["simplefin"] = (create_simplefin_app(SimpleFinConfig(public_url=url, seed=seed, clock=clock)),
                            SimpleFinConnector(http=http, clock=clock, bridge_url=f"{url}/simplefin",
                                               allow_insecure_loopback=True))
    if "enablebanking" not in live:
        url = f"{public}/sandbox/enablebanking"
        private, public_pem = _rsa_pem()
        app = create_enablebanking_app(EnableBankingConfig(
            public_url=url, seed=seed + 11, clock=clock, applications={_SIM_APP_ID: public_pem},
            redirect_urls=[f"{public}/link/enablebanking/callback"]))
        out["enablebanking"] = (app, EnableBankingConnector(
            http=http, clock=clock, application_id=_SIM_APP_ID, private_key_pem=private, api_url=url,
            allow_insecure_loopback=True))
    if "gocardless" not in live:
        url = f"{public}/sandbox/gocardless"
        secret_id, secret_key = secrets.token_hex(16), secrets.token_urlsafe(32)
        app = create_gocardless_app(GoCardlessConfig(public_url=url, seed=seed + 23, clock=clock,
                                                     secrets={secret_id: secret_key}))
        out["gocardless"] = (app, GoCardlessConnector(http=http, clock=clock, secret_id=secret_id,
                                                      secret_key=secret_key, api_url=url,
                                                      allow_insecure_loopback=True))
    return out


def build_providers(settings: Settings, *, clock: Clock, http: httpx.AsyncClient) -> BuiltProviders:
    built = BuiltProviders()
    insecure = settings.providers_allow_insecure_loopback
    simulate = settings.provider_simulators
    simulate = settings.embedded_sandbox if simulate is None else simulate
    live: dict[str, Any] = {}
    if not simulate:  # SimpleFIN needs no operator credentials: the person's token is all
        live["simplefin"] = SimpleFinConnector(
            http=http, clock=clock, bridge_url=settings.simplefin_bridge_url,
            allowed_hosts=settings.simplefin_extra_hosts, allow_insecure_loopback=insecure)
    if settings.enablebanking_enabled:
        assert settings.enablebanking_application_id and settings.enablebanking_private_key_file
        live["enablebanking"] = EnableBankingConnector(
            http=http, clock=clock, application_id=settings.enablebanking_application_id,
            private_key_pem=settings.enablebanking_private_key_file.read_bytes(),
            api_url=settings.enablebanking_api_url, allow_insecure_loopback=insecure)
    if settings.gocardless_enabled:
        assert settings.gocardless_secret_id and settings.gocardless_secret_key
        live["gocardless"] = GoCardlessConnector(
            http=http, clock=clock, secret_id=settings.gocardless_secret_id,
            secret_key=settings.gocardless_secret_key.get_secret_value(),
            api_url=settings.gocardless_api_url, allow_insecure_loopback=insecure)
    sims = _simulators(settings, clock, http, set(live)) if simulate else {}
    now = datetime.now(UTC)
    for slug, name in PROVIDERS.items():
        if slug in live:
            connector, label = live[slug], name
        elif slug in sims:
            app, connector = sims[slug]
            built.simulator_apps[f"/sandbox/{slug}"] = app
            label = f"{name} (simulator)"
        else:
            continue
        built.connectors[partner_id(slug)] = ProviderBankConnector(connector, clock=clock)
        built.kinds[partner_id(slug)] = PROVIDER_KINDS[slug]
        built.partners.append(PartnerRecord(id=partner_id(slug), slug=slug, name=label, kind="bank",
                                            webhook_secrets=[], created_at=now))
    return built
