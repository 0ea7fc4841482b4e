"""The orders feed is pulled by the running product (issue 11, ADR 0031): the embedded default's
syncer every `shop_sync_seconds` on the injected clock (refreshing the link's expired access
token on the way), and the scale-out profile's `shop_sync` cluster job."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_merchant_link import _consent, _link_shop, _receipt_cards
from tests.integration.test_shop_receipts import _checkout, _shop

from ledgerlink.bootstrap.scaleout import periodic_jobs
from ledgerlink.domain.clock import FrozenClock

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def test_the_embedded_syncer_pulls_a_lost_order_once_per_interval_refreshing_the_token(
        tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(START)
    async with running_stack(tmp_path, db_url, clock=clock, shop_sync_seconds=2 * 3600,
                             schedule_tick_seconds=0.02) as stack:
        settings = stack.container.settings
        jobs = periodic_jobs(settings, stack.container)
        assert [j.interval for j in jobs if j.name == "shop_sync"] == [7200]
        off = settings.model_copy(update={"shop_sync_seconds": 0})
        assert "shop_sync" not in [j.name for j in periodic_jobs(off, stack.container)]
        grant, thread_id = await _linked(stack)
        consent_id = await _link_shop(stack, grant)
        sealed = (await _consent(stack, consent_id)).sealed
        _shop(stack).drop_events = 1  # order.placed is lost
        order, _ = await _checkout(stack)
        clock.advance(timedelta(hours=1))  # the access token (1 h) has expired; the pull is not due
        await asyncio.sleep(0.3)
        assert await _receipt_cards(stack, grant, thread_id) == []
        clock.advance(timedelta(hours=1, minutes=1))  # due: the syncer refreshes, then pulls
        for _ in range(200):
            cards = await _receipt_cards(stack, grant, thread_id)
            if cards:
                break
            await asyncio.sleep(0.025)
        assert [c.body["receipt"]["order_ref"] for c in cards] == [order.order_ref]
        consent = await _consent(stack, consent_id)
        assert consent.sealed != sealed and consent.synced_at is not None  # new tokens, sealed again
        assert len(_shop(stack).auth.by_access) == 2  # the first token, and the refreshed one
