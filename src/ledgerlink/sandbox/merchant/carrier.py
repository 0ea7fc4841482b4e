"""A sandbox carrier-tracking API (issue 11), built like the sandbox shop: its own ASGI app, on
the simulator's clock.

A shipment's timeline is fixed by its number (SHA-256 of it picks the variations) and by the
moment the carrier first heard of it (the shop's `POST /admin/shipments`, or the first time
anyone asks): label created -> picked up -> in transit -> (delayed) -> out for delivery ->
(a failed attempt, out for delivery again the next day) -> delivered; now and then an
exception instead (the parcel is damaged and goes back). Only the steps whose time has come
on the clock are answered.

The number travels in the request body, never in the URL (it is personal data), and the
answers never repeat it.

Webhooks instead of polling: a platform subscribes (`POST /v1/subscriptions` with its events
URL and a Standard Webhooks secret), then names each shipment it follows with its own opaque
reference (`POST /v1/subscriptions/{id}/shipments`). `pump()` (or `run()`, on the clock) pushes
a signed `tracking.updated` event for each shipment whose timeline reached a new step, carrying
the reference, never the number; an answer other than 2xx is tried again on the next pump.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from standardwebhooks.webhooks import Webhook

from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.tracking import parse_tracking_number

__all__ = ["CarrierConfig", "SandboxCarrier", "Subscription", "create_carrier_app"]

log = structlog.get_logger(__name__)

STATUSES = ("label_created", "picked_up", "in_transit", "delayed", "out_for_delivery",
            "failed_attempt", "exception", "delivered")


@dataclass
class CarrierConfig:
    clock: Clock = field(default_factory=SystemClock)
    step: timedelta = timedelta(hours=8)  # between two steps of a timeline
    http: httpx.AsyncClient | None = None  # for pushes (None: a client per pump)


@dataclass
class Subscription:
    id: str
    url: str
    secret: str
    shipments: dict[str, str] = field(default_factory=dict)  # the subscriber's reference -> number
    pushed: dict[str, int] = field(default_factory=dict)  # reference -> steps delivered
    sent: list[dict[str, Any]] = field(default_factory=list)  # each push: reference, status, answer


class CarrierProblem(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def plan(number: str, start: datetime, step: timedelta) -> list[tuple[str, datetime]]:
    """The whole timeline of a shipment, known or not yet reached on the clock."""
    seed = hashlib.sha256(number.encode()).digest()
    steps = ["label_created", "picked_up", "in_transit"]
    if seed[0] % 4 == 0:  # one in four: exception, the parcel goes back to the sender
        steps.append("exception")
        return [(s, start + i * step) for i, s in enumerate(steps)]
    if seed[1] % 3 == 0:  # one in three is delayed a day
        steps.append("delayed")
    steps.append("out_for_delivery")
    if seed[2] % 5 == 0:  # one in five: nobody home the first time
        steps += ["failed_attempt", "out_for_delivery"]
    steps.append("delivered")
    timeline, at = [], start
    for s in steps:
        timeline.append((s, at))
        at += timedelta(days=1) if s in ("delayed", "failed_attempt") else step
    return timeline


class SandboxCarrier:
    def __init__(self, config: CarrierConfig) -> None:
        self.config = config
        self._started: dict[str, datetime] = {}  # number -> when the carrier first heard of it
        self.subscriptions: dict[str, Subscription] = {}

    def register(self, number: str, *, at: datetime | None = None) -> None:
        self._started.setdefault(self._valid(number), at or self.config.clock.now())

    def track(self, number: str) -> dict[str, Any]:
        number = self._valid(number)
        start = self._started.setdefault(number, self.config.clock.now())
        now = self.config.clock.now()
        timeline = plan(number, start, self.config.step)
        seen = [(s, at) for s, at in timeline if at <= now]
        status = seen[-1][0]
        eta = None if status in ("delivered", "exception") else timeline[-1][1]
        return {"carrier": parse_tracking_number(number).carrier.value, "status": status,
                "eta": eta.isoformat() if eta else None,
                "events": [{"status": s, "at": at.isoformat()} for s, at in seen]}

    def subscribe(self, url: str, secret: str) -> Subscription:
        if not url.startswith(("http://", "https://")):
            raise CarrierProblem(422, "bad_url", "url: an http(s) URL to push tracking events to")
        try:
            Webhook(secret)
        except Exception:
            raise CarrierProblem(422, "bad_secret",
                                 "secret: a Standard Webhooks secret (whsec_...)") from None
        sub = Subscription(f"sub_{secrets.token_hex(8)}", url, secret)
        self.subscriptions[sub.id] = sub
        return sub

    def follow(self, subscription_id: str, number: str, reference: str) -> None:
        sub = self.subscriptions.get(subscription_id)
        if sub is None:
            raise CarrierProblem(404, "unknown_subscription", "no such subscription")
        number = self._valid(number)
        self._started.setdefault(number, self.config.clock.now())
        sub.shipments[reference] = number

    async def pump(self) -> int:
        """Push each followed shipment's new steps (reached on the clock) to its subscriber,
        Standard Webhooks signed; the number of events delivered (2xx)."""
        delivered = 0
        http = self.config.http or httpx.AsyncClient(timeout=10.0)
        try:
            for sub in list(self.subscriptions.values()):
                for reference, number in list(sub.shipments.items()):
                    state = self.track(number)
                    if len(state["events"]) <= sub.pushed.get(reference, 0):
                        continue
                    data = {"reference": reference, "carrier": state["carrier"], "status": state["status"],
                            "eta": state["eta"], "events": state["events"]}
                    if await self._push(http, sub, data):
                        sub.pushed[reference] = len(state["events"])
                        delivered += 1
        finally:
            if self.config.http is None:
                await http.aclose()
        return delivered

    async def _push(self, http: httpx.AsyncClient, sub: Subscription, data: dict[str, Any]) -> bool:
        now = self.config.clock.now()
        body = json.dumps({"type": "tracking.updated", "timestamp": now.isoformat(), "data": data},
                          separators=(",", ":"))
        msg_id = f"msg_{secrets.token_hex(12)}"
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": Webhook(sub.secret).sign(msg_id, now, body),
                   "content-type": "application/json"}
        answer: int | str
        try:
            answer = (await http.post(sub.url, content=body.encode(), headers=headers)).status_code
        except httpx.HTTPError as exc:
            answer = type(exc).__name__
        sub.sent.append({"reference": data["reference"], "status": data["status"], "answer": answer})
        return isinstance(answer, int) and 200 <= answer < 300

    async def run(self, tick: float = 1.0) -> None:
        """Push on the clock until cancelled (the embedded sandbox's background task)."""
        while True:
            try:
                await self.pump()
            except Exception as exc:  # the loop goes on: what was not delivered goes next time
                log.warning("carrier_push_failed", reason=type(exc).__name__)
            await asyncio.sleep(tick)

    @staticmethod
    def _valid(number: str) -> str:
        try:
            return parse_tracking_number(number).number
        except InvalidInput as exc:
            raise CarrierProblem(404, "unknown_shipment", f"no such shipment ({exc.code})") from None


class TrackBody(BaseModel):
    number: str


class SubscribeBody(BaseModel):
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)


