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
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.tracking import parse_tracking_number

__all__ = ["CarrierConfig", "SandboxCarrier", "create_carrier_app"]

STATUSES = ("label_created", "picked_up", "in_transit", "delayed", "out_for_delivery",
            "failed_attempt", "exception", "delivered")


@dataclass
class CarrierConfig:
    clock: Clock = field(default_factory=SystemClock)
    step: timedelta = timedelta(hours=8)  # between two steps of a timeline


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

    @staticmethod
    def _valid(number: str) -> str:
        try:
            return parse_tracking_number(number).number
        except InvalidInput as exc:
            raise CarrierProblem(404, "unknown_shipment", f"no such shipment ({exc.code})") from None


class TrackBody(BaseModel):
    number: str


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

    @app.post("/admin/shipments")
    async def register(body: TrackBody) -> dict[str, str]:
        carrier.register(body.number[:64])
        return {"status": "registered"}

    return app
