"""A bank's card refund edits the card of the purchase it gives back ("refunded 19.99 of 48.17
USD") instead of arriving as a new, unrelated card (issue 11)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger


async def _txn_cards(stack: Stack, grant: Grant, thread_id: str) -> list[Any]:
    msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
    return [m for m in msgs if m.kind is CardKind.TRANSACTION]


async def test_a_bank_refund_edits_its_purchase_card_and_gets_no_card_of_its_own(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    pending = await stack.bank.purchase("alice", account_id=acc.account_id, merchant="IKEA", amount="48.17")
    posted = await stack.bank.post(pending)
    await stack.container.drain()
    before = await _txn_cards(stack, grant, thread_id)
    ikea = [c for c in before if c.body["merchant"] == "IKEA" and c.body["amount"] == "-48.17"]
    assert len(ikea) == 1 and ikea[0].body["status"] == "posted"
    seq = ikea[0].seq

    await stack.bank.refund(posted, amount="19.99")
    await stack.container.drain()
    after = await _txn_cards(stack, grant, thread_id)
    assert len(after) == len(before), "the refund got a card of its own"
    card = next(c for c in after if c.seq == seq)
    assert card.body["bank_refund"]["text"] == "refunded 19.99 of 48.17 USD"
    assert card.body["amount"] == "-48.17"  # the purchase stays what was paid

    await stack.bank.refund(posted, amount="28.18")
    await stack.container.drain()
    final = await _txn_cards(stack, grant, thread_id)
    assert len(final) == len(before)
    card = next(c for c in final if c.seq == seq)
    assert card.body["bank_refund"]["text"] == "refunded 48.17 of 48.17 USD"
    assert not [c for c in final if c.body["descriptor"].startswith("REFUND")]


async def test_money_in_that_no_purchase_explains_keeps_its_own_card(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    before = await _txn_cards(stack, grant, thread_id)
    await stack.bank.deposit("alice", amount="250.00", description="PAYROLL DIRECT DEPOSIT")
    await stack.container.drain()
    after = await _txn_cards(stack, grant, thread_id)
    assert len(after) == len(before) + 1
    assert not any("bank_refund" in c.body for c in after)
