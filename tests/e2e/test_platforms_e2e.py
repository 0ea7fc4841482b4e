"""Messenger in Chromium, through the Graph API simulator's conversation page (issue 15): the
person writes to the page, taps Log in, confirms on ledgerlink's own page, lands back in the
chat, asks for the balance, receives a purchase, and answers a fraud prompt with a quick reply
that reaches the bank."""

from __future__ import annotations

from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import PASSWORD, link_sandbox_bank, sign_up

LIVE = 15_000  # ms: a delivery through the simulator on a loaded 2-core machine


async def _say(page: Page, text: str) -> None:
    await page.get_by_test_id("sim-text").fill(text)
    await page.get_by_test_id("sim-send").click()


async def test_a_messenger_chat_links_answers_and_takes_a_fraud_reply_in_chromium(
        page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)

    chat = f"{stack.platform_url}/sandbox/graph/?platform=messenger&user=pat"
    await page.goto(chat)
    await expect(page.get_by_test_id("sim-banner")).to_be_visible()
    entries = page.get_by_test_id("sim-entry")

    # An unlinked chat gets only the link prompt: its Log in button opens our page.
    await _say(page, "hi")
    log_in = page.get_by_test_id("sim-button").filter(has_text="Log in")
    await expect(log_in).to_have_count(1, timeout=LIVE)
    await log_in.click()
    await expect(page.get_by_test_id("messenger-link-form")).to_be_visible(timeout=LIVE)
    await expect(page.get_by_test_id("link-as")).to_contain_text("@pat")
    confirm = page.get_by_test_id("confirm-password")  # asked again unless signed in just now
    if await confirm.count():
        await confirm.fill(PASSWORD)
    await page.get_by_test_id("link-submit").click()

    # Back in Messenger: linked, and the balance answers with masked account numbers only.
    await expect(page.get_by_test_id("sim-log")).to_contain_text("is now linked", timeout=LIVE)
    await _say(page, "balance")
    await expect(entries.filter(has_text="••").last).to_be_visible(timeout=LIVE)

    # A purchase at the bank reaches the chat.
    await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
    await expect(entries.filter(has_text="Blue Bottle Coffee").first).to_be_visible(timeout=LIVE)

    # "Was this you?" arrives with its buttons (a button template: they stay on the question when
    # the balance update comes after it); "No" goes back to the bank, which freezes the card.
    txn_id, _ = await stack.bank.suspicious_purchase("alice", merchant="Shell", amount="249.00")
    question = entries.filter(has_text="Was this you? Shell")
    no = question.get_by_test_id("sim-button").filter(has_text="No")
    await expect(no.first).to_be_visible(timeout=LIVE)
    await no.first.click()
    await expect(page.get_by_test_id("sim-log")).to_contain_text("froze", timeout=LIVE)
    account_id = stack.bank.transaction(txn_id)["account_id"]
    assert next(a for a in stack.bank.accounts_of("alice") if a.account_id == account_id).frozen
