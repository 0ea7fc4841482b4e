"""A shop's parcel steps tell the person (issue 11): once on "out for delivery", once on
"delivered", a delay as a `parcel` alert; a resent order state tells nothing again, and steps
the receipt had before it attached are on its card only (services/receipts/shipment_news.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_shop_receipts import _checkout, _shop, _txn_cards

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger


async def _texts(stack: Stack, grant: Grant, thread_id: str) -> list[str]:
    return [json.dumps(m.body, ensure_ascii=False) for m in
            await messenger.thread_messages(stack.deps, grant, thread_id)]


async def _attached(stack: Stack, grant: Grant, thread_id: str, order: Any) -> None:
    for _ in range(100):  # the shop's order.placed comes over HTTP on its own schedule
        cards = await _txn_cards(stack, grant, thread_id)
        if any((c.body.get("receipt") or {}).get("order_ref") == order.order_ref for c in cards):
            return
        await asyncio.sleep(0.1)
        await stack.container.drain()
    raise AssertionError("the receipt did not attach")


async def test_out_for_delivery_and_delivered_are_told_once_and_a_delay_is_an_alert(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    order, _ = await _checkout(stack)
    await _attached(stack, grant, thread_id, order)
    shop = _shop(stack)
    for step in ("picked_up", "in_transit", "delayed", "out_for_delivery"):
        await shop.advance(order.order_ref, step)
    await stack.container.drain()
    texts = await _texts(stack, grant, thread_id)
    out = [t for t in texts if f"order {order.order_ref} is out for delivery today" in t]
    assert len(out) == 1, texts[-4:]
    assert len([t for t in texts if f"order {order.order_ref} is delayed" in t]) == 1
    assert not [t for t in texts if f"order {order.order_ref} was delivered" in t]

    await shop.resend(order.order_ref)  # the same state again: nothing told twice
    await shop.advance(order.order_ref, "delivered")
    await shop.resend(order.order_ref)
    await stack.container.drain()
    texts = await _texts(stack, grant, thread_id)
    assert len([t for t in texts if f"order {order.order_ref} was delivered" in t]) == 1
    assert len([t for t in texts if f"order {order.order_ref} is out for delivery today" in t]) == 1
    assert len([t for t in texts if f"order {order.order_ref} is delayed" in t]) == 1
    assert all(e["status"] in (200, 202) for e in shop.sent), shop.sent


async def test_steps_from_before_the_receipt_attached_are_on_the_card_not_told(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    order, _ = await _checkout(stack)  # the shop is not linked yet: its events are refused
    shop = _shop(stack)
    for step in ("picked_up", "in_transit", "out_for_delivery"):
        await shop.advance(order.order_ref, step)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    await shop.resend(order.order_ref)  # now linked: the order's latest state attaches
    await _attached(stack, grant, thread_id, order)
    texts = await _texts(stack, grant, thread_id)
    assert not [t for t in texts if f"order {order.order_ref} is out for delivery today" in t]
    cards = await _txn_cards(stack, grant, thread_id)
    [card] = [c for c in cards if (c.body.get("receipt") or {}).get("order_ref") == order.order_ref]
    assert card.body["receipt"]["shipment_status"] == "out_for_delivery"
