"""Receipts are covered by retention (issue 11, docs/privacy.md "Retention"): a shop order (its
receipt, line items and parcel) last changed before the limit is purged with its applied
versions; a fresher one is kept; the ids of merchant events go after the inbox's limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_shop_receipts import _checkout, _shop

from ledgerlink.adapters.db import schema
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.services.privacy.retention import RetentionPolicy, purge


async def _count(stack: Stack, table: Any) -> int:
    async with stack.deps.uow(readonly=True) as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _stored(stack: Stack, ref: str) -> bool:
    for _ in range(100):  # the shop's order.placed comes over HTTP on its own schedule
        async with stack.deps.uow(readonly=True) as uow:
            if await uow.shop_receipts.order("acme", ref) is not None:
                return True
        await asyncio.sleep(0.1)
    return False


async def test_old_receipts_are_purged_and_fresh_ones_kept(tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, _ = await _linked(stack)
        await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
        old, _ = await _checkout(stack)
        assert await _stored(stack, old.order_ref)
        clock.advance(timedelta(days=40))
        fresh, _ = await _checkout(stack)
        assert await _stored(stack, fresh.order_ref)
        assert await _count(stack, schema.merchant_order_versions) == 2
        events = await _count(stack, schema.merchant_events)
        assert events >= 2

        report = await purge(stack.deps, RetentionPolicy(inbox_days=30, transactions_days=0, messages_days=0,
                                                         abandoned_links_days=7, receipts_days=30))
        async with stack.deps.uow(readonly=True) as uow:
            assert await uow.shop_receipts.order("acme", old.order_ref) is None
            kept = await uow.shop_receipts.order("acme", fresh.order_ref)
            assert kept is not None and kept.match_state == "matched"
        assert report.deleted["receipts"] == 1
        assert await _count(stack, schema.merchant_order_versions) == 1
        assert report.deleted["merchant_events"] == events - await _count(stack, schema.merchant_events) > 0
        assert all(e["status"] == 202 for e in _shop(stack).sent), _shop(stack).sent
