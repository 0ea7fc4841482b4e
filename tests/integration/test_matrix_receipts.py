"""A purchase's receipt on Matrix against a real Synapse (issue 11): the charge's message is
edited in place (m.replace) to show the receipt in `formatted_body` (the items with quantity and
price, the totals, the order number), `body` keeping the plain text; the parcel and the refund
edit the same event again."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_matrix_channel import _matrix, _room, _step
from tests.integration.test_shop_receipts import _checkout, _shop
from tests.matrix_fixtures import Synapse, person_client, register, synapse, until

from ledgerlink.services.messaging import channels

__all__ = ["synapse"]  # the fixture, imported to be found by pytest
pytestmark = pytest.mark.xdist_group("synapse")


async def test_the_receipt_parcel_and_refund_edit_the_charge_in_matrix_formatted(
    tmp_path: Path, db_url: str, synapse: Synapse
) -> None:
    bot, pat = [await register(synapse, n) for n in ("bot", "pat")]
    async with running_stack(tmp_path, db_url, **_matrix(synapse.url, bot)) as stack, \
            person_client(synapse, pat) as person:
        grant, _ = await _linked(stack)
        await channels.add_matrix(stack.deps, grant, mxid=pat.mxid, enabled=True, bot=bot.mxid)
        await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
        step = _step(stack, person)
        order, acc = await _checkout(stack)
        room_id = await _room(stack, person)

        def charge() -> list[dict[str, Any]]:
            """The purchase's event (its first text may name the processor, before the receipt)."""
            return [e for e in person.originals(room_id, bot.mxid)
                    if e["content"]["body"].startswith(("Pending: ", "Posted: "))]

        def shown() -> dict[str, Any]:
            """What the person sees of the charge now: its latest edit, else the original."""
            [first] = charge()
            edits = person.edits_of(room_id, first["event_id"])
            return edits[-1]["content"]["m.new_content"] if edits else first["content"]

        try:
            await until(lambda: len(charge()) == 1 and "<ul>" in shown()["formatted_body"], step, seconds=30)
        except AssertionError:  # say what the room shows (the test's own sandbox data only)
            seen = [e["content"]["body"][:60] for e in person.messages(room_id, bot.mxid)]
            raise AssertionError(f"no receipt in the room: {seen}") from None
        content = shown()
        html = content["formatted_body"]
        assert content["format"] == "org.matrix.custom.html"
        assert f"order <code>{order.order_ref}</code>" in html
        assert "<li>2 × Trail socks — " in html and "<li>1 × Canvas cap — " in html
        assert f"<strong>Total {order.total} USD</strong>" in html
        assert "<ul>" not in content["body"] and "Trail socks" in content["body"]  # the plain text
        assert f"••{acc.mask}" in content["body"] and "Acme Outfitters" in content["body"]
        assert len(charge()) == 1  # one event: the receipt edited it, no second message

        await _shop(stack).advance(order.order_ref)  # label created
        await until(lambda: "<p>Parcel: label created" in shown()["formatted_body"], step, seconds=30)
        await _shop(stack).refund(order.order_ref, Decimal("19.99"))
        await until(lambda: "Refunded 19.99 of" in shown()["formatted_body"], step, seconds=30)
        assert len(charge()) == 1
        [first] = charge()
        assert all(e["content"]["m.relates_to"] == {"rel_type": "m.replace", "event_id": first["event_id"]}
                   for e in person.edits_of(room_id, first["event_id"]))
