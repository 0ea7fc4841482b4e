"""Spending questions typed in a thread are answered from the person's own transactions."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands


async def _ask(stack: Stack, grant: Grant, thread_id: str, text: str) -> str:
    await commands.handle_text(stack.deps, grant, thread_id, text)
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    assert messages[-2].body["text"] == text
    return str(messages[-1].body["text"])


async def _shop(stack: Stack) -> None:
    await stack.bank.purchase("alice", merchant="Whole Foods Market", amount="23.10")
    await stack.bank.purchase("alice", merchant="Starbucks", amount="4.75")
    await stack.container.drain()


async def test_spending_on_a_category_counts_only_that_category(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _shop(stack)

    today = await _ask(stack, grant, thread_id, "What did I spend on groceries today?")
    assert "Groceries" in today and "$23.10 in 1 purchase" in today
    assert "Starbucks" not in today and "refunds are not subtracted" in today

    month = await _ask(stack, grant, thread_id, "what did I spend on groceries this month")
    assert "Starbucks" not in month  # top 3 merchants: Whole Foods may be outranked by history
    total = re.search(r"• \$([\d.,]+) in (\d+) purchase", month)
    assert total is not None  # the quietly imported history of this month counts too
    assert Decimal(total[1].replace(",", "")) >= Decimal("23.10") and int(total[2]) >= 1

    coffee = await _ask(stack, grant, thread_id, "how much did I spend at starbucks today")
    assert "$4.75 in 1 purchase" in coffee and "Whole Foods" not in coffee


async def test_last_transactions_lists_date_merchant_amount_and_status(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _shop(stack)
    reply = await _ask(stack, grant, thread_id, "last 2 transactions")
    lines = reply.splitlines()
    assert lines[0] == "Your last 2 transactions:" and len(lines) == 3
    assert "Whole Foods Market \u2212$23.10 (pending)" in reply
    assert "Starbucks \u2212$4.75 (pending)" in reply
    today = stack.deps.clock.now().date()
    assert f"{today:%b} {today.day}, {today.year}" in lines[1]  # locale-formatted, not ISO


async def test_recurring_and_the_system_thread_see_every_linked_account(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _shop(stack)
    system = next(t for t in await messenger.list_threads(stack.deps, grant) if t.kind.value == "system")
    reply = await _ask(stack, grant, system.id, "how much did i spend on coffee today")
    assert "$4.75 in 1 purchase" in reply
    recurring = await _ask(stack, grant, thread_id, "recurring charges")
    assert recurring.startswith(("Recurring payments", "No recurring payments"))


async def test_a_question_shaped_text_that_is_no_question_gets_help(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    reply = await _ask(stack, grant, thread_id, "transactions")
    assert "I did not understand" in reply
    for example in ("what did I spend on groceries in October", "last 5 transactions", "recurring charges"):
        assert example in reply


async def test_someone_elses_thread_is_not_found(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    _, bobs_thread = await _linked(stack, handle="sam", login="bob")
    with pytest.raises(NotFound):
        await commands.handle_text(stack.deps, grant, bobs_thread, "last 5 transactions")
