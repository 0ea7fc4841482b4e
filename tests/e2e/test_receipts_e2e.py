"""The receipt in Chromium (issue 11): a checkout at the sandbox shop with the sandbox card, the
charge's card grows a receipt section live (line items, the shop's name, the parcel), the
parcel moves to delivered in place, and a refund shows on the same card. With
LEDGERLINK_SHOTS=<dir> it saves the thread at 1280x800 and 390x844 there."""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal
from pathlib import Path

import httpx
from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up


async def _person_id(stack: Stack, handle: str) -> str:
    async with stack.deps.uow(readonly=True) as uow:
        person = await uow.persons.by_handle(handle)
    assert person is not None
    return str(person.id)


async def _shots(page: Page, name: str, locator: str = '[data-testid="receipt"]') -> None:
    where = os.environ.get("LEDGERLINK_SHOTS")
    if not where:
        return
    await asyncio.to_thread(Path(where).mkdir, parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.locator(locator).last.scroll_into_view_if_needed()
        await page.screenshot(path=str(Path(where) / f"{name}-{width}x{height}.png"))


async def test_a_checkout_grows_a_receipt_on_its_charge_card_live(page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    await stack.container.receipts.link_merchant(await _person_id(stack, "pat"), slug="acme",
                                                 customer_ref="alice")
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    async with httpx.AsyncClient(base_url=f"{stack.platform_url}/sandbox/shop", timeout=10.0) as shop:
        for sku, qty in (("SOCK-2", 2), ("CAP-1", 1)):
            added = await shop.post("/cart", json={"customer": "alice", "sku": sku, "quantity": qty})
            assert added.is_success
        done = await shop.post("/checkout", json={"customer": "alice", "account_id": acc.account_id,
                                                   "card_last4": acc.mask, "processor": "paypal"})
        assert done.status_code == 200, done.text
        order_ref = done.json()["order_id"]
        card = page.locator('.msg[data-kind="transaction"]').filter(has=page.get_by_test_id("receipt"))
        await expect(card).to_have_count(1, timeout=15_000)
        await expect(card.get_by_test_id("txn-merchant")).to_have_text("Acme Outfitters")
        await expect(card.get_by_test_id("receipt-item")).to_have_count(2)
        await expect(card.get_by_test_id("receipt-items")).to_contain_text("Trail socks")
        await expect(card.get_by_test_id("receipt-total")).to_have_text("$49.25")
        await expect(card.get_by_test_id("receipt-shop")).to_have_text("Receipt")  # the card names the shop
        await expect(card.get_by_test_id("receipt-order")).to_have_text(f"Order {order_ref}")
        for _ in range(3):
            assert (await shop.post(f"/admin/orders/{order_ref}/advance")).is_success
        await expect(card.get_by_test_id("receipt-status")).to_have_text("In transit")
        await expect(card.get_by_test_id("receipt-tracking")).to_have_text(
            stack.container.shop_app.state.shop.orders[order_ref].tracking)
        await _shots(page, "receipt-in-transit")
        for _ in range(2):
            assert (await shop.post(f"/admin/orders/{order_ref}/advance")).is_success
        await expect(card.get_by_test_id("receipt-status")).to_have_text("Delivered")
        assert (await shop.post(f"/admin/orders/{order_ref}/refund", json={"amount": "19.99"})).is_success
        await expect(card.get_by_test_id("receipt-refund")).to_have_text(
            "Refunded $19.99 of $49.25")
        await _shots(page, "receipt-refunded")
    assert Decimal(stack.container.shop_app.state.shop.orders[order_ref].total) == Decimal("49.25")


async def test_a_doubtful_match_is_asked_and_yes_attaches_the_receipt_live(page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    await stack.container.receipts.link_merchant(await _person_id(stack, "pat"), slug="acme",
                                                 customer_ref="alice")
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    async with httpx.AsyncClient(base_url=f"{stack.platform_url}/sandbox/shop", timeout=10.0) as shop:
        assert (await shop.post("/cart", json={"customer": "alice", "sku": "BOTTLE-1"})).is_success
        done = await shop.post("/checkout", json={"customer": "alice", "account_id": acc.account_id,
                                                   "card_last4": acc.mask, "processor": "marketplace"})
        assert done.status_code == 200, done.text
    question = page.get_by_test_id("receipt-question")
    await expect(question).to_have_count(1, timeout=15_000)
    await expect(page.locator(".msg").filter(has=question).get_by_test_id("message-text")).to_have_text(
        "Is this your $26.58 order from Acme Outfitters?")
    await expect(question.get_by_test_id("receipt-question-charge")).to_contain_text("AMZN MKTP*")
    await _shots(page, "receipt-question", locator='[data-testid="receipt-question"]')
    await question.get_by_test_id("receipt-reply-yes").click()
    await expect(question).to_have_attribute("data-prompt-status", "answered")
    answer = question.get_by_test_id("receipt-question-answer")
    await expect(answer).to_have_text("You answered: Yes, that's it")
    card = page.locator('.msg[data-kind="transaction"]').filter(has=page.get_by_test_id("receipt"))
    await expect(card).to_have_count(1)
    await expect(card.get_by_test_id("txn-merchant")).to_have_text("Acme Outfitters")
    await expect(card.get_by_test_id("receipt-why")).to_contain_text("matched: you said so")
