"""The sandbox's seeded history (sandbox/_seed.py) on the real stack: a fresh demo person gets
real answers about the last four months, and linking still posts one summary card and no alerts."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.conftest import Stack
from tests.integration.test_insights_chat import INSIGHT_KINDS, _ask
from tests.integration.test_linking_flow import _linked

from ledgerlink.services.messaging import messenger


async def test_a_fresh_demo_person_sees_monthly_subscriptions_and_not_groceries(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    reply = await _ask(stack, grant, thread_id, "recurring charges")
    assert "Spotify: $11.99 monthly (subscription)" in reply, reply
    assert "Netflix: $17.99 monthly (subscription)" in reply, reply
    for name in ("Whole Foods", "Trader Joe", "Starbucks", "Chipotle", "Safeway"):
        assert name not in reply


async def test_groceries_two_months_back_are_the_weekly_shop(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    month = (stack.deps.clock.now().date().replace(day=1) - timedelta(days=40)).strftime("%B")
    reply = await _ask(stack, grant, thread_id, f"what did I spend on groceries in {month}")
    weekly = r"\$[\d,]+\.\d\d in [4-6] purchases\. Top: (Whole Foods Market|Trader Joe's)"
    assert re.search(weekly, reply), reply


async def test_linking_four_months_posts_one_summary_card_and_no_alerts(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    summaries = [m.body["summary"] for m in messages if "summary" in m.body]
    assert len(summaries) == 1 and summaries[0]["days"] == 30
    assert 30 <= summaries[0]["count"] <= 80  # the last 30 days only, not all four months
    assert not [m for m in messages if m.body.get("alert") in INSIGHT_KINDS]
    assert not [m for m in messages if m.body.get("merchant")]  # no backlog of purchase cards
