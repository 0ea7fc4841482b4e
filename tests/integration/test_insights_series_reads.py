"""The insights consumer opens one series, not the history (issue 12, ADR 0033): the first charge
on an account tags its rows once (opening them all, as the consumer did for every charge
before); from then on a charge opens only what a rule needs from its own series, and still
raises what the whole history would. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from tests.conftest import Stack
from tests.integration.test_insight_switches import _buy, _insight_alerts
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
from ledgerlink.services.access.insights import IN_FLIGHT
from ledgerlink.services.alerts import insights


async def _rows_opened(stack: Stack, person_id: str) -> list[int]:
    """The row counts of the consumer's audited transaction reads, oldest first."""
    a = schema.audit_log
    async with stack.container.engine.connect() as conn:
        rows = await conn.execute(select(a.c.subject).where(
            a.c.person_id == person_id, a.c.actor.like("%insights%"), a.c.action == "read_transactions",
        ).order_by(a.c.seq))
        return [int(m.group(1)) for s in rows.scalars() if (m := re.search(r"transactions:(\d+)$", s))]


async def test_after_the_first_charge_a_charge_opens_only_its_series_and_still_finds_the_duplicate(
    stack: Stack,
) -> None:
    grant, thread_id = await _linked(stack)
    await stack.container.drain()
    await _buy(stack, "Blue Bottle Coffee", "6.50")  # the first charge: the account is tagged once
    tagged_once = await _rows_opened(stack, grant.person_id)
    assert sum(tagged_once) >= 20, tagged_once  # alice's demo history, opened to be tagged

    await _buy(stack, "Chipotle", "12.40")
    await _buy(stack, "Chipotle", "12.40")  # a duplicate charge
    later = (await _rows_opened(stack, grant.person_id))[len(tagged_once):]
    # the first Chipotle charge is its first of the day: its series (alice's earlier Chipotle
    # charges, if any) is opened for the price rule; the second opens the first, once
    assert later[-1] == 1 and sum(later) * 4 < sum(tagged_once), (tagged_once, later)
    alerts = await _insight_alerts(stack, grant, thread_id)
    assert [a["alert"] for a in alerts] == [insights.DUPLICATE]


async def _has_tag(stack: Stack, transaction_id: str) -> bool:
    g = schema.insight_tags
    async with stack.container.engine.connect() as conn:
        found = await conn.execute(select(func.count()).where(g.c.transaction_id == transaction_id))
        return bool(found.scalar())


async def test_the_untagged_scan_reads_rows_changed_since_the_mark_and_the_whole_range_daily(
    stack: Stack,
) -> None:
    grant, _ = await _linked(stack)
    await stack.container.drain()
    await _buy(stack, "Blue Bottle Coffee", "6.50")  # the first charge: the whole range, and a mark
    t, g, m = schema.transactions, schema.insight_tags, schema.insight_scans
    async with stack.container.engine.begin() as conn:
        mark = (await conn.execute(select(m))).one()
        assert mark.person_id == grant.person_id and mark.full_at - mark.through == IN_FLIGHT
        # Minutes later: the mark is past every row stored so far, and one of them lost its tag
        # (as if never tagged)
        latest = (await conn.execute(select(func.max(t.c.updated_at)).where(
            t.c.account_id == mark.account_id))).scalar_one()
        await conn.execute(update(m).values(through=latest))
        old = (await conn.execute(select(t.c.id).where(t.c.account_id == mark.account_id)
                                  .order_by(t.c.updated_at).limit(1))).scalar_one()
        await conn.execute(delete(g).where(g.c.transaction_id == old))
    await _buy(stack, "Chipotle", "12.40")
    assert not await _has_tag(stack, old)  # changed before the mark: not read between whole scans
    async with stack.container.engine.begin() as conn:
        await conn.execute(update(m).values(full_at=mark.full_at - timedelta(days=2)))
    await _buy(stack, "Chipotle", "13.10")
    assert await _has_tag(stack, old)  # the daily scan of the whole range tags it again
