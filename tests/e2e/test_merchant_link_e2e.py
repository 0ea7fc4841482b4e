"""Linking the sandbox shop in Chromium (issue 11, ADR 0031): "Link a shop" next to "Link a
bank", the shop's consent page (sign in, approve), back to the shop links; a checkout whose
webhook is lost still gets its receipt on the charge's card once the orders feed is pulled;
Revoke ends the link on the same page."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up


async def test_linking_the_shop_in_the_browser_and_a_lost_webhooks_receipt_comes_by_the_feed(
        page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    thread_url = page.url
    await page.get_by_test_id("link-shop").click()
    await expect(page.get_by_test_id("shop-scopes")).to_contain_text("Your parcels")
    await page.get_by_test_id("shop-acme").click()
    authorize = f"{stack.platform_url}/sandbox/shop/oauth/authorize?"
    await expect(page).to_have_url(re.compile(re.escape(authorize)))
    await page.locator('input[name="customer"]').fill("alice")
    await page.locator('input[name="password"]').fill("sandbox")
    await page.get_by_role("button", name="Approve").click()
    await expect(page).to_have_url(re.compile(r"/link/shop\?linked=1$"))
    consent = page.get_by_test_id("shop-consent")
    await expect(consent).to_have_attribute("data-state", "active")
    await expect(consent).to_contain_text("Acme Outfitters")

    shop = stack.container.shop_app.state.shop
    shop.drop_events = 1  # the order's webhook is lost on the way
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    async with httpx.AsyncClient(base_url=f"{stack.platform_url}/sandbox/shop", timeout=10.0) as http:
        assert (await http.post("/cart", json={"customer": "alice", "sku": "CAP-1"})).is_success
        done = await http.post("/checkout", json={"customer": "alice", "account_id": acc.account_id,
                                                  "card_last4": acc.mask, "processor": "paypal"})
        assert done.status_code == 200, done.text
    await stack.container.drain()
    await page.goto(thread_url)
    await expect(page.locator('.msg[data-kind="transaction"]').first).to_be_visible()
    await expect(page.get_by_test_id("receipt")).to_have_count(0)  # the charge, without its receipt
    await stack.container.merchant_sync.sync_all()  # what the 15-minute schedule does
    card = page.locator('.msg[data-kind="transaction"]').filter(has=page.get_by_test_id("receipt"))
    await expect(card).to_have_count(1, timeout=15_000)
    await expect(card.get_by_test_id("receipt-order")).to_have_text(f"Order {done.json()['order_id']}")
    await expect(card.get_by_test_id("txn-merchant")).to_have_text("Acme Outfitters")

    await page.goto(f"{stack.platform_url}/link/shop")
    await page.get_by_role("button", name="Revoke").click()
    await expect(page.get_by_test_id("done")).to_have_text("The shop is unlinked.")
    await expect(page.get_by_test_id("shop-consent")).to_have_attribute("data-state", "revoked")
