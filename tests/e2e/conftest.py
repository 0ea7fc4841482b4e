"""Playwright fixtures driving Debian's Chromium (``apt-get install chromium``).

Never run ``playwright install``: it downloads a browser build, which cannot be fetched
here. We launch the system Chromium through ``executable_path`` instead.

The fixtures are function-scoped on purpose: a launch costs about 0.5 s, and it keeps
every fixture and test on pytest-asyncio's default (function) event loop, so no
``loop_scope`` juggling is needed (a session-scoped async browser would need
``@pytest_asyncio.fixture(scope="session", loop_scope="session")`` *and* every test
marked ``@pytest.mark.asyncio(loop_scope="session")``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

# Tests share two cores with the other pytest-xdist workers (and their servers): a live frame
# can take longer than Playwright's default 5 s to show under that load. A real regression
# still fails, 15 s later.
expect.set_options(timeout=15_000)

CHROMIUM = os.environ.get("LEDGERLINK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    # The machine has no network: without these Chromium keeps dialling Google's hosts.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

_E2E_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e with ``e2e`` (select or skip with ``-m``)."""
    for item in items:
        if _E2E_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def chromium_executable() -> str:
    """Path of Debian's Chromium; skips (fails on CI) when it is not installed."""
    if not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest_asyncio.fixture
async def browser(chromium_executable: str) -> AsyncIterator[Browser]:
    playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        await playwright.stop()


@pytest_asyncio.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page in a fresh browser context (no cookies or storage shared)."""
    context = await browser.new_context()
    try:
        yield await context.new_page()
    finally:
        await context.close()
