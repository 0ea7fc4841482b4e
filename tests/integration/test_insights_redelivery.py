"""The TransactionChanged insights consumer is idempotent (issue 12): on the scale-out profile a
JetStream redelivery can overlap the first delivery of the same event on another worker, or come
after it committed but before its ack. Either way the finding reaches the thread once, and no
delivery fails (a failing one is retried and at last dead-lettered). On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from tests.conftest import Stack
from tests.integration.test_insight_switches import _buy, _insight_alerts
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
from ledgerlink.domain.events import TransactionChanged
from ledgerlink.services.alerts import insights


async def _latest_transaction(stack: Stack) -> str:
    t = schema.transactions
    async with stack.container.engine.connect() as conn:
        return str((await conn.execute(select(t.c.id).order_by(t.c.created_at.desc()).limit(1))).scalar_one())


async def test_overlapping_and_late_redeliveries_of_one_event_raise_its_alert_once_and_never_fail(
    stack: Stack,
) -> None:
    grant, thread_id = await _linked(stack)
    await insights.set_enabled(stack.deps, grant, insights.DUPLICATE, on=False)
    await _buy(stack, "Chipotle", "12.40")
    await _buy(stack, "Chipotle", "12.40")  # a duplicate charge, said nothing about while off
    assert await _insight_alerts(stack, grant, thread_id) == []
    await insights.set_enabled(stack.deps, grant, insights.DUPLICATE, on=True)
    event = TransactionChanged(person_id=grant.person_id, transaction_id=await _latest_transaction(stack),
                               created=True, delivered=True)
    # the first delivery and two redeliveries, on three workers at once
    outcomes = await asyncio.gather(*(insights.on_transaction_changed(stack.deps, event) for _ in range(3)),
                                    return_exceptions=True)
    assert [o for o in outcomes if o is not None] == []
    await insights.on_transaction_changed(stack.deps, event)  # redelivered after its commit
    alerts = await _insight_alerts(stack, grant, thread_id)
    assert [a["alert"] for a in alerts] == [insights.DUPLICATE]


async def _insights_reads(stack: Stack, person_id: str) -> list[str]:
    a = schema.audit_log
    async with stack.container.engine.connect() as conn:
        rows = await conn.execute(select(a.c.action).where(a.c.person_id == person_id,
                                                           a.c.actor.like("%insights%")))
        return [str(r) for r in rows.scalars()]


async def test_money_in_raises_no_insight_and_its_history_is_never_read(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    await stack.container.drain()
    before = await _insights_reads(stack, grant.person_id)
    await stack.bank.deposit("alice", amount="250.00", description="Payroll")
    await stack.container.drain()
    event = TransactionChanged(person_id=grant.person_id, transaction_id=await _latest_transaction(stack),
                               created=True, delivered=True)
    await insights.on_transaction_changed(stack.deps, event)
    new = (await _insights_reads(stack, grant.person_id))[len(before):]
    assert new, "the consumer read the deposit itself"
    assert len(new) == 2 and len(set(new)) == 1, new  # the deposit, once per delivery: no history
