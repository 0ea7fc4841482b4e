"""A split shipment (one order, a charge per parcel) and a foreign-currency order from the
sandbox shop, matched to the bank's charges and explained on the card (docs/receipts.md)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_shop_receipts import _shop, _txn_cards

from ledgerlink.domain.privacy import Grant


async def _checkout(stack: Stack, **options: Any) -> tuple[Any, Any]:
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type in ("checking", "credit_card"))
    async with httpx.AsyncClient(base_url=f"{stack.platform_url}/sandbox/shop", timeout=10.0) as shop:
        for sku, qty in (("SOCK-2", 2), ("CAP-1", 1)):
            added = await shop.post("/cart", json={"customer": "alice", "sku": sku, "quantity": qty})
            assert added.status_code == 200
        resp = await shop.post("/checkout", json={"customer": "alice", "account_id": acc.account_id,
                                                   "card_last4": acc.mask, "processor": "paypal", **options})
    assert resp.status_code == 200, resp.text
    await stack.container.drain()
    return _shop(stack).orders[resp.json()["order_id"]], acc


async def _shop_cards(stack: Stack, grant: Grant, thread_id: str, *, want: int) -> list[Any]:
    """The PayPal charges' cards once `want` of them carry the receipt (the shop's event comes
    over HTTP on its own schedule: bounded wait)."""
    for _ in range(100):
        cards = [c for c in await _txn_cards(stack, grant, thread_id)
                 if c.body["descriptor"].startswith("PAYPAL *ACME")]
        if len([c for c in cards if c.body.get("receipt")]) >= want:
            return cards
        await asyncio.sleep(0.1)
        await stack.container.drain()
    return cards


async def test_an_order_shipped_in_two_parcels_and_charged_twice_shows_its_receipt_on_both_charges(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    order, acc = await _checkout(stack, parcels=2)
    cards = await _shop_cards(stack, grant, thread_id, want=2)
    amounts = sorted(-Decimal(c.body["amount"]) for c in cards)
    assert len(cards) == 2 and sum(amounts) == order.total and order.total not in amounts
    first, second = sorted(amounts, reverse=True)
    for card in cards:
        assert card.body["merchant"] == "Acme Outfitters"
        assert card.body["receipt"]["order_ref"] == order.order_ref
        assert card.body["receipt"]["why"] == (
            f"matched: 2 charges, ${first} + ${second} = ${order.total}, card ••{acc.mask}, "
            "the first same day as the order")
    seqs = {c.seq for c in cards}
    await _shop(stack).advance(order.order_ref)  # label created
    await _shop(stack).advance(order.order_ref)  # picked up: both parcels' charges are captured
    await stack.container.drain()
    after = [c for c in await _txn_cards(stack, grant, thread_id) if c.seq in seqs]
    assert [c.body["status"] for c in after] == ["posted", "posted"]
    assert all(c.body["receipt"]["shipment_status"] == "picked_up" for c in after)


async def test_a_euro_order_charged_in_dollars_at_the_bank_matches_within_the_fx_band(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    order, acc = await _checkout(stack, currency="EUR")
    cards = await _shop_cards(stack, grant, thread_id, want=1)
    assert len(cards) == 1
    card = cards[0]
    charged = -Decimal(card.body["amount"])
    assert card.body["currency"] == "USD" and charged == (order.total * Decimal("1.0962")).quantize(
        Decimal("0.01"))
    receipt = card.body["receipt"]
    assert (receipt["currency"], Decimal(receipt["total"])) == ("EUR", order.total)
    assert receipt["why"].startswith(f"matched: €{order.total} paid as ${charged} at ")
    assert receipt["why"].endswith(f"USD/EUR (reference 1.0800, within ±3%), card ••{acc.mask}, "
                                   "same day as the order")


async def test_a_checkout_in_three_parcels_or_an_unknown_currency_is_refused_and_books_nothing(
        stack: Stack) -> None:
    await _linked(stack)
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type in ("checking", "credit_card"))
    before = len(stack.bank.ledger.txns)
    async with httpx.AsyncClient(base_url=f"{stack.platform_url}/sandbox/shop", timeout=10.0) as shop:
        await shop.post("/cart", json={"customer": "alice", "sku": "SOCK-2", "quantity": 2})
        for options, code in (({"parcels": 3}, "bad_parcels"), ({"currency": "XAU"}, "unknown_currency")):
            resp = await shop.post("/checkout", json={"customer": "alice", "account_id": acc.account_id,
                                                       "card_last4": acc.mask, **options})
            assert (resp.status_code, resp.json()["code"]) == (422, code)
    assert len(stack.bank.ledger.txns) == before
