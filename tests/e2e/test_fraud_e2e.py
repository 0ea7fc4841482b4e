"""The fraud round trip and a customer-service exchange in Chromium: a suspicious purchase,
the bank's "Was this you?", "No, it wasn't me", and the bank's verified answer, all live."""

from __future__ import annotations

from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up


async def _sign_up_and_link(page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")


async def test_fraud_prompt_answered_not_me_freezes_the_card_live(page: Page, stack: Stack) -> None:
    await _sign_up_and_link(page, stack)

    txn_id, _ = await stack.bank.suspicious_purchase("alice", merchant="Shell", amount="249.00")
    card = page.get_by_test_id("fraud-card")
    await expect(card).to_have_count(1)
    await expect(card).to_have_attribute("data-prompt-status", "open")
    await expect(card.get_by_test_id("fraud-amount")).to_have_text("\u2212$249.00")
    await expect(card.get_by_test_id("verified")).to_be_visible()
    txn = page.locator('.msg[data-kind="transaction"]')
    await expect(txn).to_have_attribute("data-status", "pending")

    await card.get_by_test_id("reply-no").click()
    await expect(card).to_have_attribute("data-prompt-status", "answered")
    await expect(card.get_by_test_id("fraud-answer")).to_contain_text("No, it wasn't me")
    await expect(card.get_by_test_id("fraud-outcome")).to_have_text("Card frozen")
    await expect(card.get_by_test_id("quick-replies")).to_have_count(0)

    bank_says = page.locator(".card.from-bank").filter(has_text="froze")
    await expect(bank_says).to_have_count(1)
    await expect(bank_says.get_by_test_id("verified")).to_be_visible()
    await expect(txn).to_have_attribute("data-status", "removed")  # the charge was cancelled
    account_id = stack.bank.transaction(txn_id)["account_id"]
    assert next(a for a in stack.bank.accounts_of("alice") if a.account_id == account_id).frozen


async def test_a_question_for_the_bank_gets_a_verified_answer_in_the_thread(page: Page, stack: Stack) -> None:
    await _sign_up_and_link(page, stack)
    await page.get_by_test_id("composer-text").fill("Why was I charged a fee?")
    await page.get_by_test_id("composer-text").press("Enter")
    mine = page.locator(".msg-mine").filter(has_text="Why was I charged a fee?")
    await expect(mine.get_by_test_id("to-bank")).to_have_text("Sent to Sandbox Bank")
    answer = page.locator(".card.from-bank").filter(has=page.get_by_test_id("verified"))
    await expect(answer).to_have_count(1)
    await expect(answer.get_by_test_id("bank-from")).to_contain_text("Sandbox Bank")
