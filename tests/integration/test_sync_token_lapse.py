"""An access token that lapses while a sync uses it is refreshed, and the link lives (issue 13).

Seen on PostgreSQL in the insights e2e: the first sync after linking (125 days of history) was
still paging when the test's frozen clock moved two days on; the bank answered `token_expired`
to the token that sync had taken fresh, and sync ended the link as if the consent were gone.
Here the same moment is made exact: the stored expiry says the token is fresh, the bank's
clock says it lapsed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from tests.conftest import Stack, running_stack

from ledgerlink.bootstrap import SANDBOX_PARTNER_ID
from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.linking import links
from ledgerlink.services.messaging import messenger


async def _linked(stack: Stack) -> tuple[Grant, str]:
    person_id = await messenger.register(stack.deps, handle="pat", display_name="Pat",
                                         password="correct horse")
    grant = Grant.for_person(person_id)
    url = await links.start_link(stack.deps, grant, partner_id=SANDBOX_PARTNER_ID)
    async with httpx.AsyncClient(timeout=10.0) as browser:
        resp = await browser_consent(browser, url, login="alice")
    query = parse_qs(urlparse(resp.headers["location"]).query)
    thread_id = await links.complete_link(stack.deps, grant, state=query["state"][0], code=query["code"][0])
    await stack.container.drain()
    return grant, thread_id


async def test_a_token_the_bank_calls_expired_while_it_looked_fresh_is_refreshed_and_the_link_lives(
    tmp_path: Path, db_url: str,
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        for subscription in stack.bank.ledger.subscriptions.values():
            subscription.active = False  # only sync brings the purchase
        clock.advance(timedelta(hours=3))  # the bank's 1-hour access token has lapsed...
        async with stack.deps.uow() as uow:
            [link] = await uow.links.for_person(grant.person_id)
            link.token_expires_at = clock.now() + timedelta(minutes=30)  # ...while ours looks fresh
            await uow.links.update(link)
            await uow.commit()
        await stack.bank.purchase("alice", merchant="Trader Joe's", amount="12.00")
        await stack.container.scheduler.sync_all()
        await stack.container.drain()
        async with stack.deps.uow(readonly=True) as uow:
            [link] = await uow.links.for_person(grant.person_id)
        assert link.status == LinkStatus.ACTIVE.value
        messages = await messenger.thread_messages(stack.deps, grant, thread_id)
        assert not any("no longer accepts this link" in str(m.body.get("text", "")) for m in messages)
        txns = [m.body["merchant"] for m in messages if m.kind is CardKind.TRANSACTION]
        assert txns == ["Trader Joe's"]
