"""The doubtful-match question in a Matrix room (real Synapse, started by ./scripts/test): it
comes with numbered options and keycaps; a bare "1" answers it (the receipt attaches to the
charge), and a keycap on it afterwards is refused in the room."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import running_stack
from tests.integration.test_doubtful_receipts import _checkout_via_marketplace
from tests.integration.test_linking_flow import _linked
from tests.integration.test_matrix_channel import _matrix, _notices, _room, _step
from tests.matrix_fixtures import Synapse, person_client, register, synapse, until

from ledgerlink.domain.chat import CardKind
from ledgerlink.services.messaging import channels, messenger

__all__ = ["synapse"]  # the fixture, imported to be found by pytest
pytestmark = pytest.mark.xdist_group("synapse")

QUESTION = "Is this your $26.58 order from Acme Outfitters?"


async def test_a_receipt_question_is_answered_by_number_in_matrix_and_a_later_keycap_is_refused(
    tmp_path: Path, db_url: str, synapse: Synapse
) -> None:
    bot, pat = [await register(synapse, n) for n in ("bot", "pat")]
    async with running_stack(tmp_path, db_url, **_matrix(synapse.url, bot)) as stack, \
            person_client(synapse, pat) as person:
        grant, thread_id = await _linked(stack)
        await channels.add_matrix(stack.deps, grant, mxid=pat.mxid, enabled=True, bot=bot.mxid)
        await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
        step = _step(stack, person)
        await _checkout_via_marketplace(stack)
        room_id = await _room(stack, person)

        def asked() -> list[dict[str, object]]:
            return [e for e in person.originals(room_id, bot.mxid) if QUESTION in e["content"]["body"]]

        await until(lambda: bool(asked()), step)
        [question] = asked()
        assert "Reply 1 — Yes, that's it\nReply 2 — No, it isn't" in question["content"]["body"]

        async def order_state() -> str:
            async with stack.deps.uow(readonly=True) as uow:
                [order] = await uow.shop_receipts.orders_of(grant.person_id)
            return order.match_state

        assert await order_state() == "doubtful"
        await person.say(room_id, "1")
        states: list[str] = []

        async def settle() -> None:
            await step()
            states.append(await order_state())

        await until(lambda: states[-1:] == ["matched"], settle, seconds=30)
        cards = await messenger.thread_messages(stack.deps, grant, thread_id)
        [card] = [c for c in cards if c.kind is CardKind.TRANSACTION and c.body.get("receipt")]
        assert card.body["merchant"] == "Acme Outfitters"
        assert card.body["receipt"]["why"].startswith("matched: you said so; ")
        said = [m for m in cards if m.kind is CardKind.TEXT and m.body.get("from") == "person"]
        assert said == []  # the "1" answered the question; it was not a message to the bank

        await person.react(room_id, str(question["event_id"]), "2️⃣")
        await until(lambda: bool(_notices(person, room_id, bot)), step, seconds=30)
        assert _notices(person, room_id, bot) == ["Not taken: this question was already answered."]
        assert await order_state() == "matched"
