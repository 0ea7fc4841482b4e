"""A bank's card refund raises no "Deposit into ..." alert; money in from payroll still does."""

from __future__ import annotations

import json

from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger


async def _deposit_alerts(stack: Stack, grant: Grant, thread_id: str) -> list[str]:
    msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
    return [json.dumps(m.body) for m in msgs if "Deposit into" in json.dumps(m.body)]


async def test_a_card_refund_is_shown_on_its_purchase_without_a_deposit_alert(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    pending = await stack.bank.purchase("alice", account_id=acc.account_id, merchant="IKEA", amount="48.17")
    posted = await stack.bank.post(pending)
    await stack.container.drain()
    before = await _deposit_alerts(stack, grant, thread_id)

    await stack.bank.refund(posted, amount="19.99")
    await stack.container.drain()
    assert await _deposit_alerts(stack, grant, thread_id) == before

    await stack.bank.deposit("alice", amount="250.00", description="PAYROLL DIRECT DEPOSIT")
    await stack.container.drain()
    after = await _deposit_alerts(stack, grant, thread_id)
    assert len(after) == len(before) + 1 and "+250.00 USD" in after[-1] and "19.99" not in after[-1]
