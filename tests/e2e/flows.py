"""Steps several browser tests take through the real pages: sign up, link the sandbox bank."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from tests.conftest import Stack

PASSWORD = "correct horse battery"


async def sign_up(page: Page, stack: Stack, handle: str = "pat") -> None:
    """Register through the register page (display name: the handle, title-cased)."""
    await page.goto(f"{stack.platform_url}/register")
    await page.get_by_test_id("register-handle").fill(handle)
    await page.get_by_test_id("register-display-name").fill(handle.title())
    await page.get_by_test_id("register-password").fill(PASSWORD)
    await page.get_by_test_id("register-password-confirm").fill(PASSWORD)
    await page.get_by_test_id("register-submit").click()
    await page.get_by_test_id("protect-skip").click()  # "Protect your account": later (ADR 0021)


async def link_sandbox_bank(page: Page, stack: Stack, login: str = "alice") -> None:
    """From the messenger, link the sandbox bank through its consent pages (every account
    ticked) and land in its thread."""
    await page.get_by_test_id("link-bank").click()
    await page.get_by_test_id("bank-sandbox-bank").click()
    await expect(page).to_have_url(re.compile(re.escape(stack.bank_url)))
    await page.locator("#login").fill(login)
    await page.locator("#password").fill("sandbox")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Approve").click()
    await expect(page).to_have_url(re.compile(r"/threads/thr_"))
    await expect(page.get_by_test_id("thread-title")).to_have_text("Sandbox Bank")
