"""Several orders paid by one charge (a basket charged at once): the service offers the rule the
person's waiting orders of the shop, attaches every order of the one set that adds up to the
charge, and the charge's single card shows them as one combined receipt, explained. Either
order of arrival: orders first then the charge, or the charge then the orders."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_shop_receipts import _txn_cards

from ledgerlink.domain.privacy import Grant
from ledgerlink.domain.receipts import LineItem, Receipt


def _order(stack: Stack, ref: str, last4: str, *items: tuple[str, int, str], shop: str = "Acme Outfitters",
           shipping: str = "0.00") -> Receipt:
    lines = [LineItem(name, qty, Decimal(price)) for name, qty, price in items]
    subtotal = sum((i.unit_price * i.quantity for i in lines), Decimal(0))
    return Receipt(order_ref=ref, shop=shop, currency="USD", items=lines, subtotal=subtotal,
                   tax=Decimal("0.00"), shipping=Decimal(shipping), total=subtotal + Decimal(shipping),
                   card_last4=last4, placed_at=stack.deps.clock.now())


async def _take(stack: Stack, grant: Grant, receipt: Receipt) -> str:
    mine = Grant.for_component(grant.person_id, "receipts")
    async with stack.deps.uow() as uow:
        state = await stack.container.receipts.take_order(uow, mine, receipt, slug="email")
        await stack.deps.commit_and_publish(uow)
    return state


async def _orders(stack: Stack, grant: Grant) -> dict[str, Any]:
    async with stack.deps.uow(readonly=True) as uow:
        return {o.order_ref: o for o in await uow.shop_receipts.orders_of(grant.person_id)}


async def _charge(stack: Stack, acc: Any, amount: str) -> None:
    await stack.bank.post(await stack.bank.purchase("alice", account_id=acc.account_id,
                                                    merchant="Acme Outfitters", amount=amount))
    await stack.container.drain()


async def test_two_waiting_orders_attach_to_the_one_charge_that_pays_both_on_one_combined_card(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    assert await _take(stack, grant, _order(stack, "EM-1", acc.mask, ("Trail socks", 2, "12.00"),
                                            shipping="6.00")) == "waiting"
    assert await _take(stack, grant, _order(stack, "EM-2", acc.mask, ("Rain hat", 1, "18.17"))) == "waiting"
    other = _order(stack, "IK-9", acc.mask, ("Lamp", 1, "18.17"), shop="IKEA")  # another shop's
    assert await _take(stack, grant, other) == "waiting"

    await _charge(stack, acc, "48.17")
    orders = await _orders(stack, grant)
    assert (orders["EM-1"].match_state, orders["EM-2"].match_state) == ("matched", "matched")
    assert orders["EM-1"].transaction_id == orders["EM-2"].transaction_id is not None
    assert orders["IK-9"].match_state == "waiting"
    [card] = [c for c in await _txn_cards(stack, grant, thread_id) if c.body.get("receipt")]
    receipt = card.body["receipt"]
    assert receipt["order_ref"] == "EM-1 + EM-2" and receipt["total"] == "48.17"
    assert [i["name"] for i in receipt["items"]] == ["Trail socks", "Rain hat"]
    assert (receipt["subtotal"], receipt["shipping"]) == ("42.17", "6.00")
    assert [(o["order_ref"], o["total"]) for o in receipt["orders"]] == [("EM-1", "30.00"), ("EM-2", "18.17")]
    assert receipt["why"] == (f"matched: 2 orders in one charge, $30.00 (EM-1) + $18.17 (EM-2) = $48.17, "
                              f"card ••{acc.mask}, same day as the order")
    assert card.body["merchant"] == "Acme Outfitters"


async def test_the_second_order_of_a_basket_charged_first_attaches_both(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    await _charge(stack, acc, "41.50")
    assert await _take(stack, grant, _order(stack, "EM-7", acc.mask, ("Mug", 2, "10.75"))) == "waiting"
    assert await _take(stack, grant, _order(stack, "EM-8", acc.mask, ("Kettle", 1, "20.00"))) == "matched"
    orders = await _orders(stack, grant)
    assert orders["EM-7"].match_state == "matched"
    assert orders["EM-7"].transaction_id == orders["EM-8"].transaction_id
    [card] = [c for c in await _txn_cards(stack, grant, thread_id) if c.body.get("receipt")]
    assert card.body["receipt"]["order_ref"] == "EM-7 + EM-8" and card.body["receipt"]["total"] == "41.50"


async def test_a_doubtful_basket_is_asked_once_and_a_yes_attaches_every_order_it_paid(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    await _take(stack, grant, _order(stack, "EM-3", acc.mask, ("Trail socks", 1, "12.00")))
    await _take(stack, grant, _order(stack, "EM-4", acc.mask, ("Rain hat", 1, "19.99")))
    await stack.bank.post(await stack.bank.purchase("alice", account_id=acc.account_id,
                                                    merchant="Amazon", amount="31.99"))
    await stack.container.drain()
    orders = await _orders(stack, grant)
    asked = [ref for ref, o in orders.items() if o.match_state == "doubtful"]
    assert len(asked) == 1  # the charge names no Acme: asked, never guessed
    assert not [c for c in await _txn_cards(stack, grant, thread_id) if c.body.get("receipt")]

    await stack.container.receipts.answer_question(grant, order_id=orders[asked[0]].id, reply_id="yes")
    orders = await _orders(stack, grant)
    assert {o.match_state for o in orders.values()} == {"matched"}
    assert orders["EM-3"].transaction_id == orders["EM-4"].transaction_id
    [card] = [c for c in await _txn_cards(stack, grant, thread_id) if c.body.get("receipt")]
    assert card.body["receipt"]["order_ref"] == "EM-3 + EM-4" and card.body["receipt"]["total"] == "31.99"
    assert card.body["receipt"]["why"].startswith("matched: you said so; 2 orders in one charge, ")
