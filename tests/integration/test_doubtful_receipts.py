"""A doubtful receipt match is asked in chat, never guessed (issue 11): "Is this your $26.58
order from Acme Outfitters?" with Yes / No. Yes attaches the receipt and remembers the
descriptor, so the next order paid the same way matches by itself; No keeps it waiting."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import Conflict, NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger


async def _checkout_via_marketplace(stack: Stack) -> str:
    """Pay through the marketplace: the card shows "AMZN MKTP*…", which names no Acme."""
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    async with httpx.AsyncClient(base_url=f"{stack.platform_url}/sandbox/shop", timeout=10.0) as shop:
        assert (await shop.post("/cart", json={"customer": "alice", "sku": "BOTTLE-1"})).is_success
        done = await shop.post("/checkout", json={"customer": "alice", "account_id": acc.account_id,
                                                   "card_last4": acc.mask, "processor": "marketplace"})
    assert done.status_code == 200, done.text
    return str(done.json()["order_id"])


async def _wait(stack: Stack, grant: Grant, thread_id: str, found: Any) -> list[Any]:
    for _ in range(100):
        await stack.container.drain()
        msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
        if found(msgs):
            return msgs
        await asyncio.sleep(0.1)
    raise AssertionError("not seen in 10 s")


def _questions(msgs: list[Any]) -> list[Any]:
    return [m for m in msgs if m.kind is CardKind.TEXT and m.body.get("receipt_question")]


def _with_receipt(msgs: list[Any]) -> list[Any]:
    return [m for m in msgs if m.kind is CardKind.TRANSACTION and m.body.get("receipt")]


async def test_yes_attaches_the_receipt_and_the_next_order_paid_that_way_matches_by_itself(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    first = await _checkout_via_marketplace(stack)
    msgs = await _wait(stack, grant, thread_id, _questions)
    (question,) = _questions(msgs)
    assert question.body["text"] == "Is this your $26.58 order from Acme Outfitters?"
    assert question.body["receipt_question"]["charge"].startswith("AMZN MKTP*")
    assert question.body["prompt_status"] == "open" and not _with_receipt(msgs)

    order_id = question.body["receipt_question"]["order_id"]
    await stack.container.receipts.answer_question(grant, order_id=order_id, reply_id="yes")
    msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
    (card,) = _with_receipt(msgs)
    assert card.body["merchant"] == "Acme Outfitters" and card.body["receipt"]["order_ref"] == first
    assert card.body["receipt"]["why"].startswith("matched: you said so; same amount, card ••")
    (answered,) = _questions(msgs)
    assert (answered.seq, answered.body["prompt_status"]) == (question.seq, "answered")
    with pytest.raises(Conflict):
        await stack.container.receipts.answer_question(grant, order_id=order_id, reply_id="no")

    second = await _checkout_via_marketplace(stack)
    msgs = await _wait(stack, grant, thread_id, lambda ms: len(_with_receipt(ms)) == 2)
    assert sorted(c.body["receipt"]["order_ref"] for c in _with_receipt(msgs)) == sorted([first, second])
    assert len(_questions(msgs)) == 1  # asked once: the alias answered the second time


async def test_no_keeps_the_receipt_waiting_and_only_its_owner_may_answer(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    await _checkout_via_marketplace(stack)
    (question,) = _questions(await _wait(stack, grant, thread_id, _questions))
    order_id = question.body["receipt_question"]["order_id"]
    bob = Grant.for_person(await messenger.register(stack.deps, handle="bob", display_name="Bob",
                                                    password="correct horse"))
    with pytest.raises(NotFound):
        await stack.container.receipts.answer_question(bob, order_id=order_id, reply_id="yes")
    await stack.container.receipts.answer_question(grant, order_id=order_id, reply_id="no")
    await stack.container.drain()
    msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
    assert not _with_receipt(msgs)
    (answered,) = _questions(msgs)
    assert answered.body["prompt_status"] == "answered" and answered.body["answer"] == "no"
    async with stack.deps.uow(readonly=True) as uow:
        record = await uow.shop_receipts.order_by_id(order_id)
    assert record is not None and (record.match_state, record.transaction_id) == ("waiting", None)
