"""A person signs up, links the sandbox bank in a real browser, and watches updates arrive live."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Dialog, Page, expect
from tests.conftest import Stack, running_stack
from tests.e2e.flows import PASSWORD, link_sandbox_bank, sign_up

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.services.linking import consent_expiry


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def test_linking_the_sandbox_bank_shows_live_purchases_edited_in_place_until_unlinked(
        page: Page, stack: Stack) -> None:
    # Sign up: the messenger opens with the system thread and its live connection.
    await sign_up(page, stack)
    await expect(page.get_by_test_id("thread-link-Ledgerlink")).to_be_visible()
    await expect(page.get_by_text("Welcome to ledgerlink")).to_be_visible()

    # Sign out and in again.
    await page.get_by_test_id("logout").click()
    await page.get_by_test_id("login-handle").fill("pat")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")

    # Link the sandbox bank through its consent pages.
    await link_sandbox_bank(page, stack)
    balances = page.locator('.msg[data-kind="balance"]')
    await expect(balances).to_have_count(len(stack.bank.accounts_of("alice")))
    await expect(balances.first.get_by_test_id("balance-current")).to_contain_text("$")
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")

    # A purchase arrives without a reload...
    pending_id = await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
    txn = page.locator('.msg[data-kind="transaction"]')
    await expect(txn).to_have_count(1)
    await expect(txn).to_have_attribute("data-status", "pending")
    await expect(txn.get_by_test_id("txn-status")).to_have_text("Pending")
    await expect(txn.get_by_test_id("txn-merchant")).to_have_text("Blue Bottle Coffee")
    await expect(txn.get_by_test_id("txn-amount")).to_have_text("\u2212$4.50")
    message_id = await txn.get_attribute("data-message-id")
    await txn.evaluate("el => { el.__sameNode = true; }")

    # ...and when it posts, the same element turns Posted (edited in place, not repeated).
    await stack.bank.post(pending_id, final_amount="5.40")
    await expect(txn).to_have_attribute("data-status", "posted")
    await expect(txn).to_have_count(1)
    await expect(txn.get_by_test_id("txn-status")).to_have_text("Posted")
    await expect(txn.get_by_test_id("txn-amount")).to_have_text("\u2212$5.40")
    assert await txn.get_attribute("data-message-id") == message_id
    assert await txn.evaluate("el => el.__sameNode === true")

    # Unlink (confirming the dialog): the thread says so and no more updates arrive.
    page.once("dialog", _accept)
    await page.get_by_test_id("unlink").click()
    await expect(page.get_by_text("You unlinked this bank")).to_be_visible()
    await expect(page.get_by_test_id("unlink")).to_have_count(0)
    bank_link = page.get_by_test_id("thread-link-Sandbox Bank")
    await expect(bank_link).to_have_class(re.compile(r"\binactive\b"))
    await expect(bank_link.get_by_test_id("thread-state")).to_have_text("unlinked")
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    # The link summary may already name Shell (the history is random): nothing more may appear.
    shown_before = await page.get_by_text("Shell").count()
    await stack.bank.purchase("alice", merchant="Shell", amount="40.00")
    await stack.container.scheduler.sync_all()
    await stack.container.drain()
    await asyncio.sleep(0.5)
    await expect(txn).to_have_count(1)
    await expect(page.get_by_text("Shell")).to_have_count(shown_before)


async def test_the_renew_button_of_the_expiry_warning_is_one_tap_to_the_bank(
        page: Page, tmp_path: Path, db_url: str) -> None:
    """Renewing is a CSRF-checked POST now (issue 14): the card's button still takes one tap,
    the page's script adds its token, and the browser lands on the bank's consent page."""
    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        await sign_up(page, stack)
        await link_sandbox_bank(page, stack)
        person_id = await _person_id(stack)
        async with stack.deps.uow() as uow:  # 6 days left: the warning with its renew button
            [link] = [lk for lk in await uow.links.for_person(person_id) if lk.status == "active"]
            link.expires_at = clock.now() + timedelta(days=6)
            await uow.links.update(link)
            await uow.commit()
        await consent_expiry.check(stack.deps)
        await page.reload()
        button = page.get_by_test_id("action-renew")
        await expect(button).to_have_count(1)
        await button.click()
        await expect(page).to_have_url(re.compile(re.escape(stack.bank_url) + r"/(oauth/authorize|login)"))


async def _person_id(stack: Stack) -> str:
    async with stack.deps.uow() as uow:
        person = await uow.persons.by_handle("pat")
    assert person is not None
    return person.id
