"""The thread people enjoy (issue 13): one summary card at link time, day separators, a pinned
header with balances, alerts folded into their purchase, a composer with a visible limit."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Dialog, Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up

SHOTS = Path("/tmp/shots-thread")
SHOTS.mkdir(parents=True, exist_ok=True)


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def _shoot(page: Page, name: str) -> None:
    for width, height in ((1280, 800), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(SHOTS / f"{name}-{width}x{height}.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})


async def test_linking_posts_one_summary_card_and_a_pinned_header_not_a_backlog(
        page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await expect(page.get_by_test_id("chips").get_by_test_id("chip").first).to_be_visible()
    await _shoot(page, "system-thread")
    await link_sandbox_bank(page, stack)
    await stack.container.drain()
    await page.reload()

    # One summary card, no card per old purchase, no alert for history.
    summary = page.get_by_test_id("link-summary")
    await expect(summary).to_have_count(1)
    text = page.locator('.msg[data-summary="true"]').get_by_test_id("message-text")
    await expect(text).to_contain_text("Your last 30 days:")
    await expect(text).to_contain_text(" transactions, $")
    await expect(page.locator('#messages .msg[data-kind="transaction"]')).to_have_count(0)
    await expect(page.locator("#messages .msg[data-about-txn]")).to_have_count(0)
    await summary.locator("summary").click()
    assert await summary.get_by_test_id("summary-item").count() > 5

    # The pinned header: each account with its balance, the freshness; the bank is named once,
    # in the thread's title right above (not again on every account).
    accounts = page.get_by_test_id("pin-account")
    await expect(accounts).to_have_count(len(stack.bank.accounts_of("alice")))
    await expect(page.get_by_test_id("thread-title")).to_have_text("Sandbox Bank")
    await expect(accounts.first.get_by_test_id("pin-account-name")).to_contain_text("••")
    await expect(page.get_by_test_id("pinned")).not_to_contain_text("Sandbox Bank")
    await expect(accounts.first.get_by_test_id("pin-current")).to_contain_text("$")
    await expect(page.get_by_test_id("pin-freshness")).to_contain_text("updated")
    await expect(page.get_by_test_id("day-label").first).to_have_text("Today")
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")

    # A live purchase lands in today's group; its large-purchase alert is a badge on it.
    await stack.bank.purchase("alice", merchant="Shell", amount="640.00")
    today = page.locator(".day").last
    txn = today.locator('.msg[data-kind="transaction"]')
    await expect(txn).to_have_count(1)
    await expect(txn.get_by_test_id("txn-merchant")).to_have_text("Shell")
    await expect(txn.get_by_test_id("txn-alert")).to_contain_text("Large purchase")
    await expect(page.locator("#messages > .day > .msg[data-about-txn]")).to_have_count(0)
    await page.reload()  # the same shape after a reload
    await expect(page.locator('.msg[data-kind="transaction"]').get_by_test_id("txn-alert")).to_have_count(1)
    await expect(page.locator("#messages .msg[data-about-txn]")).to_have_count(0)
    await _shoot(page, "bank-thread")

    # The composer counts and refuses more than the limit instead of cutting it off.
    box = page.get_by_test_id("composer-text")
    await box.fill("x" * 2001)
    await expect(page.get_by_test_id("composer-count")).to_contain_text("2,001 / 2,000")
    await expect(page.get_by_test_id("composer-send")).to_be_disabled()
    await box.fill("balance")
    await expect(page.get_by_test_id("composer-count")).to_have_text("7 / 2,000")
    await page.get_by_test_id("chip").filter(has_text="balance").click()
    await expect(page.locator(".msg-mine").last).to_contain_text("balance")

    # Unlinked: the thread offers Relink.
    page.once("dialog", _accept)
    await page.get_by_test_id("unlink").click()
    await expect(page.get_by_text("You unlinked this bank")).to_be_visible()
    await page.reload()
    await expect(page.get_by_test_id("relink")).to_be_visible()
