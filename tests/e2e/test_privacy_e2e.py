"""A person uses their rights in a real browser: settings, export, preview level, erasure."""

from __future__ import annotations

import json

from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import PASSWORD, link_sandbox_bank, sign_up


async def test_a_person_exports_their_data_chooses_previews_and_erases_their_account(
        page: Page, stack: Stack) -> None:
    base = stack.platform_url

    # Sign up and link the sandbox bank.
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
    await expect(page.locator('.msg[data-kind="transaction"]')).to_have_count(1)

    # Settings, from the messenger's sidebar: the consent is listed with its masked accounts.
    await page.get_by_test_id("settings-link").click()
    await expect(page).to_have_url(f"{base}/settings")
    await expect(page.get_by_role("heading", name="Consents")).to_be_visible()
    await expect(page.get_by_test_id("consents")).to_contain_text("Sandbox Bank")
    await expect(page.get_by_test_id("consents")).to_contain_text("••")
    await expect(page.get_by_test_id("consent-status")).to_have_text("Active")

    # Download the JSON export: it holds the purchase.
    async with page.expect_download() as info:
        await page.get_by_test_id("export-json").click()
    download = await info.value
    assert download.suggested_filename == "ledgerlink-export.json"
    path = await download.path()
    exported = json.loads(path.read_text(encoding="utf-8"))
    assert exported["person"]["handle"] == "pat"
    assert any(t["merchant"] == "Blue Bottle Coffee" and t["amount"] == "-4.50"
               for t in exported["transactions"])

    # Choose the minimal preview level; it stays chosen.
    await page.get_by_test_id("level-minimal").check()
    await page.get_by_test_id("disclosure-save").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Saved")
    await page.reload()
    await expect(page.get_by_test_id("level-minimal")).to_be_checked()

    # Who accessed my data (the audit feature's page), linked from the settings.
    await page.get_by_test_id("accesses-link").click()
    await expect(page).to_have_url(f"{base}/privacy/accesses")
    await expect(page.get_by_role("heading", name="Who accessed my data")).to_be_visible()
    await page.goto(f"{base}/settings")

    # Erase: a wrong handle or password erases nothing; the handle and password erase everything.
    await page.get_by_test_id("erase-start").click()
    await page.get_by_test_id("erase-handle").fill("not-pat")
    await page.get_by_test_id("erase-confirm").click()
    await expect(page.get_by_test_id("form-error")).to_contain_text("Nothing was erased")
    await page.get_by_test_id("erase-handle").fill("pat")
    await page.get_by_test_id("erase-password").fill("not the password of pat")
    await page.get_by_test_id("erase-confirm").click()
    await expect(page.get_by_test_id("form-error")).to_contain_text("That is not your password")
    await page.get_by_test_id("erase-handle").fill("pat")
    await page.get_by_test_id("erase-password").fill(PASSWORD)
    await page.get_by_test_id("erase-confirm").click()
    await expect(page.get_by_test_id("goodbye")).to_contain_text("Your data is erased")
    await expect(page.get_by_test_id("erased-list")).to_contain_text("Deleted transactions")

    # The session is gone, and signing in again fails.
    await page.goto(f"{base}/settings")
    await expect(page).to_have_url(f"{base}/login")
    await page.get_by_test_id("login-handle").fill("pat")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("form-error")).to_be_visible()
