"""Consents on the Settings page and the renewal page in a real browser at desktop and phone
sizes (issue 13): words, not codes; days, not ISO timestamps. Screenshots for review go to
/tmp/shots-glance3/."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up

SHOTS = Path("/tmp/shots-glance3")
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}")
# Purpose codes, link ids, and the scope codes as the old page listed them ("balances, transactions, alerts").
_CODES = re.compile(r"\b[a-z]+_[a-z_]+\b|\blnk_[0-9a-f]+|balances, transactions, alerts")
_SCOPES = {"balances", "transactions", "alerts"}


async def test_consents_and_their_renewal_read_as_words_at_desktop_and_phone_sizes(
        page: Page, stack: Stack) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    base = stack.platform_url
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)

    await page.goto(f"{base}/settings")
    renew = page.locator('[data-testid^="renew-lnk_"]')
    await expect(renew).to_have_count(1)
    href = await renew.get_attribute("href")
    assert href is not None and href.endswith("/renew")
    shared = page.get_by_test_id("consent-shared")
    await expect(shared).to_contain_text("Your balances, current and available")
    # Technical details stay folded until opened, and hold the codes.
    technical = page.get_by_test_id("consent-technical")
    await expect(technical.locator("dl")).to_be_hidden()
    await technical.locator("summary").click()
    await expect(technical).to_contain_text("lnk_")
    await page.reload()

    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        for name, path in {"settings": "/settings", "renew": href}.items():
            response = await page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, (name, size)
            shown = await page.locator("main").inner_text()
            assert not _ISO.search(shown), (name, size, _ISO.search(shown))
            assert not _CODES.search(shown), (name, size, _CODES.search(shown))
            assert not _SCOPES & {line.strip() for line in shown.splitlines()}, (name, size)
            wide = await page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, (name, size, wide)
            await page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    await expect(page.get_by_test_id("renew-until-new")).to_contain_text("90 days from today")
    await expect(page.get_by_test_id("renew-never")).to_contain_text("Selling your data")
    await page.get_by_test_id("renew-confirm").click()
    await expect(page).not_to_have_url(f"{base}{href}")  # on to the bank's consent page
