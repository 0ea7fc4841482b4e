"""Transparency people can read, in Chromium: the grouped access page (drill-down, filters) and
the consent receipt (plain words, technical details folded, verified in one tap). Screenshots
of both at 1280x800 and 390x844 go to /tmp/shots-transparency/ for review."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.messaging import messenger

SHOTS = Path("/tmp/shots-transparency")
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


async def _shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a test helper: one mkdir)
    for size, viewport in SIZES.items():
        await page.set_viewport_size(viewport)
        await page.screenshot(path=str(SHOTS / f"{name}-{size}.png"))
    await page.set_viewport_size(SIZES["desktop"])


async def _support_read(stack: Stack, person_id: str) -> None:
    """A read by a person at Ledgerlink, as the access functions would write it."""
    async with stack.deps.uow() as uow:
        support = Grant(person_id=person_id, actor="operator:ops-1")
        await access.audit(uow, support, Purpose.OPERATIONS_SUPPORT, action="read_account",
                           subject="account:acc_1",
                           at=stack.deps.clock.now() - timedelta(minutes=5))
        await uow.commit()


async def test_the_access_page_and_the_receipt_read_plainly_in_a_browser(page: Page, stack: Stack) -> None:
    base = stack.platform_url
    await page.set_viewport_size(SIZES["desktop"])
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
    await expect(page.locator('.msg[data-kind="transaction"]')).to_have_count(1)
    thread_url = page.url
    person_id = await messenger.authenticate(stack.deps, handle="pat", password="correct horse battery")
    await _support_read(stack, person_id)

    # One screen: today's reads counted per purpose, the operator read flagged.
    await page.goto(f"{base}/privacy/accesses")
    today = page.get_by_test_id("access-day").first
    await expect(today.get_by_test_id("day-label")).to_have_text("Today")
    await expect(today.get_by_test_id("day-summary")).to_contain_text("reads to send you updates")
    await expect(today.get_by_test_id("day-summary")).to_contain_text("1 by a person at Ledgerlink")
    await expect(page.get_by_test_id("unusual")).to_contain_text("A person at Ledgerlink")
    await expect(page.locator("body")).not_to_contain_text("read read")
    await expect(page.get_by_test_id("tree-head")).to_contain_text("Check it yourself")
    await _shoot(page, "accesses")
    height = await page.evaluate("document.documentElement.scrollHeight")
    assert height < 4000, height  # a summary, not a wall of entries

    # Filter to the reads by a person, then open the group: its entries, each with its data link.
    await page.get_by_test_id("filters-toggle").locator("summary").click()
    await page.get_by_test_id("filter-who").select_option("staff")
    await page.get_by_test_id("filter-apply").click()
    await expect(page.get_by_test_id("access-group")).to_have_count(1)
    await page.get_by_test_id("group-link").click()
    await expect(page).to_have_url(re.compile(r"/privacy/accesses/entries\?"))
    await expect(page.get_by_test_id("access")).to_have_count(1)
    await expect(page.get_by_test_id("access-who")).to_have_text("A person at Ledgerlink")
    await expect(page.get_by_test_id("access-what")).to_have_text("read one of your accounts")
    await _shoot(page, "access-entries")
    await page.get_by_test_id("entries-back").click()
    await expect(page.get_by_test_id("accesses-page")).to_be_visible()

    # The consent receipt, from the bank thread: plain words first, ids folded away, verify in one tap.
    await page.goto(thread_url)
    await page.get_by_role("link", name="View receipt").first.click()
    await expect(page.get_by_test_id("receipt-bank")).to_have_text("Sandbox Bank")
    await expect(page.get_by_test_id("receipt-accounts")).to_contain_text("Sandbox Bank")
    await expect(page.get_by_test_id("receipt-never")).to_contain_text("Advertising")
    technical = page.get_by_test_id("receipt-technical")
    await expect(technical.locator("dl")).to_be_hidden()
    await _shoot(page, "receipt")
    await technical.locator("summary").click()
    await expect(technical.locator("dl")).to_be_visible()
    await expect(technical).to_contain_text("rcp_")
    await page.get_by_test_id("receipt-verify").click()
    await expect(page.get_by_test_id("verify-status")).to_contain_text("Genuine")
    await expect(page.get_by_test_id("verify-result")).to_have_attribute("data-valid", "true")
    await _shoot(page, "receipt-verified")
