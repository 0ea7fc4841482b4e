"""The doubtful-match question ("Is this your $26.58 order from Acme Outfitters?") is answered
from Messenger and WhatsApp over real HTTP against the Graph API simulator, as it is on the web:
a tap on Yes attaches the receipt, a tap on No keeps it waiting and refuses that charge; a
second tap is refused in the chat. (Matrix: tests/integration/test_matrix_receipt_question.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.test_doubtful_receipts import _checkout_via_marketplace
from tests.integration.test_linking_flow import _linked
from tests.platform_support import SimStack, link_messenger, live_against_simulator, optin_whatsapp, until

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access.shop_receipts import open_order
from ledgerlink.services.messaging import messenger

QUESTION = "Is this your $26.58 order from Acme Outfitters?"


async def _order(s: SimStack, grant: Grant) -> Any:
    async with s.container.deps.uow(readonly=True) as uow:
        [order] = await uow.shop_receipts.orders_of(grant.person_id)
    return order


def _asked(s: SimStack, platform: str) -> list[Any]:
    return [e for e in s.sim.messages(platform, "pat") if QUESTION in e.text and e.buttons]


async def test_a_tap_on_yes_in_messenger_attaches_the_receipt_and_a_second_tap_is_refused(
    tmp_path: Path, db_url: str
) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        grant, thread_id = await _linked(s.stack)
        await link_messenger(s)
        await s.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
        await _checkout_via_marketplace(s.stack)
        await until(lambda: bool(_asked(s, "messenger")), s.step)
        [question] = _asked(s, "messenger")
        assert [b.title for b in question.buttons] == ["Yes, that's it", "No, it isn't"]
        assert (await _order(s, grant)).match_state == "doubtful"

        s.sim.tap("messenger", "pat", question.id, 0)
        await until(lambda: any(e.text.startswith("Answered:") for e in s.sim.messages("messenger", "pat")),
                    s.step)
        order = await _order(s, grant)
        assert order.match_state == "matched" and order.transaction_id is not None
        cards = await messenger.thread_messages(s.container.deps, grant, thread_id)
        [card] = [c for c in cards if c.kind is CardKind.TRANSACTION and c.body.get("receipt")]
        assert card.body["merchant"] == "Acme Outfitters"
        assert card.body["receipt"]["why"].startswith("matched: you said so; ")

        before = len(s.sim.messages("messenger", "pat"))
        s.sim.tap("messenger", "pat", question.id, 1)  # the buttons stay on the question: taken once
        await until(lambda: len(s.sim.messages("messenger", "pat")) > before, s.step)
        assert s.sim.messages("messenger", "pat")[-1].text == "Not taken: this question was already answered."
        assert (await _order(s, grant)).match_state == "matched"


async def test_a_tap_on_no_in_whatsapp_keeps_the_receipt_waiting_and_refuses_that_charge(
    tmp_path: Path, db_url: str
) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        grant, _thread_id = await _linked(s.stack)
        await optin_whatsapp(s)
        await s.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
        await _checkout_via_marketplace(s.stack)
        await until(lambda: bool(_asked(s, "whatsapp")), s.step)
        [question] = _asked(s, "whatsapp")
        assert question.kind == "interactive"
        assert [b.title for b in question.buttons] == ["Yes, that's it", "No, it isn't"]
        charge = (await _order(s, grant)).transaction_id

        s.sim.tap("whatsapp", "pat", question.id, 1)
        await until(lambda: any(e.reply_to == question.id for e in s.sim.messages("whatsapp", "pat")), s.step)
        order = await _order(s, grant)
        assert (order.match_state, order.transaction_id) == ("waiting", None)
        async with s.container.deps.uow() as uow:
            kept = await open_order(s.container.deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, order,
                                    at=s.container.deps.clock.now())
        assert kept["refused"] == [charge]
