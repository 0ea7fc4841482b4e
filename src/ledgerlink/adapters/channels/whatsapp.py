"""The WhatsApp Business Cloud API behind the `WhatsAppApi` port (`POST /{version}/
{phone_number_id}/messages` with the access token), and the message templates we submit for
approval (`whatsapp_templates/*.json`, in the WhatsApp Business Management API's
`message_templates` format), read once at start."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from ledgerlink.adapters.channels.graph import DEFAULT_GRAPH_URL, GraphHttp
from ledgerlink.services.messaging.platform_ports import GraphError
from ledgerlink.services.messaging.platform_render import TemplateSpec

__all__ = ["TEMPLATE_DIR", "WhatsAppGraphApi", "load_templates", "template_definitions"]

TEMPLATE_DIR = Path(__file__).with_name("whatsapp_templates")
_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")


class WhatsAppGraphApi:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        access_token: str,
        phone_number_id: str,
        graph_url: str | None = None,
    ) -> None:
        self._graph = GraphHttp(http, base_url=graph_url or DEFAULT_GRAPH_URL, token=access_token)
        self._path = f"{phone_number_id}/messages"

    async def send(self, payload: dict[str, Any]) -> str:
        body = await self._graph.call("POST", self._path, json_body=payload)
        messages = body.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, dict) else None
        if not isinstance(wamid, str) or not 0 < len(wamid) <= 255:
            raise GraphError("unavailable")
        return wamid


def template_definitions(directory: Path = TEMPLATE_DIR) -> list[dict[str, Any]]:
    """The template definitions as submitted (one JSON file each)."""
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]


def _spec(definition: dict[str, Any]) -> TemplateSpec:
    body = next(c for c in definition["components"] if c["type"] == "BODY")
    numbers = sorted({int(n) for n in _PLACEHOLDER.findall(body["text"])})
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"template {definition['name']}: placeholders must be {{{{1}}}}..{{{{n}}}}")
    buttons: list[dict[str, Any]] = next(
        (c["buttons"] for c in definition["components"] if c["type"] == "BUTTONS"), []
    )
    return TemplateSpec(
        name=definition["name"],
        language=definition["language"],
        parameters=len(numbers),
        buttons=tuple(b["text"] for b in buttons if b["type"] == "QUICK_REPLY"),
    )


def load_templates(directory: Path = TEMPLATE_DIR) -> dict[str, TemplateSpec]:
    return {spec.name: spec for spec in map(_spec, template_definitions(directory))}
