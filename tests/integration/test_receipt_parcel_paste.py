"""A pasted tracking number that is a receipt's parcel moves that purchase's own card (its
timeline and ETA, edited in place) instead of making a shipping card of its own; polling then
keeps that card moving. A number of no receipt still gets its own shipping card."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_parcel_tracking import NUMBER
from tests.integration.test_shop_receipts import _checkout, _txn_cards

from ledgerlink.adapters.carrier_http import HttpCarrierClient
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.tracking import masked
from ledgerlink.sandbox.merchant.carrier import CarrierConfig, create_carrier_app
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands
from ledgerlink.services.receipts import parcels


async def _texts(stack: Stack, grant: Any, thread_id: str) -> list[dict[str, Any]]:
    return [m.body for m in await messenger.thread_messages(stack.deps, grant, thread_id)
            if m.kind is CardKind.TEXT]


async def test_a_pasted_number_of_a_receipts_parcel_moves_that_purchase_card_not_a_new_one(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    order, _acc = await _checkout(stack)
    for _ in range(100):  # the shop's signed order.placed comes over HTTP on its own schedule
        cards = [c for c in await _txn_cards(stack, grant, thread_id) if c.body.get("receipt")]
        if cards:
            break
        await asyncio.sleep(0.1)
        await stack.container.drain()
    [card] = cards
    assert card.body["receipt"]["tracking"] == order.tracking and card.body["receipt"]["timeline"] == []

    clock = FrozenClock(datetime(2024, 3, 4, 9, 0, tzinfo=UTC))
    app = create_carrier_app(CarrierConfig(clock=clock, step=timedelta(hours=8)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        stack.deps.carrier = HttpCarrierClient(client, "http://carrier.test")
        try:
            pasted = f"my tracking number is {order.tracking}"
            await commands.handle_text(stack.deps, grant, thread_id, pasted)
            texts = await _texts(stack, grant, thread_id)
            assert not [b for b in texts if "shipment" in b]  # no shipping card of its own
            assert texts[-1]["text"] == (
                f"That's the UPS parcel {masked(order.tracking)} of your order {order.order_ref}: "
                "I'll follow it and show its steps on that purchase's card.")
            [moved] = [c for c in await _txn_cards(stack, grant, thread_id) if c.body.get("receipt")]
            assert moved.seq == card.seq  # the same message, edited
            assert [e["status"] for e in moved.body["receipt"]["timeline"]] == ["label_created"]
            shown = moved.body["receipt"]
            assert shown["shipment_status"] == "label_created" and shown["eta"]

            clock.advance(timedelta(hours=16))
            assert await parcels.poll(stack.deps) == 1
            [moved] = [c for c in await _txn_cards(stack, grant, thread_id) if c.body.get("receipt")]
            assert moved.seq == card.seq
            assert [e["status"] for e in moved.body["receipt"]["timeline"]] == [
                "label_created", "picked_up", "in_transit"]
            assert not [b for b in await _texts(stack, grant, thread_id) if "shipment" in b]

            await commands.handle_text(stack.deps, grant, thread_id, f"track {NUMBER}")  # no receipt's
            shipping = [b for b in await _texts(stack, grant, thread_id) if "shipment" in b]
            assert len(shipping) == 1 and shipping[0]["shipment"]["number"] == masked(NUMBER)
        finally:
            stack.deps.carrier = None
