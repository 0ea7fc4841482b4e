"""The insights consumer opens one series, not the history (issue 12, ADR 0033): the first charge
on an account tags its rows once (opening them all, as the consumer did for every charge
before); from then on a charge opens only what a rule needs from its own series, and still
raises what the whole history would. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import select
from tests.conftest import Stack
from tests.integration.test_insight_switches import _buy, _insight_alerts
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
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
