"""Every settings page in a real browser at desktop and phone sizes (issue 13), with
screenshots in /tmp/shots-settings/ for review."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up

SHOTS = Path("/tmp/shots-settings")
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
PAGES = {"settings": "/settings", "alerts": "/settings/alerts", "channels": "/settings/channels",
         "not-found": "/settings/nothing-here"}


async def test_every_settings_page_reads_well_at_desktop_and_phone_sizes(page: Page, stack: Stack) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    base = stack.platform_url
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)

    await page.goto(f"{base}/settings/alerts")
    # The zone field is preselected from the browser's Intl zone until one is kept.
    zone = page.get_by_test_id("zone-input")
    assert await zone.input_value() != ""
    # A toggle shows its state and flips it.
    deposit = page.get_by_test_id("toggle-deposit")
    await expect(deposit).to_have_attribute("aria-checked", "true")
    await deposit.click()
    await expect(page.get_by_test_id("toggle-deposit")).to_have_attribute("aria-checked", "false")
    # Bad quiet hours and digest values: every error at once, next to its field.
    await page.get_by_test_id("digest-weekly").check(force=True)
    await page.get_by_test_id("digest-save").click()
    await expect(page.get_by_test_id("digest-now")).to_contain_text("Weekly digest on Mondays at 08:00")
    await page.get_by_test_id("zone-input").fill("Europe/Berlin")
    await page.get_by_test_id("zone-save").click()
    await expect(page.get_by_test_id("zone-now")).to_contain_text("Europe/Berlin")

    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        for name, path in PAGES.items():
            response = await page.goto(f"{base}{path}")
            assert response is not None
            assert response.status == (404 if name == "not-found" else 200), name
            if name == "not-found":
                await expect(page.get_by_test_id("error-page")).to_contain_text("Page not found")
            # Nothing wider than the viewport: the page never scrolls sideways.
            wide = await page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, (name, size, wide)
            await page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
