"""A person shops at the sandbox shop in Chromium (issue 11), end to end: link the shop, sign in
at the shop, fill the cart, check out with the card the Sandbox Bank's portal shows, see the
charge in the bank thread with the receipt attached (line items, the real shop's name), the
parcel move to delivered in place, return one item at the shop, and the refund on the same card.

Screenshots (1280x800 and 390x844) of the storefront, cart, checkout, order page and the
thread card go to LEDGERLINK_SHOTS_SHOP when it is set (never into the repository)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import httpx
from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up


async def _shots(page: Page, name: str, locator: str | None = None) -> None:
    where = os.environ.get("LEDGERLINK_SHOTS_SHOP")
    if not where:
        return
    await asyncio.to_thread(Path(where).mkdir, parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        if locator is not None:
            await page.locator(locator).last.scroll_into_view_if_needed()
        shot = Path(where) / f"{name}-{width}x{height}.png"
        await page.screenshot(path=str(shot), full_page=locator is None)
    await page.set_viewport_size({"width": 1280, "height": 800})


async def _link_shop(page: Page, stack: Stack) -> None:
    await page.get_by_test_id("link-shop").click()
    await page.get_by_test_id("shop-acme").click()
    await page.locator('input[name="customer"]').fill("alice")
    await page.locator('input[name="password"]').fill("sandbox")
    await page.get_by_role("button", name="Approve").click()
    await expect(page.get_by_test_id("shop-consent")).to_have_attribute("data-state", "active")


async def test_shopping_in_the_browser_the_receipt_parcel_and_refund_land_on_the_charge_card(
        page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    thread_url = page.url
    await _link_shop(page, stack)

    # The card, as the person finds it: on the bank's own portal page.
    visa = next(a for a in stack.bank.accounts_of("alice") if a.type == "credit_card")
    await page.goto(f"{stack.bank_url}/portal")
    card_box = page.get_by_test_id(f"card-{visa.mask}")
    number = (await card_box.get_by_test_id("card-number").inner_text()).strip()
    expiry = (await card_box.get_by_test_id("card-expiry").inner_text()).strip()
    cvc = (await card_box.get_by_test_id("card-cvc").inner_text()).strip()
    assert re.fullmatch(r"(\d{4} ){3}\d{4}", number) and number.endswith(visa.mask)
    await _shots(page, "bank-portal-cards")

    shop_url = f"{stack.platform_url}/sandbox/shop"
    await page.goto(f"{shop_url}/")
    await expect(page).to_have_url(f"{shop_url}/shop")
    await page.get_by_test_id("nav-signin").click()
    await page.locator('input[name="customer"]').fill("alice")
    await page.locator('input[name="password"]').fill("sandbox")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("signed-in")).to_have_text("alice")
    socks = page.get_by_test_id("product-SOCK-2")
    await socks.get_by_role("button", name="Add to cart").click()
    await expect(page.get_by_test_id("added")).to_contain_text("Trail socks is in your cart")
    await page.get_by_test_id("product-CAP-1").get_by_role("button", name="Add to cart").click()
    await page.get_by_test_id("product-TENT-2").get_by_role("button", name="Add to cart").click()
    await _shots(page, "shop-storefront")

    await page.get_by_test_id("nav-cart").click()
    await page.get_by_test_id("cart-line-SOCK-2").get_by_label("Quantity of Trail socks").fill("2")
    await page.get_by_test_id("cart-line-SOCK-2").get_by_role("button", name="Update").click()
    await page.get_by_role("button", name="Remove Two-person tent").click()
    await expect(page.get_by_test_id("cart-line-TENT-2")).to_have_count(0)
    await expect(page.get_by_test_id("cart-total")).to_have_text("$49.25")  # 2 x 9.99 + 21.00, tax, shipping
    await _shots(page, "shop-cart")

    await page.get_by_test_id("to-checkout").click()
    await page.get_by_label("Square-like processor").check()
    await page.get_by_label("Card number").fill(number)
    await page.get_by_label("Expiry (MM/YY)").fill(expiry)
    await page.get_by_label("Security code (CVC)").fill("999" if cvc != "999" else "998")
    await page.get_by_test_id("pay").click()
    wrong_cvc = "The security code (CVC) does not match the card."
    await expect(page.get_by_test_id("error")).to_have_text(wrong_cvc)
    await page.get_by_label("Card number").fill(number)
    await page.get_by_label("Expiry (MM/YY)").fill(expiry)
    await page.get_by_label("Security code (CVC)").fill(cvc)
    await _shots(page, "shop-checkout")
    await page.get_by_test_id("pay").click()
    await expect(page.get_by_test_id("order-ref")).to_have_text(re.compile(r"Order ACME-\d+"))
    order_ref = (await page.get_by_test_id("order-ref").inner_text()).removeprefix("Order ")
    assert number.replace(" ", "") not in page.url
    await expect(page.get_by_test_id("order-total")).to_have_text("$49.25")
    await expect(page.get_by_test_id("parcel")).to_have_count(1)
    order_page = page.url

    # The charge in the bank thread, the receipt attached to that same message.
    await page.goto(thread_url)
    card = page.locator('.msg[data-kind="transaction"]').filter(has=page.get_by_test_id("receipt"))
    await expect(card).to_have_count(1, timeout=20_000)
    await expect(card.get_by_test_id("txn-merchant")).to_have_text("Acme Outfitters")
    await expect(card.get_by_test_id("receipt-item")).to_have_count(2)
    await expect(card.get_by_test_id("receipt-items")).to_contain_text("Trail socks")
    await expect(card.get_by_test_id("receipt-items")).to_contain_text("Canvas cap")
    await expect(card.get_by_test_id("receipt-total")).to_have_text("$49.25")
    await expect(card.get_by_test_id("receipt-order")).to_have_text(f"Order {order_ref}")
    await expect(card).to_contain_text(visa.mask)
    order = stack.container.shop_app.state.shop.orders[order_ref]
    assert order.card_last4 == visa.mask
    assert stack.bank.ledger.txn(order.transaction_id).descriptor.startswith("SQ *ACME")  # the processor's

    # The parcel moves on (the shop's admin hook; on the clock in the demo), edited in place.
    async with httpx.AsyncClient(base_url=shop_url, timeout=10.0) as admin:
        for _ in range(3):
            assert (await admin.post(f"/admin/orders/{order_ref}/advance")).is_success
        await expect(card.get_by_test_id("receipt-status")).to_have_text("In transit")
        await _shots(page, "shop-thread-in-transit", '[data-testid="receipt"]')
        for _ in range(2):
            assert (await admin.post(f"/admin/orders/{order_ref}/advance")).is_success
    await expect(card.get_by_test_id("receipt-status")).to_have_text("Delivered")
    await expect(card).to_have_count(1)  # still the one message

    # Return one pair of socks at the shop: the refund lands on the same card.
    await page.goto(order_page)
    await expect(page.get_by_test_id("parcel-timeline").locator("li")).to_have_count(5)
    await page.get_by_label("Return how many Trail socks").fill("1")
    await _shots(page, "shop-order")
    await page.get_by_role("button", name="Return and refund").click()
    returned = "Your return was received and refunded to your card."
    await expect(page.get_by_test_id("note")).to_have_text(returned)
    await expect(page.get_by_test_id("order-refunded")).to_have_text("$10.79")  # $9.99 and its tax
    await page.goto(thread_url)
    await expect(card.get_by_test_id("receipt-refund")).to_have_text("Refunded $10.79 of $49.25")
    await expect(card).to_have_count(1)
    await _shots(page, "shop-thread-refunded", '[data-testid="receipt"]')
    sent = [e["type"] for e in stack.container.shop_app.state.shop.sent]
    assert sent.count("return.requested") == 1 and sent.count("return.received") == 1
