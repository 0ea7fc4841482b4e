"""Configuration of the Graph API simulator: the app and page it plays, where it delivers
webhooks, which WhatsApp templates count as approved, and where time comes from."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from ledgerlink.domain.clock import Clock, SystemClock


def _digits(n: int) -> str:
    return str(10 ** (n - 1) + secrets.randbelow(9 * 10 ** (n - 1)))


@dataclass(kw_only=True)
class GraphSimConfig:
    public_url: str = "http://127.0.0.1:8000/sandbox/graph"  # where the simulator is reached
    # Messenger: the app secret signs deliveries; the page token authorises the Send API.
    messenger_app_secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    messenger_verify_token: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    messenger_page_token: str = field(
        default_factory=lambda: "EAAsim" + secrets.token_urlsafe(24), repr=False
    )
    messenger_callback: str | None = None  # the platform's /channels/messenger/webhook
    page_id: str = field(default_factory=lambda: _digits(15))
    page_name: str = "Ledgerlink"
    # WhatsApp Business Cloud API.
    whatsapp_app_secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    whatsapp_verify_token: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    whatsapp_access_token: str = field(
        default_factory=lambda: "EAAsim" + secrets.token_urlsafe(24), repr=False
    )
    whatsapp_callback: str | None = None  # the platform's /channels/whatsapp/webhook
    phone_number_id: str = field(default_factory=lambda: _digits(15))
    business_number: str = "15550100000"  # the display number people write to
    waba_id: str = field(default_factory=lambda: _digits(15))
    templates: list[dict[str, Any]] = field(default_factory=list)  # definitions "approved" here
    clock: Clock = field(default_factory=SystemClock)
    http: httpx.AsyncClient | None = None  # for deliveries; created if None
    webhook_max_attempts: int = 4
    webhook_backoff_base_seconds: float = 0.2
    webhook_timeout_seconds: float = 10.0
    status_delay_seconds: float = 0.0  # WhatsApp: wait before "delivered" (the demo sets a little)
