"""Receipts from the sandbox shop (issue 11): checkout -> the bank's card charge -> the signed
order event -> the receipt on that same message, edited in place as the parcel moves and when
a refund comes; replayed, forged and someone else's events refused."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.webhooks import StandardWebhooksSigner
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger


def _shop(stack: Stack) -> Any:
    return stack.container.shop_app.state.shop


async def _txn_cards(stack: Stack, grant: Grant, thread_id: str) -> list[Any]:
    msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
    return [m for m in msgs if m.kind is CardKind.TRANSACTION]


async def _checkout(stack: Stack, login: str = "alice") -> tuple[Any, Any]:
    acc = next(a for a in stack.bank.accounts_of(login) if a.type in ("checking", "credit_card"))
    async with httpx.AsyncClient(base_url=f"{stack.platform_url}/sandbox/shop", timeout=10.0) as shop:
        for sku, qty in (("SOCK-2", 2), ("CAP-1", 1)):
            added = await shop.post("/cart", json={"customer": login, "sku": sku, "quantity": qty})
            assert added.status_code == 200
        resp = await shop.post("/checkout", json={"customer": login, "account_id": acc.account_id,
                                                   "card_last4": acc.mask, "processor": "paypal"})
    assert resp.status_code == 200, resp.text
    await stack.container.drain()
    return _shop(stack).orders[resp.json()["order_id"]], acc


async def test_checkout_charge_then_receipt_attaches_to_that_message_and_edits_in_place(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    order, acc = await _checkout(stack)
    # The shop's signed order.placed comes over HTTP on its own schedule: wait for it (bounded).
    for _ in range(100):
        cards = await _txn_cards(stack, grant, thread_id)
        charge = [c for c in cards if c.body["descriptor"].startswith("PAYPAL *ACME")]
        if charge and charge[0].body.get("receipt"):
            break
        await asyncio.sleep(0.1)
        await stack.container.drain()
    assert len(charge) == 1
    card = charge[0]
    assert card.body["merchant"] == "Acme Outfitters"
    receipt = card.body["receipt"]
    assert receipt["order_ref"] == order.order_ref
    assert [i["name"] for i in receipt["items"]] == ["Trail socks", "Canvas cap"]
    assert Decimal(receipt["total"]) == order.total == -Decimal(card.body["amount"])
    assert receipt["why"] == f"matched: same amount, card ••{acc.mask}, same day as the order"
    seq = card.seq
    for _ in range(5):  # label created .. delivered, each edits the same message
        await _shop(stack).advance(order.order_ref)
    await stack.container.drain()
    cards = await _txn_cards(stack, grant, thread_id)
    same = [c for c in cards if c.seq == seq]
    assert len(same) == 1 and len([c for c in cards if "receipt" in c.body]) == 1
    assert same[0].body["receipt"]["shipment_status"] == "delivered"
    assert len(same[0].body["receipt"]["timeline"]) == 5
    await _shop(stack).refund(order.order_ref, Decimal("19.99"))
    await stack.container.drain()
    cards = await _txn_cards(stack, grant, thread_id)
    after = next(c for c in cards if c.seq == seq)
    assert after.body["status"] == "posted"  # captured at pick-up: the same card
    assert after.body["receipt"]["refund_text"] == f"refunded 19.99 of {order.total} USD"
    # The shop gave the money back on the card: the bank's refund edits this card, none of its own.
    assert after.body["bank_refund"]["text"] == f"refunded 19.99 of {order.total} USD"
    assert not [c for c in cards if c.body["descriptor"].startswith("REFUND")]
    assert all(e["status"] == 202 for e in _shop(stack).sent), _shop(stack).sent


async def test_a_receipt_waits_and_matches_when_the_charge_arrives(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    shop = _shop(stack)
    pay, held = shop.config.pay, []

    async def later(login: str, **kw: Any) -> str:  # the charge is booked, but reaches us later
        held.append((login, kw))
        return "pending"

    shop.config.pay = later
    order, _ = await _checkout(stack)
    assert not [c for c in await _txn_cards(stack, grant, thread_id) if "receipt" in c.body]
    shop.config.pay = pay
    await pay(held[0][0], **held[0][1])
    await stack.container.drain()
    await stack.container.drain()
    matched = [c for c in await _txn_cards(stack, grant, thread_id) if "receipt" in c.body]
    assert [c.body["receipt"]["order_ref"] for c in matched] == [order.order_ref]


def _signed(stack: Stack, body: bytes, *, msg_id: str, secret: str | None = None) -> dict[str, str]:
    merchant = stack.container.receipts._merchants["acme"]
    return {**StandardWebhooksSigner().sign(secret or merchant.webhook_secrets[0], msg_id,
                                            datetime.now(UTC), body),
            "content-type": "application/json"}


async def test_replayed_forged_and_someone_elses_events_are_refused(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    await _checkout(stack)
    event = dict(_shop(stack).sent[0])
    event.pop("status", None)
    body = json.dumps(event).encode()
    path = "/partners/merchants/acme/events"
    async with stack.client() as client:
        fixed = f"msg_{secrets.token_hex(6)}"
        first = await client.post(path, content=body, headers=_signed(stack, body, msg_id=fixed))
        assert first.status_code == 202, first.text
        # the shop's retry of an event already applied (its 2xx was lost): received, nothing again
        replay = await client.post(path, content=body, headers=_signed(stack, body, msg_id=fixed))
        assert (replay.status_code, replay.json()["status"]) == (200, "already_received")
        # the same webhook-id reused for another version of the order: refused
        bumped = dict(event, data={**event["data"], "version": int(event["data"]["version"]) + 5})
        reused = json.dumps(bumped).encode()
        reuse = await client.post(path, content=reused, headers=_signed(stack, reused, msg_id=fixed))
        assert (reuse.status_code, reuse.json()["code"]) == (409, "duplicate_event")
        forged = await client.post(path, content=body, headers=_signed(
            stack, body, msg_id="msg_f", secret="whsec_" + "QUJD" * 8))
        assert (forged.status_code, forged.json()["code"]) == (401, "bad_signature")
        bob_person = await messenger.register(stack.deps, handle="bob", display_name="Bob",
                                              password="correct horse")
        await stack.container.receipts.link_merchant(bob_person, slug="acme", customer_ref="bob")
        theirs = json.dumps({**event, "data": {**event["data"], "customer_id": "bob"}}).encode()
        stolen = await client.post(path, content=theirs, headers=_signed(stack, theirs, msg_id="msg_s"))
        assert (stolen.status_code, stolen.json()["code"]) == (404, "unknown_order")
        too_much = json.dumps({**event, "type": "refund.issued",
                               "data": {**event["data"], "refund": "999.00", "version": 2}}).encode()
        big = await client.post(path, content=too_much, headers=_signed(stack, too_much, msg_id="msg_r"))
        assert (big.status_code, big.json()["code"]) == (422, "refund_too_large")
        for resp in (replay, forged, stolen, big):
            assert "Traceback" not in resp.text
