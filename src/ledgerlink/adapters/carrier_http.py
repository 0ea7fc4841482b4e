"""The carrier-tracking API over HTTP (issue 11; the sandbox carrier speaks it): the number goes
in the request body, never the URL, and no error repeats it."""

from __future__ import annotations

from datetime import datetime

import httpx

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.services.receipts.ports import ParcelStatus


class HttpCarrierClient:
    """With `events_url` and `secret`, `watch` subscribes once (`POST /v1/subscriptions`) and
    asks the carrier to push each followed shipment's updates there, Standard Webhooks signed
    with `secret` (`POST /partners/carriers/{slug}/events`); without, parcels are polled only."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, *, events_url: str | None = None,
                 secret: str | None = None) -> None:
        self._client, self._base = client, base_url.rstrip("/")
        self._events_url, self._secret = events_url, secret
        self._subscription: str | None = None

    async def _post(self, path: str, body: dict[str, str]) -> httpx.Response:
        try:
            return await self._client.post(f"{self._base}{path}", json=body, timeout=10)
        except httpx.HTTPError as exc:
            raise ConnectionError(f"the carrier could not be reached ({type(exc).__name__})") from None

    async def watch(self, number: str, *, reference: str) -> bool:
        if self._events_url is None or self._secret is None:
            return False
        if self._subscription is None:
            answer = await self._post("/v1/subscriptions", {"url": self._events_url, "secret": self._secret})
            if answer.status_code != 201:
                raise ConnectionError(f"the carrier refused the subscription ({answer.status_code})")
            self._subscription = str(answer.json()["id"])
        answer = await self._post(f"/v1/subscriptions/{self._subscription}/shipments",
                                  {"number": number, "reference": reference})
        if answer.status_code == 404 and answer.json().get("code") == "unknown_subscription":
            self._subscription = None  # the carrier forgot us (restarted): subscribe again next time
            raise ConnectionError("the carrier no longer knows the subscription")
        if answer.status_code == 404:
            raise InvalidInput("the carrier has no shipment with that number", code="unknown_shipment")
        if answer.status_code != 201:
            raise ConnectionError(f"the carrier answered {answer.status_code}")
        return True

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
