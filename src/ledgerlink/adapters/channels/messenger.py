"""The Messenger Platform behind the `MessengerApi` port: the Send API
(`POST /{version}/me/messages` with the page token), the account linking lookup
(`GET /{version}/me?fields=recipient&account_linking_token=…`) and the unlink API
(`POST /{version}/me/unlink_accounts`)."""

from __future__ import annotations

from typing import Any

import httpx

from ledgerlink.adapters.channels.graph import DEFAULT_GRAPH_URL, GraphHttp
from ledgerlink.services.messaging.platform_ports import GraphError

__all__ = ["MessengerGraphApi"]


class MessengerGraphApi:
    def __init__(self, http: httpx.AsyncClient, *, page_token: str, graph_url: str | None = None) -> None:
        self._graph = GraphHttp(http, base_url=graph_url or DEFAULT_GRAPH_URL, token=page_token)

    async def send(self, payload: dict[str, Any]) -> str:
        body = await self._graph.call("POST", "me/messages", json_body=payload)
        mid = body.get("message_id")
        if not isinstance(mid, str) or not 0 < len(mid) <= 255:
            raise GraphError("unavailable")  # accepted without an id: try again (the worker backs off)
        return mid

    async def psid_for(self, account_linking_token: str) -> str:
        body = await self._graph.call(
            "GET", "me", params={"fields": "recipient", "account_linking_token": account_linking_token}
        )
        psid = body.get("recipient")
        if isinstance(psid, int) and not isinstance(psid, bool):
            psid = str(psid)
        if not isinstance(psid, str) or not 0 < len(psid) <= 255:
            raise GraphError("refused")
        return psid

    async def unlink(self, psid: str) -> None:
        await self._graph.call("POST", "me/unlink_accounts", json_body={"psid": psid})
