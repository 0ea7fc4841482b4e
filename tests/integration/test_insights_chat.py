"""Insights in chat and alerts (issue 13), on the real stack (SQLite / PostgreSQL, the sandbox
bank over HTTP): categories everywhere, corrections, recurring payments, insight alerts,
budgets and locale-formatted answers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands

INSIGHT_KINDS = {"price_increase", "trial_paid", "duplicate_charge", "unusual_tip", "budget"}


@pytest.fixture
async def clocked(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Stack, FrozenClock]]:
    clock = FrozenClock(datetime.combine(datetime.now(UTC).date(), time(12), tzinfo=UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        yield stack, clock


async def _ask(stack: Stack, grant: Grant, thread_id: str, text: str) -> str:
    await commands.handle_text(stack.deps, grant, thread_id, text)
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    assert messages[-2].body["text"] == text
    return str(messages[-1].body["text"])


async def _alerts(stack: Stack, grant: Grant, thread_id: str) -> list[dict[str, Any]]:
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    return [m.body for m in messages if m.body.get("alert") in INSIGHT_KINDS]


async def _buy(stack: Stack, merchant: str, amount: str, *, post: str | None = None) -> None:
    txn = await stack.bank.purchase("alice", merchant=merchant, amount=amount)
    await stack.container.drain()
    if post is not None:
        await stack.bank.post(txn, final_amount=post)
        await stack.container.drain()


async def test_coffee_never_counts_chipotle_and_answers_are_locale_formatted(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _buy(stack, "Starbucks", "4.75")
    await _buy(stack, "Chipotle", "12.40")
    coffee = await _ask(stack, grant, thread_id, "how much on coffee this week")
    assert "Spending on Coffee" in coffee and "$4.75 in 1 purchase" in coffee
    assert "Chipotle" not in coffee and " USD" not in coffee
    balance = await _ask(stack, grant, thread_id, "balance")
    assert re.search(r"\$[\d,]+\.\d\d \(available \$[\d,]+\.\d\d\)", balance), balance
    assert " USD" not in balance
    cards = [m.body for m in await messenger.thread_messages(stack.deps, grant, thread_id)
             if m.body.get("merchant") in ("Starbucks", "Chipotle")]
    assert {c["merchant"]: c["category"] for c in cards} == {"Starbucks": "Coffee", "Chipotle": "Fast food"}


async def test_groceries_in_a_month_before_the_history_says_where_the_history_starts(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    today = stack.deps.clock.now().date()
    old = (today.replace(day=1) - timedelta(days=150)).strftime("%B")  # five months back: no data
    reply = await _ask(stack, grant, thread_id, f"groceries in {old}")
    assert reply.startswith("Spending on Groceries") and "no purchases" in reply
    assert "Your transactions here start on" in reply
    earlier = (today.replace(day=1) - timedelta(days=50)).strftime("%B")  # in the seeded history
    weekly = await _ask(stack, grant, thread_id, f"groceries in {earlier}")
    assert re.search(r"in [4-6] purchases\. Top: (Whole Foods Market|Trader Joe's)", weekly), weekly
    this = await _ask(stack, grant, thread_id, f"groceries in {today:%B}")
    assert this.startswith("Spending on Groceries") and "purchase" in this


async def test_a_correction_moves_past_purchases_is_explained_and_erased(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _buy(stack, "Chipotle", "12.40")
    await _buy(stack, "Chipotle", "9.90")
    reply = await _ask(stack, grant, thread_id, "Chipotle is restaurants")
    moved = re.fullmatch(r"Chipotle is now Restaurants: (\d+) past purchases? moved.*", reply)
    assert moved is not None and int(moved[1]) >= 2, reply
    again = await _ask(stack, grant, thread_id, "chipotle is restaurants")
    assert again.startswith("Chipotle is now Restaurants: 0 past purchases moved")
    spent = await _ask(stack, grant, thread_id, "how much did I spend on restaurants today")
    assert "Chipotle $22.30" in spent
    why = await _ask(stack, grant, thread_id, "why is chipotle restaurants")
    today = stack.deps.clock.now().date()
    assert f"Restaurants: you said so on {today:%b} {today.day}, {today.year}" in why
    fast = await _ask(stack, grant, thread_id, "spending on fast food today")
    assert "Chipotle" not in fast
    async with stack.deps.uow() as uow:  # stored sealed, for this person only
        assert len(await uow.insights.corrections(grant.person_id)) == 1
        counts = await uow.persons.erase(grant.person_id, stack.deps.clock.now())
        await uow.commit()
    assert counts["category_corrections"] == 1


async def test_an_emoji_is_not_a_merchant_and_the_reply_says_what_was_not_understood(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    reply = await _ask(stack, grant, thread_id, "how much did I spend at 🍕")
    assert reply.startswith('I did not understand "🍕" as a merchant or a category')
    mute = await _ask(stack, grant, thread_id, "mute 🍕")
    assert "is not a merchant name" in mute


async def test_recurring_finds_spotify_not_groceries_and_raises_a_price_increase_once(
    clocked: tuple[Stack, FrozenClock],
) -> None:
    stack, clock = clocked
    grant, thread_id = await _linked(stack)
    assert await _alerts(stack, grant, thread_id) == []  # nothing for the linked history
    # Five monthly charges fit the 90-day consent only at the short end of "monthly" (21-38 days).
    for gap, price in ((0, "11.99"), (22, "11.99"), (21, "11.99"), (21, "11.99"), (21, "12.99")):
        clock.advance(timedelta(days=gap))
        await _buy(stack, "Spotify", price, post=price)
        for _ in range(3):  # groceries and chains: regular, never subscriptions
            await _buy(stack, "Safeway", "42.10")
        await _buy(stack, "Chipotle", "11.50")
    reply = await _ask(stack, grant, thread_id, "recurring charges")
    assert "Spotify: $12.99 monthly (subscription)" in reply, reply
    for name in ("Safeway", "CVS", "Shake Shack", "Chipotle"):
        assert name not in reply
    found = [a for a in await _alerts(stack, grant, thread_id) if a["alert"] == "price_increase"]
    assert [a["text"] for a in found] == ["Spotify went from $11.99 to $12.99."]


async def test_duplicate_and_unusual_tip_alert_once_and_budgets_warn_at_80_and_100(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _buy(stack, "Chipotle", "12.40")
    await _buy(stack, "Chipotle", "12.40")  # same merchant and amount within minutes
    await _buy(stack, "Shake Shack", "40.00", post="56.00")  # a 40 % tip
    kinds = [a["alert"] for a in await _alerts(stack, grant, thread_id)]
    assert kinds.count("duplicate_charge") == 1 and kinds.count("unusual_tip") == 1
    tip = next(a for a in await _alerts(stack, grant, thread_id) if a["alert"] == "unusual_tip")
    assert tip["text"] == "Unusual tip at Shake Shack: authorised $40.00, posted $56.00 (a $16.00 tip, 40%)."

    set_reply = await _ask(stack, grant, thread_id, "budget 200 for electronics")
    assert set_reply.startswith("Budget set: $200.00 a month for Electronics")
    await _buy(stack, "Best Buy", "150.00")  # 75 %: nothing yet
    assert not [a for a in await _alerts(stack, grant, thread_id) if a["alert"] == "budget"]
    await _buy(stack, "Best Buy", "20.00")  # 85 %
    await _buy(stack, "Best Buy", "5.00")  # still 80 %: no second warning
    await _buy(stack, "Best Buy", "40.00")  # 107 %
    await _buy(stack, "Best Buy", "10.00")  # past 100 % again: once a month
    budget = [a["text"] for a in await _alerts(stack, grant, thread_id) if a["alert"] == "budget"]
    assert len(budget) == 2, budget
    assert budget[0].startswith("Budget: Electronics is at $170.00 of your $200.00")
    assert budget[1].startswith("Budget reached: Electronics is at $215.00 of your $200.00")
    listed = await _ask(stack, grant, thread_id, "budgets")
    assert "Electronics: $225.00 of $200.00 (112%)" in listed
    gone = await _ask(stack, grant, thread_id, "remove budget for electronics")
    assert gone == "Budget for Electronics removed."
    assert "no budgets" in await _ask(stack, grant, thread_id, "budgets")


async def test_biggest_purchases_and_compare_two_months(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _buy(stack, "Best Buy", "250.00")
    today = stack.deps.clock.now().date()
    biggest = await _ask(stack, grant, thread_id, "biggest purchases this month")
    lines = biggest.splitlines()
    assert lines[0].startswith("Your biggest purchases") and len(lines) >= 2
    assert "$250.00 Best Buy" in biggest
    last = (today.replace(day=1) - timedelta(days=1)).strftime("%B")
    compare = await _ask(stack, grant, thread_id, f"compare {last} and {today:%B}")
    assert compare.startswith("Spending: ") and re.search(r"• \$[\d,.]+ and \$[\d,.]+", compare)
