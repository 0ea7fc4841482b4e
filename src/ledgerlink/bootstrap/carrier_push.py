"""The embedded sandbox carrier's pushed tracking updates (issue 11, docs/receipts.md), on when
`carrier_push_seconds` > 0: a Standard Webhooks secret per start, the platform's endpoint for
them (`CarrierEvents`), and what the carrier client needs to subscribe. The carrier's own push
loop runs as the container's `carrier_push` task."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

from ledgerlink.config import Settings
from ledgerlink.services.receipts.carrier_events import CarrierEvents

if TYPE_CHECKING:
    from ledgerlink.bootstrap.container import Container


def wire_carrier_push(settings: Settings, container: Container) -> dict[str, str]:
    """The `HttpCarrierClient` keywords that make it subscribe; {} when pushes are off."""
    if settings.carrier_push_seconds <= 0 or container.carrier_app is None:
        return {}
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()  # per start: embedded only
    container.carrier_events = CarrierEvents(container.deps, {"sandbox": [secret]})
    container.carrier_app.state.carrier.config.http = container.http  # pushes reach public_url
    events_url = f"{settings.resolved_public_url}/partners/carriers/sandbox/events"
    return {"events_url": events_url, "secret": secret}
