"""A restaurant order with a tip (issue 11): at the sandbox restaurant Harbor Bistro (MCC 5812)
the card is authorised for the bill and posts for the bill and the tip; the receipt (the bill,
without the tip), arriving after the charge posted, attaches to that charge explained as a tip.
On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.chat import CardKind
from ledgerlink.sandbox.merchant import SandboxShop
from ledgerlink.sandbox.merchant.shop import CardEntry, ShopProblem
from ledgerlink.services.messaging import messenger


async def test_a_tip_posts_more_than_the_bill_and_the_receipt_still_attaches(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="bistro", customer_ref="alice")
    bistro: SandboxShop = stack.container.bistro_app.state.shop
    bank = stack.bank
    card = next(c for c in bank.cards_of("alice") if bank.ledger.accounts[c.account_id].type == "checking")
    entry = CardEntry(card.pan, card.exp_month, card.exp_year, card.cvc)
    bistro.add_to_cart("alice", "FISH")
    bistro.add_to_cart("alice", "LEMONADE")
    with pytest.raises(ShopProblem) as refused:
        await bistro.checkout_card("alice", entry, processor="direct", tip_percent=45)
    assert refused.value.code == "bad_tip" and refused.value.detail == "a tip of 0 to 30 % of the bill"
    bistro.drop_events = 1  # the bill's event is lost; it is sent again once the charge has posted here
    order = await bistro.checkout_card("alice", entry, processor="direct", tip_percent=20)
    assert order.total == Decimal("24.30") and order.tip == Decimal("4.86")  # 18.00 + 4.50 + 8 % tax
    charge = bank.ledger.txn(order.transaction_id)
    assert charge.status == "posted" and charge.amount == Decimal("-29.16") and charge.mcc == "5812"

    await stack.container.drain()  # the bank's pending charge, then its posting with the tip
    await bistro.resend(order.order_ref)  # the receipt comes after the charge posted, as a bill's does
    cards: list[Any] = []
    for _ in range(100):  # the signed order event comes over HTTP: wait for it (bounded, 10 s)
        await stack.container.drain()
        msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
        cards = [m for m in msgs if m.kind is CardKind.TRANSACTION and m.body.get("receipt")]
        if cards:
            break
        await asyncio.sleep(0.1)
    assert len(cards) == 1
    body = cards[0].body
    assert body["merchant"] == "Harbor Bistro" and -Decimal(body["amount"]) == Decimal("29.16")
    assert body["receipt"]["order_ref"] == order.order_ref
    assert Decimal(body["receipt"]["total"]) == Decimal("24.30")
    assert body["receipt"]["why"] == f"matched: tip $4.86, card ••{card.last4}, same day as the order"
