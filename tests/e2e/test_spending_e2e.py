"""Charts in a real browser (issue 13): a spending answer arrives as a card with a total, a small
chart and its top merchants; a merchant opens the Spending page filtered to it; the Spending
page draws its three charts with their text alternatives. Screenshots at 1280x800 and 390x844
go to /tmp/shots-charts/ (LEDGERLINK_SHOTS_DIR overrides).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.async_api import Locator, Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up

LIVE = 15_000  # ms: a live update on a loaded 2-core machine
SHOTS = Path(os.environ.get("LEDGERLINK_SHOTS_DIR", "/tmp/shots-charts"))
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


async def _loaded(img: Locator) -> None:
    """The image was fetched and decoded (an SVG the browser refused has no natural width)."""
    await expect(img).to_be_visible(timeout=LIVE)
    await img.scroll_into_view_if_needed()
    handle = await img.element_handle()
    assert handle is not None
    await handle.evaluate("i => i.decode ? i.decode() : true")
    assert await handle.evaluate("i => i.complete && i.naturalWidth > 0")


async def _shots(page: Page, name: str, target: Locator | None = None) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        if target is not None:
            await target.scroll_into_view_if_needed()
        await page.screenshot(path=str(SHOTS / f"{name}-{size}.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})


async def test_a_spending_answer_is_a_card_with_a_chart_and_the_spending_page_draws_three(
        page: Page, stack: Stack) -> None:
    await page.set_viewport_size({"width": 1280, "height": 800})
    await sign_up(page, stack, "robin")
    await link_sandbox_bank(page, stack)
    await stack.container.drain()  # the first sync stores history quietly; purchases come after
    for merchant, amount in (("Starbucks", "4.75"), ("Starbucks", "5.25"), ("Blue Bottle Coffee", "6.00")):
        await stack.bank.purchase("alice", merchant=merchant, amount=amount)
    await stack.container.drain()

    await page.get_by_test_id("composer-text").fill("how much on coffee today")
    await page.get_by_test_id("composer-send").click()
    card = page.get_by_test_id("chart-card").last
    await expect(card).to_be_visible(timeout=LIVE)
    await expect(card.get_by_test_id("chart-total")).to_have_text("$16.00")
    await expect(card.get_by_test_id("chart-merchant")).to_have_text(["Starbucks", "Blue Bottle Coffee"])
    img = card.get_by_test_id("chart-card-img")
    await _loaded(img)
    assert "Starbucks" in (await img.get_attribute("alt") or "")
    await _shots(page, "answer-card", card)

    await card.get_by_test_id("chart-merchant").first.click()
    await expect(page).to_have_url(re.compile(r"/spending\?.*merchant=starbucks"))
    await expect(page.get_by_test_id("purchase")).to_have_count(2)
    await expect(page.get_by_test_id("spending-total")).to_have_text("$10.00")

    await page.goto(f"{stack.platform_url}/settings")
    await page.get_by_test_id("spending-link").click()
    await expect(page).to_have_url(re.compile(r"/spending$"))
    for name in ("categories", "months", "balance"):
        await _loaded(page.get_by_test_id(f"chart-{name}-img"))
        await expect(page.get_by_test_id(f"chart-{name}-summary")).not_to_be_empty()
    summary = await page.get_by_test_id("chart-categories-summary").text_content() or ""
    assert "Coffee" in summary
    await page.get_by_test_id("chart-categories").locator("summary").click()
    await expect(page.get_by_test_id("chart-categories-table")).to_contain_text("Coffee")
    await page.get_by_test_id("chart-categories").locator("summary").click()
    await page.evaluate("window.scrollTo(0, 0)")
    await _shots(page, "spending")
    await page.get_by_test_id("chart-balance").scroll_into_view_if_needed()
    await _shots(page, "spending-balance", page.get_by_test_id("chart-balance"))
