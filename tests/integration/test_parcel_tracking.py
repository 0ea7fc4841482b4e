"""A tracking number pasted into a thread is followed on a shipping card (issue 11): the card is
edited in place as the sandbox carrier's timeline moves on its clock, out for delivery and
delivered are told once each, a delay is one alert, and the number is never in the logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.carrier_http import HttpCarrierClient
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox.merchant.carrier import CarrierConfig, create_carrier_app
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands
from ledgerlink.services.receipts import parcels

NUMBER = "1Z5R89390357567127"  # UPS's published example; its sandbox timeline has a delay


async def test_a_pasted_number_gets_a_card_edited_as_the_parcel_moves(
        stack: Stack, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FrozenClock(datetime(2024, 3, 4, 9, 0, tzinfo=UTC))
    app = create_carrier_app(CarrierConfig(clock=clock, step=timedelta(hours=8)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        stack.deps.carrier = HttpCarrierClient(client, "http://carrier.test")
        try:
            grant, thread_id = await _linked(stack)
            await commands.handle_text(stack.deps, grant, thread_id, f"track {NUMBER}")

            async def cards() -> list[dict[str, object]]:
                messages = await messenger.thread_messages(stack.deps, grant, thread_id)
                return [m.body for m in messages if m.kind is CardKind.TEXT]

            def shipment(bodies: list[dict[str, object]]) -> dict[str, object]:
                found = [b["shipment"] for b in bodies if "shipment" in b]
                assert len(found) == 1  # one card, edited in place
                assert isinstance(found[0], dict)
                return found[0]

            bodies = await cards()
            assert shipment(bodies)["status"] == "label_created"
            assert shipment(bodies)["number"] == "1Z••••••••••••7127"
            assert str(bodies[-1]["text"]).startswith("Following your UPS parcel 1Z••••••••••••7127")

            def told(bodies: list[dict[str, object]], word: str) -> int:
                return sum(1 for b in bodies if "shipment" not in b and word in str(b["text"]))

            for hours, status in [(16, "in_transit"), (8, "delayed"), (24, "out_for_delivery"),
                                  (8, "delivered")]:
                clock.advance(timedelta(hours=hours))
                assert await parcels.poll(stack.deps) == 1
                bodies = await cards()
                assert shipment(bodies)["status"] == status
            assert told(bodies, "is out for delivery today") == 1
            assert told(bodies, "was delivered") == 1
            assert sum(1 for b in bodies if b.get("alert") == parcels.PARCEL_ALERT) == 1
            alert = next(str(b["text"]) for b in bodies if b.get("alert") == parcels.PARCEL_ALERT)
            assert "is delayed" in alert
            clock.advance(timedelta(days=2))
            assert await parcels.poll(stack.deps) == 0  # delivered: no longer polled
            assert len(await cards()) == len(bodies)

            await commands.handle_text(stack.deps, grant, thread_id, NUMBER)
            assert (await cards())[-1]["text"] == "I'm already following your UPS parcel 1Z••••••••••••7127."
        finally:
            stack.deps.carrier = None
    out = capsys.readouterr()
    assert NUMBER not in caplog.text + out.out + out.err
