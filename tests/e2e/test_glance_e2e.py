"""Money at a glance in Chromium (issue 13): tap a card for its detail, correct its category
and see the merchant's past purchases follow, a budget warning in the thread, search with
inline errors. Screenshots at 1280x800 and 390x844 go to /tmp/shots-glance/ (not committed)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up

SHOTS = Path("/tmp/shots-glance")
SHOTS.mkdir(parents=True, exist_ok=True)


async def _shoot(page: Page, name: str) -> None:
    for width, height in ((1280, 800), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(SHOTS / f"{name}-{width}x{height}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})


async def _say(page: Page, text: str) -> None:
    await page.get_by_test_id("composer-text").fill(text)
    await page.get_by_test_id("composer-send").click()
    await expect(page.locator(".msg-mine").last).to_contain_text(text)


async def test_correct_a_category_from_the_detail_and_past_purchases_follow(page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    await stack.bank.purchase("alice", merchant="Chipotle", amount="11.40")
    await stack.bank.purchase("alice", merchant="Chipotle", amount="12.85")
    cards = page.locator('#messages .msg[data-kind="transaction"]')
    await expect(cards).to_have_count(2)  # live, in today's group
    await expect(cards.first.locator(".txn-category")).to_have_text("Fast food")
    await _shoot(page, "thread")

    await cards.first.get_by_test_id("txn-open").click()
    await expect(page.get_by_test_id("transaction-detail")).to_be_visible()
    await expect(page.get_by_test_id("detail-merchant")).to_have_text("Chipotle")
    await expect(page.get_by_test_id("detail-reason")).to_contain_text("MCC 5814")
    await expect(page.get_by_test_id("detail-bank")).to_have_text("Sandbox Bank")
    await expect(page.get_by_test_id("history-step").first).to_contain_text("Pending")
    await page.get_by_test_id("note-text").fill("Lunch with Sam")
    await page.get_by_test_id("note-save").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Note saved.")
    await page.get_by_test_id("category-select").select_option("Restaurants")
    await page.get_by_test_id("category-save").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Chipotle is Restaurants now: ")
    await expect(page.get_by_test_id("detail-category")).to_have_text("Restaurants")
    await expect(page.get_by_test_id("detail-reason")).to_contain_text("Restaurants: you said so on ")
    await expect(page.get_by_test_id("note-text")).to_have_value("Lunch with Sam")
    await _shoot(page, "detail")

    await page.get_by_test_id("detail-back").click()  # back in the thread: both cards follow
    await expect(page).to_have_url(re.compile(r"/threads/thr_"))
    await expect(page.locator('#messages .msg[data-kind="transaction"] .txn-category')).to_have_text(
        ["Restaurants", "Restaurants"])


async def test_a_budget_warning_reaches_the_thread(page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    await _say(page, "budget 200 for electronics")
    await expect(page.locator(".msg").last).to_contain_text("Budget set: $200.00 a month for Electronics")
    await stack.bank.purchase("alice", merchant="Best Buy", amount="170.00")
    await stack.container.drain()
    warning = re.compile(r"Budget: Electronics is at \$170\.00 of your \$200\.00")
    await expect(page.get_by_text(warning)).to_be_visible()


async def test_search_lists_tappable_rows_and_shows_bad_filters_inline(page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    await stack.bank.purchase("alice", merchant="Whole Foods Market", amount="63.10")
    await stack.container.drain()
    await page.get_by_test_id("search-link").click()
    await page.get_by_test_id("search-merchant").fill("whole foods")
    await page.get_by_test_id("search-min").fill("60")
    await page.get_by_test_id("search-submit").click()
    rows = page.get_by_test_id("search-result")
    await expect(rows.first.get_by_test_id("result-amount")).to_have_text("\u2212$63.10")
    await _shoot(page, "search")

    await page.get_by_test_id("search-min").fill("sixty")
    await page.get_by_test_id("search-max").fill("5")
    await page.get_by_test_id("search-from").fill("2020-01-01")
    await page.get_by_test_id("search-submit").click()
    await expect(page.get_by_test_id("error-min")).to_contain_text("is not an amount")
    await expect(page.get_by_test_id("error-from")).to_contain_text("at most 731 days")
    await expect(page.get_by_test_id("search-refused")).to_contain_text("2 fields need a change")
    await expect(page.get_by_test_id("search-min")).to_have_attribute("aria-invalid", "true")
    await _shoot(page, "search-errors")

    await page.get_by_test_id("search-min").fill("")
    await page.get_by_test_id("search-from").fill("")
    await page.get_by_test_id("search-max").fill("")
    await page.get_by_test_id("search-submit").click()
    await rows.filter(has_text="Whole Foods Market").first.click()
    await expect(page.get_by_test_id("detail-merchant")).to_have_text("Whole Foods Market")
    await expect(page.get_by_test_id("detail-category")).to_have_text("Groceries")
