"""The sandbox carrier-tracking API (sandbox/merchant/carrier.py), through its ASGI app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox.merchant.carrier import CarrierConfig, create_carrier_app, plan

START = datetime(2024, 11, 4, 9, 0, tzinfo=UTC)


def _client(clock: FrozenClock) -> httpx.AsyncClient:
    app = create_carrier_app(CarrierConfig(clock=clock, step=timedelta(hours=8)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://carrier.test")


async def test_a_parcel_moves_to_delivered_on_the_clock_and_answers_never_repeat_the_number() -> None:
    clock, number = FrozenClock(START), "1Z5R89390357567127"
    async with _client(clock) as client:
        first = (await client.post("/v1/track", json={"number": number})).json()
        assert first["carrier"] == "ups"
        assert [e["status"] for e in first["events"]] == ["label_created"]
        seen = ["label_created"]
        for _ in range(12):
            clock.advance(timedelta(days=1))
            body = (await client.post("/v1/track", json={"number": number}))
            assert number not in body.text
            seen = [e["status"] for e in body.json()["events"]]
        assert seen == [s for s, _ in plan(number, START, timedelta(hours=8))]
        assert seen[-1] in ("delivered", "exception")
        assert body.json()["eta"] is None


async def test_an_impossible_number_is_no_such_shipment() -> None:
    async with _client(FrozenClock(START)) as client:
        answer = await client.post("/v1/track", json={"number": "1Z5R89390357567128"})
    assert answer.status_code == 404
    assert answer.json()["code"] == "unknown_shipment"
    assert "1Z5R" not in answer.text


def test_timelines_include_delays_failed_attempts_and_exceptions_now_and_then() -> None:
    numbers = [f"{n:09d}{n % 7}" for n in range(100000000, 100000200)]  # valid DHL numbers
    kinds = {s for number in numbers for s, _ in plan(number, START, timedelta(hours=8))}
    assert {"delayed", "failed_attempt", "exception", "delivered"} <= kinds
    for number in numbers:
        steps = [s for s, _ in plan(number, START, timedelta(hours=8))]
        assert steps[:3] == ["label_created", "picked_up", "in_transit"]
        assert steps[-1] in ("delivered", "exception")
