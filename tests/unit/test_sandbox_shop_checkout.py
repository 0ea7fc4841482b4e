"""The sandbox shop in the browser (issue 11), through its ASGI app and the real sandbox bank:
sign in, cart, checkout with the bank card's number, expiry and CVC, the order page, a return
refunded on the same card; bad input said on the page, never a 500; the card number in no
answer, URL or error."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from ledgerlink.bootstrap.sandbox import build_shop_app
from ledgerlink.config import Settings
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox import SandboxConfig
from ledgerlink.sandbox._numbers import luhn_valid
from ledgerlink.sandbox.bank import SandboxBank
from ledgerlink.sandbox.merchant import SandboxShop

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


@pytest.fixture
def bank() -> SandboxBank:
    return SandboxBank(SandboxConfig(seed=42, simulate=False, clock=FrozenClock(START)))


@pytest.fixture
async def client(bank: SandboxBank, tmp_path: object) -> httpx.AsyncClient:
    app = build_shop_app(
        Settings(public_url="http://127.0.0.1:9"),
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        bank=bank,
        clock=bank.clock,
    )
    app.state.shop.config.events_url = None  # no platform here: the events are kept in `sent`
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http


def _shop(client: httpx.AsyncClient) -> SandboxShop:
    return client.app.state.shop  # type: ignore[attr-defined, no-any-return]


async def _sign_in(client: httpx.AsyncClient) -> str:
    page = await client.get("/shop/signin")
    resp = await client.post(
        "/shop/signin", data={"customer": "alice", "password": "sandbox", "csrf": _csrf(page.text)}
    )
    assert resp.status_code == 303
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    return _csrf((await client.get("/shop")).text)


async def _form(client: httpx.AsyncClient, path: str, csrf: str, **fields: str) -> httpx.Response:
    return await client.post(path, data={"csrf": csrf, **fields})


def test_every_card_of_the_bank_has_a_luhn_valid_number_an_expiry_and_a_cvc(bank: SandboxBank) -> None:
    cards = bank.cards_of("alice")
    types = {bank.ledger.accounts[c.account_id].type for c in cards}
    assert types == {"checking", "credit_card"}  # the savings account has no card
    for card in cards:
        assert luhn_valid(card.pan) and len(card.pan) == 16 and re.fullmatch(r"\d{3}", card.cvc)
        assert not card.expired(START.date())
        assert card.last4 == bank.ledger.accounts[card.account_id].mask  # what the bank's API shows
    again = SandboxBank(SandboxConfig(seed=42, simulate=False, clock=FrozenClock(START)))
    assert again.cards_of("alice") == cards  # derived: the same on every start


async def test_cart_checkout_with_the_card_and_a_return_refunded_on_the_same_card(
    client: httpx.AsyncClient, bank: SandboxBank, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    csrf = await _sign_in(client)
    assert (await _form(client, "/shop/cart", csrf, sku="SOCK-2", quantity="1")).status_code == 303
    assert (await _form(client, "/shop/cart", csrf, sku="SOCK-2", quantity="1")).status_code == 303
    assert (await _form(client, "/shop/cart", csrf, sku="TENT-2", quantity="1")).status_code == 303
    assert (
        await _form(client, "/shop/cart", csrf, action="update", sku="SOCK-2", quantity="3")
    ).status_code == 303
    assert (await _form(client, "/shop/cart", csrf, action="remove", sku="TENT-2")).status_code == 303
    cart = await client.get("/shop/cart")
    assert "Trail socks" in cart.text and "Two-person tent" not in cart.text
    assert 'value="3"' in cart.text and "$29.97" in cart.text  # 3 x $9.99, via babel

    card = next(c for c in bank.cards_of("alice") if bank.ledger.accounts[c.account_id].type == "checking")
    resp = await _form(
        client,
        "/shop/checkout",
        csrf,
        processor="square",
        parcels="1",
        currency="USD",
        card_number=card.grouped,
        card_expiry=card.expiry,
        card_cvc=card.cvc,
    )
    assert resp.status_code == 303, resp.text
    assert card.pan not in resp.headers["location"]
    order = next(iter(_shop(client).orders.values()))
    assert order.card_last4 == card.last4 and order.total == Decimal("37.36")  # 29.97 + 2.40 + 4.99
    charge = bank.ledger.txn(order.transaction_id)
    assert charge.account_id == card.account_id and charge.amount == Decimal("-37.36")
    assert charge.descriptor.startswith("SQ *")
    page = await client.get(resp.headers["location"])
    assert f"Order {order.order_ref}" in page.text and "•••• " + card.last4 in page.text
    assert order.tracking in page.text and "Items can be returned once the parcel is delivered" in page.text

    shop = _shop(client)
    for _ in range(5):
        await shop.advance(order.order_ref)
    page = await client.get(f"/shop/orders/{order.order_ref}")
    assert "Delivered" in page.text and 'name="qty_0"' in page.text
    csrf = _csrf(page.text)
    too_many = await _form(client, f"/shop/orders/{order.order_ref}/return", csrf, qty_0="4")
    assert too_many.status_code == 422 and "at most 3 can still be returned" in too_many.text
    done = await _form(client, f"/shop/orders/{order.order_ref}/return", csrf, qty_0="1")
    assert done.status_code == 303
    kinds = [e["type"] for e in shop.sent]
    assert kinds[-3:] == ["return.requested", "return.received", "refund.issued"]
    assert shop.sent[-1]["data"]["refund"] == "10.79"  # $9.99 and its 8 % tax
    refunds = [t for t in bank.ledger.txns.values() if t.account_id == card.account_id and t.kind == "refund"]
    assert [t.amount for t in refunds] == [Decimal("10.79")]
    assert refunds[0].descriptor == f"REFUND {bank.ledger.txn(order.transaction_id).descriptor}"
    assert card.pan not in caplog.text and card.grouped not in caplog.text


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"card_number": "4000 0000 0000 0002"}, 402, "This bank has no card with that number."),
        ({"card_number": "4000 0000 0000 0001"}, 422, "That is not a valid card number (check the digits)."),
        ({"card_cvc": "000"}, 402, "The security code (CVC) does not match the card."),
        ({"card_expiry": "13/30"}, 422, "The expiry month is 01 to 12."),
        ({"card_expiry": "soon"}, 422, "Enter the expiry date as MM/YY"),
        ({"card_cvc": ""}, 422, "Enter the 3-digit security code"),
        ({"processor": "barter"}, 422, "Pay by one of direct, paypal, square, marketplace."),
        ({"currency": "GBP"}, 422, "An order in one of USD, EUR."),
    ],
)
async def test_bad_card_details_are_said_on_the_checkout_page_and_nothing_is_charged(
    client: httpx.AsyncClient, bank: SandboxBank, fields: dict[str, str], status: int, message: str
) -> None:
    csrf = await _sign_in(client)
    await _form(client, "/shop/cart", csrf, sku="CAP-1", quantity="1")
    card = bank.cards_of("alice")[0]
    if fields.get("card_cvc") == "000" and card.cvc == "000":
        fields = {"card_cvc": "001"}
    before = len(bank.ledger.txns)
    resp = await _form(
        client,
        "/shop/checkout",
        csrf,
        **{
            "processor": "paypal",
            "parcels": "1",
            "currency": "USD",
            "card_number": card.pan,
            "card_expiry": card.expiry,
            "card_cvc": card.cvc,
            **fields,
        },
    )
    assert resp.status_code == status, resp.text
    assert message in resp.text and 'role="alert"' in resp.text
    assert card.pan not in resp.text and len(bank.ledger.txns) == before
    assert _shop(client).carts["alice"] == [("CAP-1", 1)]  # the cart is kept for another try


async def test_an_expired_card_is_refused(client: httpx.AsyncClient, bank: SandboxBank) -> None:
    csrf = await _sign_in(client)
    await _form(client, "/shop/cart", csrf, sku="CAP-1", quantity="1")
    card = bank.cards_of("alice")[0]
    assert isinstance(bank.clock, FrozenClock)
    bank.clock.advance(timedelta(days=366 * 5))
    csrf = await _sign_in(client)  # the session ran out meanwhile
    resp = await _form(
        client,
        "/shop/checkout",
        csrf,
        processor="paypal",
        parcels="1",
        currency="USD",
        card_number=card.pan,
        card_expiry=card.expiry,
        card_cvc=card.cvc,
    )
    assert resp.status_code == 402 and "The card has expired." in resp.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sku": "NOPE-9", "quantity": "1"}, "there is no product &#39;NOPE-9&#39; in this shop"),
        (
            {"sku": "CAP-1", "quantity": "0"},
            "Canvas cap: a quantity of 1 to 20 (Remove takes it out of the cart)",
        ),
        ({"sku": "CAP-1", "quantity": "999999"}, "Canvas cap: a quantity of 1 to 20"),
        ({"sku": "CAP-1", "quantity": "two"}, "the quantity is a whole number of 1 to 20"),
        ({"sku": "<b>x</b>", "quantity": "1"}, "there is no product &#39;&lt;b&gt;x&lt;/b&gt;&#39;"),
    ],
)
async def test_bad_cart_input_is_said_on_the_cart_page(
    client: httpx.AsyncClient, fields: dict[str, str], message: str
) -> None:
    csrf = await _sign_in(client)
    resp = await _form(client, "/shop/cart", csrf, **fields)
    assert resp.status_code in (404, 422) and message in resp.text and 'role="alert"' in resp.text


async def test_an_empty_cart_a_missing_token_and_someone_elses_order(
    client: httpx.AsyncClient, bank: SandboxBank
) -> None:
    csrf = await _sign_in(client)
    card = bank.cards_of("alice")[0]
    empty = await _form(
        client,
        "/shop/checkout",
        csrf,
        processor="paypal",
        parcels="1",
        currency="USD",
        card_number=card.pan,
        card_expiry=card.expiry,
        card_cvc=card.cvc,
    )
    assert empty.status_code == 409 and "Your cart is empty" in empty.text
    forged = await client.post("/shop/cart", data={"sku": "CAP-1", "csrf": "forged"})
    assert forged.status_code == 303 and forged.headers["location"] == "/shop/signin?expired=1"
    assert "alice" not in _shop(client).carts or not _shop(client).carts["alice"]
    missing = await client.get("/shop/orders/ACME-9999")
    assert missing.status_code == 404 and "No such order" in missing.text
    signed_out = httpx.AsyncClient(transport=client._transport, base_url="http://shop")
    async with signed_out:
        assert (await signed_out.get("/shop/cart")).headers["location"] == "/shop/signin"


async def test_the_restaurant_takes_a_tip_in_the_form_and_the_card_posts_bill_and_tip(
    bank: SandboxBank,
) -> None:
    from ledgerlink.bootstrap.sandbox import build_bistro_app

    app = build_bistro_app(
        Settings(public_url="http://127.0.0.1:9"),
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        bank=bank,
        clock=bank.clock,
    )
    app.state.shop.config.events_url = None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bistro") as client:
        csrf = await _sign_in(client)
        await _form(client, "/shop/cart", csrf, sku="CHOWDER", quantity="2")  # 2 x 12.50 + 8 % tax = 27.00
        form = await client.get("/shop/checkout")
        assert 'name="tip"' in form.text and 'name="parcels"' not in form.text and "Shipping" not in form.text
        card = bank.cards_of("alice")[0]
        fields = {
            "processor": "direct",
            "currency": "USD",
            "card_number": card.pan,
            "card_expiry": card.expiry,
            "card_cvc": card.cvc,
        }
        too_much = await _form(client, "/shop/checkout", csrf, tip="40", **fields)
        assert too_much.status_code == 422 and "A tip of 0 to 30 % of the bill." in too_much.text
        done = await _form(client, "/shop/checkout", csrf, tip="20", **fields)
        assert done.status_code == 303
        page = await client.get(done.headers["location"])
    order = next(iter(app.state.shop.orders.values()))
    assert order.total == Decimal("27.00") and order.tip == Decimal("5.40")
    charge = bank.ledger.txn(order.transaction_id)
    assert charge.status == "posted" and charge.amount == Decimal("-32.40") and charge.mcc == "5812"
    assert "$5.40" in page.text and "$32.40" in page.text
    assert "Parcel" not in page.text and "Return items" not in page.text  # nothing ships at a restaurant