class FollowBody(BaseModel):
    number: str = Field(max_length=64)
    reference: str = Field(min_length=1, max_length=64)


def create_carrier_app(config: CarrierConfig) -> FastAPI:
    carrier = SandboxCarrier(config)
    app = FastAPI(title="Sandbox carrier", docs_url=None, redoc_url=None)
    app.state.carrier = carrier

    @app.exception_handler(CarrierProblem)
    async def on_problem(_: Request, exc: CarrierProblem) -> JSONResponse:
        return JSONResponse({"code": exc.code, "detail": exc.detail, "status": exc.status},
                            status_code=exc.status, media_type="application/problem+json")

    @app.post("/v1/track")
    async def track(body: TrackBody) -> dict[str, Any]:
        return carrier.track(body.number[:64])

    @app.post("/v1/subscriptions", status_code=201)
    async def subscribe(body: SubscribeBody) -> dict[str, str]:
        return {"id": carrier.subscribe(body.url, body.secret).id}

    @app.post("/v1/subscriptions/{subscription_id}/shipments", status_code=201)
    async def follow(subscription_id: str, body: FollowBody) -> dict[str, str]:
        carrier.follow(subscription_id[:40], body.number, body.reference)
        return {"status": "following"}

    @app.post("/admin/shipments")
    async def register(body: TrackBody) -> dict[str, str]:
        carrier.register(body.number[:64])
        return {"status": "registered"}

    return app
