"""A transaction card written as the event arrives (services/ingest/delivery.py) carries the
person's category corrections, as the thread page does on load (issue 13)."""

from __future__ import annotations

from tests.conftest import Stack
from tests.integration.test_insights_chat import _ask, _buy
from tests.integration.test_linking_flow import _linked

from ledgerlink.services.messaging import messenger


async def test_a_new_chipotle_card_after_the_correction_says_restaurants(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _buy(stack, "Chipotle", "10.10")
    reply = await _ask(stack, grant, thread_id, "Chipotle is restaurants")
    assert reply.startswith("Chipotle is now Restaurants"), reply
    await _buy(stack, "Chipotle", "12.40")
    await _buy(stack, "Shake Shack", "18.00")  # the same MCC, not corrected
    cards = [m.body for m in await messenger.thread_messages(stack.deps, grant, thread_id)
             if m.body.get("merchant") in ("Chipotle", "Shake Shack")]
    live = {(c["merchant"], c["amount"]): c["category"] for c in cards}
    assert live[("Chipotle", "-12.40")] == "Restaurants"
    assert live[("Shake Shack", "-18.00")] == "Fast food"


async def test_a_card_edited_when_its_purchase_posts_keeps_the_correction(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _ask(stack, grant, thread_id, "chipotle is restaurants")
    await _buy(stack, "Chipotle", "11.00", post="13.20")  # the tip: the card is edited in place
    cards = [m.body for m in await messenger.thread_messages(stack.deps, grant, thread_id)
             if m.body.get("merchant") == "Chipotle"]
    assert [(c["amount"], c["status"], c["category"]) for c in cards] == [("-13.20", "posted", "Restaurants")]
