"""Messenger and WhatsApp channels, composed (issue 15, ADR 0023).

Per platform: live when all its settings are given (`LEDGERLINK_MESSENGER_*`,
`LEDGERLINK_WHATSAPP_*`); with none given, the Graph API simulator stands in when
`graph_simulator` is on (by default with the embedded sandbox), mounted at `/sandbox/graph`;
else the channel is off. Partly given settings switch it off rather than fall back to the
simulator. Each decision is one clear line in the log at start.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from ledgerlink.adapters.channels.graph import DEFAULT_GRAPH_URL, HubSignatureGate
from ledgerlink.adapters.channels.messenger import MessengerGraphApi
from ledgerlink.adapters.channels.whatsapp import WhatsAppGraphApi, load_templates, template_definitions
from ledgerlink.bootstrap.sandbox import build_graph_simulator
from ledgerlink.config import Settings
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.platform_channels import PlatformChannel, PlatformSetup
from ledgerlink.services.messaging.platform_inbound import PlatformInbound, PromptAnswer, TextHandler
from ledgerlink.services.messaging.platform_ports import MESSENGER, WHATSAPP, WebhookGate

__all__ = ["ID_KEY_FILE", "SIMULATOR_PATH", "Platforms", "build_platforms"]

log = structlog.get_logger(__name__)

ID_KEY_FILE = "platform-ids.key"
SIMULATOR_PATH = "/sandbox/graph"
GRAPH_VERSION = DEFAULT_GRAPH_URL.rsplit("/", 1)[1]  # the simulator answers every version
FACEBOOK_ORIGINS = (
    "https://www.facebook.com",
    "https://facebook.com",
    "https://m.facebook.com",
    "https://web.facebook.com",
    "https://business.facebook.com",
)
_MESSENGER_SETTINGS = ("messenger_app_secret", "messenger_verify_token", "messenger_page_token")
_WHATSAPP_SETTINGS = (
    "whatsapp_app_secret",
    "whatsapp_verify_token",
    "whatsapp_access_token",
    "whatsapp_phone_number_id",
)


@dataclass
class Platforms:
    channels: dict[str, PlatformChannel] = field(default_factory=dict)
    gates: dict[str, WebhookGate] = field(default_factory=dict)
    inbound: PlatformInbound | None = None
    simulator_app: Any = None  # the Graph API simulator's ASGI app, when it stands in
    lines: list[str] = field(default_factory=list)  # what start-up said about each platform


def _id_key(data_dir: Path) -> bytes:
    """The key of the PSID / number digests (0600, made once): without it a copy of the
    database cannot tell whose chat a row is."""
    path = data_dir / ID_KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _secret(settings: Settings, name: str) -> str | None:
    value = getattr(settings, name)
    if value is None:
        return None
    text = value if isinstance(value, str) else value.get_secret_value()
    return text or None


def _env(name: str) -> str:
    return "LEDGERLINK_" + name.upper()


def _origins(graph_url: str) -> tuple[str, ...]:
    """Where account linking may send the browser back: Facebook's own pages, or (a simulator
    or a test double) the Graph URL's own origin."""
    parts = urlsplit(graph_url)
    if (parts.hostname or "").endswith("facebook.com"):
        return FACEBOOK_ORIGINS
    return (f"{parts.scheme}://{parts.netloc}".lower(),)


def build_platforms(
    settings: Settings, deps: Deps, http: httpx.AsyncClient, *, handle_text: TextHandler, answer: PromptAnswer
) -> Platforms:
    out = Platforms()
    public = settings.resolved_public_url
    wanted = {MESSENGER: _MESSENGER_SETTINGS, WHATSAPP: _WHATSAPP_SETTINGS}
    modes: dict[str, str] = {}
    for platform, names in wanted.items():
        given = [n for n in names if _secret(settings, n)]
        name = "Messenger" if platform == MESSENGER else "WhatsApp"
        if len(given) == len(names):
            modes[platform] = "live"
            out.lines.append(f"{name} channel: live")
        elif not given and settings.graph_simulator_enabled:
            modes[platform] = "simulator"
            out.lines.append(
                f"{name} channel: the Graph API simulator at {public}{SIMULATOR_PATH} "
                f"(going live: set {', '.join(_env(n) for n in names)})"
            )
        else:
            missing = [_env(n) for n in names if n not in given]
            out.lines.append(f"{name} channel off: {', '.join(missing)} not set")
    for line in out.lines:
        (log.warning if " off:" in line else log.info)(line)
    if not modes:
        return out
    key = _id_key(settings.data_dir)
    sim_url = f"{public}{SIMULATOR_PATH}"
    values: dict[str, str | None] = {
        n: _secret(settings, n) for n in (*_MESSENGER_SETTINGS, *_WHATSAPP_SETTINGS)
    }
    values["whatsapp_business_number"] = settings.whatsapp_business_number
    if "simulator" in modes.values():
        hooks = {p: f"{public}/channels/{p}/webhook" if modes.get(p) == "simulator" else None for p in wanted}
        out.simulator_app = build_graph_simulator(
            settings,
            clock=deps.clock,
            public_url=sim_url,
            messenger_callback=hooks[MESSENGER],
            whatsapp_callback=hooks[WHATSAPP],
            templates=template_definitions(),
        )
        sim = out.simulator_app.state.graph.config
        for platform, names in wanted.items():  # the simulator's own secrets and ids stand in
            if modes.get(platform) == "simulator":
                values.update({n: str(getattr(sim, n.replace("whatsapp_phone", "phone"))) for n in names})
                if platform == WHATSAPP:
                    values["whatsapp_business_number"] = sim.business_number
    for platform, mode in modes.items():
        live = mode == "live"
        graph_setting = settings.messenger_graph_url if platform == MESSENGER else settings.whatsapp_graph_url
        graph = (graph_setting or DEFAULT_GRAPH_URL) if live else f"{sim_url}/{GRAPH_VERSION}"
        setup = PlatformSetup(
            platform=platform,
            mode=mode,
            id_key=key,
            public_url=public,
            business_number=values["whatsapp_business_number"] if platform == WHATSAPP else None,
            conversation_url=None if live else f"{sim_url}/?platform={platform}",
            templates=load_templates() if platform == WHATSAPP else {},
            redirect_origins=_origins(graph) if platform == MESSENGER else (),
        )
        api: MessengerGraphApi | WhatsAppGraphApi
        if platform == MESSENGER:
            api = MessengerGraphApi(http, page_token=str(values["messenger_page_token"]), graph_url=graph)
        else:
            api = WhatsAppGraphApi(
                http,
                access_token=str(values["whatsapp_access_token"]),
                phone_number_id=str(values["whatsapp_phone_number_id"]),
                graph_url=graph,
            )
        out.channels[platform] = PlatformChannel(deps, setup, api)
        out.gates[platform] = HubSignatureGate(
            app_secret=str(values[f"{platform}_app_secret"]),
            verify_token=str(values[f"{platform}_verify_token"]),
        )
    phone_number_id = values["whatsapp_phone_number_id"] if WHATSAPP in modes else None
    out.inbound = PlatformInbound(
        deps, out.channels, handle_text=handle_text, answer=answer, phone_number_id=phone_number_id
    )
    return out
