"""A second merchant, the marketplace Harbor Market (issue 11), beside the Acme shop in the
embedded demo: two orders of the same amount, one at each shop, paid with the same card on the
same day; each receipt attaches to its own charge (the descriptor names the shop), never to the
other's. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.merchant import SandboxShop
from ledgerlink.sandbox.merchant.shop import CardEntry
from ledgerlink.services.messaging import messenger


async def _receipt_cards(stack: Stack, grant: Grant, thread_id: str, want: int) -> list[Any]:
    cards: list[Any] = []
    for _ in range(300):  # the shops' signed events come over HTTP: wait for them (bounded, 30 s)
        await stack.container.drain()
        msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
        cards = [m for m in msgs if m.kind is CardKind.TRANSACTION and m.body.get("receipt")]
        if len(cards) >= want:
            break
        await asyncio.sleep(0.1)
    return cards


async def test_two_orders_of_the_same_amount_at_two_shops_each_match_their_own_charge(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    for slug in ("acme", "harbor"):
        await stack.container.receipts.link_merchant(grant.person_id, slug=slug, customer_ref="alice")
    acme: SandboxShop = stack.container.shop_app.state.shop
    market: SandboxShop = stack.container.market_app.state.shop
    card = next(c for c in stack.bank.cards_of("alice") if stack.bank.ledger.accounts[c.account_id].type
                == "credit_card")
    entry = CardEntry(card.pan, card.exp_month, card.exp_year, card.cvc)
    acme.add_to_cart("alice", "CAP-1")  # $21.00
    market.add_to_cart("alice", "KEY-7")  # $21.00 too, from a seller at the marketplace
    first = await acme.checkout_card("alice", entry, processor="direct")
    second = await market.checkout_card("alice", entry, processor="marketplace")
    assert first.total == second.total == Decimal("27.67")
    assert first.order_ref.startswith("ACME-") and second.order_ref.startswith("HARBOR-")
    descriptors = {o.order_ref: stack.bank.ledger.txn(o.transaction_id).descriptor for o in (first, second)}
    assert descriptors[first.order_ref].startswith("ACME OUTFITTERS")
    assert descriptors[second.order_ref].startswith("HARBOR MKT*")

    cards = await _receipt_cards(stack, grant, thread_id, want=2)
    if len(cards) < 2:  # say what the thread and the orders show instead (no card numbers)
        msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
        async with stack.deps.uow() as uow:
            orders = await uow.shop_receipts.orders_of(grant.person_id)
        shown = [(m.kind.value, m.body.get("status"), bool(m.body.get("receipt")),
                  str(m.body.get("text"))[:60]) for m in msgs[-6:]]
        states = [(o.merchant_slug, o.match_state, o.transaction_id) for o in orders]
        pytest.fail(f"{len(cards)} receipt cards after 30 s; thread ends {shown}; orders {states}")
    by_order = {c.body["receipt"]["order_ref"]: c for c in cards}
    assert set(by_order) == {first.order_ref, second.order_ref}
    assert by_order[first.order_ref].body["descriptor"] == descriptors[first.order_ref]
    assert by_order[second.order_ref].body["descriptor"] == descriptors[second.order_ref]
    assert by_order[first.order_ref].body["merchant"] == "Acme Outfitters"
    assert by_order[second.order_ref].body["merchant"] == "Harbor Market"
    assert [i["name"] for i in by_order[second.order_ref].body["receipt"]["items"]] == ["Rope key ring"]
    for c in by_order.values():
        assert c.body["receipt"]["why"] == f"matched: same amount, card ••{card.last4}, same day as the order"
