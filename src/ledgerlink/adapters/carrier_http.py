"""The carrier-tracking API over HTTP (issue 11; the sandbox carrier speaks it): the number goes
in the request body, never the URL, and no error repeats it."""

from __future__ import annotations

from datetime import datetime

import httpx

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.services.receipts.ports import ParcelStatus


class HttpCarrierClient:
    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client, self._base = client, base_url.rstrip("/")

    async def track(self, number: str) -> ParcelStatus:
        try:
            response = await self._client.post(f"{self._base}/v1/track", json={"number": number}, timeout=10)
        except httpx.HTTPError as exc:
            raise ConnectionError(f"the carrier could not be reached ({type(exc).__name__})") from None
        if response.status_code == 404:
            raise InvalidInput("the carrier has no shipment with that number", code="unknown_shipment")
        if response.status_code != 200:
            raise ConnectionError(f"the carrier answered {response.status_code}")
        body = response.json()
        eta = body.get("eta")
        return ParcelStatus(status=str(body["status"]), eta=datetime.fromisoformat(eta) if eta else None,
                            events=[(str(e["status"]), datetime.fromisoformat(e["at"]))
                                    for e in body["events"]])
