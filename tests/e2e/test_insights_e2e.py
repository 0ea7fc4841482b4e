"""A subscription's price increase reaches the bank thread in a real browser (issue 13).

The demo seed gives alice's card monthly subscriptions. Netflix's step from $15.49 to $17.99 is
in the linked history, which is stored quietly (no alert for the past), so the live increase is
Spotify's: a month after its latest $11.99 charge it charges $12.99, and the thread says so while
the person watches. A frozen clock shared by the platform and the sandbox bank makes "a month
after" exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from tests.conftest import Stack, running_stack
from tests.e2e.flows import PASSWORD, link_sandbox_bank, sign_up

from ledgerlink.domain.clock import FrozenClock


@pytest.fixture
async def clocked(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Stack, FrozenClock]]:
    # The first sync may still be paging through the history when the clock first moves: its
    # token lapses in use, and sync refreshes it (tests/integration/test_sync_token_lapse.py).
    clock = FrozenClock(datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        yield stack, clock


async def test_a_subscription_price_increase_alert_reaches_the_thread_and_history_raises_none(
    page: Page, clocked: tuple[Stack, FrozenClock],
) -> None:
    stack, clock = clocked
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    messages = page.get_by_test_id("messages")
    await expect(messages).not_to_contain_text("went from")  # not Netflix's: it is history
    thread_url = page.url

    card = next(a for a in stack.bank.accounts_of("alice") if a.type == "credit_card")
    spotify = [t for t in stack.bank.ledger.txns.values()
               if t.merchant_name == "Spotify" and t.account_id == card.account_id]
    latest = max(t.created_at for t in spotify)
    while clock.now() < latest + timedelta(days=30):  # the bank syncs as days go by (its tokens
        clock.advance(min(timedelta(days=2), latest + timedelta(days=30) - clock.now()))  # renew)
        await stack.container.scheduler.sync_all()
        await stack.container.drain()
    await page.goto(f"{stack.platform_url}/login")  # the session has lapsed meanwhile
    await page.get_by_test_id("login-handle").fill("pat")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.goto(thread_url)
    txn = await stack.bank.purchase("alice", account_id=card.account_id, merchant="Spotify", amount="12.99")
    await stack.bank.post(txn, final_amount="12.99")
    await stack.container.drain()
    await expect(messages).to_contain_text("Spotify went from $11.99 to $12.99.")
    await page.reload()  # and it stays, once
    await expect(messages.get_by_text("Spotify went from $11.99 to $12.99.")).to_have_count(1)
