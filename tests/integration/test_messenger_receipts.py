"""A purchase's receipt on Messenger over real HTTP against the Graph API simulator (issue 11):
the receipt template (items, summary, the card's last four only) under POST_PURCHASE_UPDATE
outside the 24-hour window, then the parcel and the refund as short follow-up texts; inside the
window the charge's generic card comes first and the receipt follows as its template."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.integration.test_doubtful_receipts import _checkout_via_marketplace
from tests.integration.test_linking_flow import _linked
from tests.integration.test_shop_receipts import _checkout, _shop
from tests.platform_support import SimStack, link_messenger, live_against_simulator, until

from ledgerlink.domain.clock import FrozenClock

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _page(s: SimStack) -> list[Any]:
    return [e for e in s.sim.messages("messenger", "pat") if e.sender == "page"]


def _receipts(s: SimStack) -> list[Any]:
    return [e for e in _page(s) if e.kind == "receipt"]


async def test_a_receipt_goes_as_the_receipt_template_with_a_tag_and_parcel_and_refund_follow_up(
    tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(START)
    async with live_against_simulator(tmp_path, db_url, clock=clock) as s:
        grant, _ = await _linked(s.stack)
        await link_messenger(s)
        await s.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
        clock.advance(timedelta(hours=25))  # the person's last message is outside the window now
        order, acc = await _checkout(s.stack)
        await until(lambda: bool(_receipts(s)), s.step)
        [receipt] = _receipts(s)
        assert (receipt.messaging_type, receipt.tag) == ("MESSAGE_TAG", "POST_PURCHASE_UPDATE")
        assert receipt.title == f"Receipt {order.order_ref}"
        assert receipt.header == "Acme Outfitters"
        assert receipt.subtitle == f"{order.total} USD · Card ••{acc.mask}"
        lines = receipt.text.splitlines()
        assert [line.split(" ", 1)[1].rsplit(" ", 1)[0] for line in lines] == ["Trail socks", "Canvas cap"]
        assert lines[0].startswith("2× ") and lines[1].startswith("1× ")
        # An element's price is the line's (quantity times the unit price); they add up to the subtotal.
        assert sum(Decimal(line.rsplit(" ", 1)[1]) for line in lines) == order.subtotal
        # The purchase card before its receipt was an update outside the window: it waited.
        assert not any(e.kind == "generic" for e in _page(s))

        seen = len(_page(s))
        await _shop(s.stack).advance(order.order_ref)  # label created
        await until(lambda: len(_page(s)) > seen, s.step)
        update = _page(s)[-1]
        assert update.kind == "text" and (update.messaging_type, update.tag) == (
            "MESSAGE_TAG", "POST_PURCHASE_UPDATE")
        assert update.text.startswith("Update to “Posted: Acme Outfitters") or update.text.startswith(
            "Update to “Pending: Acme Outfitters")
        assert update.text.splitlines()[2].startswith("Parcel: label created")
        assert "Trail socks" not in update.text  # the receipt was not sent again in words

        seen = len(_page(s))
        await _shop(s.stack).refund(order.order_ref, Decimal("19.99"))
        await until(lambda: any("Refunded 19.99 of" in e.text for e in _page(s)[seen:]), s.step)
        assert len(_receipts(s)) == 1  # a refund leaves items and totals as they were


async def test_inside_the_window_the_charge_card_comes_first_and_its_receipt_follows(
    tmp_path: Path, db_url: str
) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        grant, _ = await _linked(s.stack)
        await link_messenger(s)
        await s.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
        order, acc = await _checkout(s.stack)
        await until(lambda: bool(_receipts(s)), s.step)
        [receipt] = _receipts(s)
        assert (receipt.messaging_type, receipt.tag) == ("UPDATE", None)
        assert acc.mask in receipt.subtitle and order.order_ref in receipt.title
        purchase = ("Pending: ", "Posted: ")
        charge = [e for e in _page(s) if e.kind == "generic" and e.title.startswith(purchase)]
        assert len(charge) <= 1  # the charge card, unless the receipt came before it was sent
        if charge:
            assert _page(s).index(charge[0]) < _page(s).index(receipt)


async def test_a_doubtful_match_question_shows_the_charge_it_asks_about(tmp_path: Path, db_url: str) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        grant, _ = await _linked(s.stack)
        await link_messenger(s)
        await s.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
        await _checkout_via_marketplace(s.stack)
        asked = "Is this your $26.58 order from Acme Outfitters?"
        await until(lambda: any(asked in e.text and e.buttons for e in _page(s)), s.step)
        [question] = [e for e in _page(s) if asked in e.text and e.buttons]
        lines = question.text.splitlines()
        charge = lines[lines.index(asked) + 1].split(" · ")
        # The web card's charge line: the descriptor, the day, the account by its last four.
        assert charge[0].startswith("AMZN MKTP*") and len(charge) == 3
        assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", charge[1]) and "••" in charge[2]
