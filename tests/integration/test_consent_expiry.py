"""Consents are warned 7 days ahead, renewed in one tap with the same ids, and end when due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.linking import consent_expiry, links
from ledgerlink.services.messaging import messenger


async def _thread_texts(stack: Stack, grant: Grant, thread_id: str) -> list[str]:
    return [
        m.body.get("text", "")
        for m in await messenger.thread_messages(stack.deps, grant, thread_id)
        if m.kind is CardKind.TEXT
    ]


async def _account_ids(stack: Stack, grant: Grant) -> list[str]:
    async with stack.deps.uow() as uow:
        return sorted(a.id for a in await uow.accounts.for_person(grant.person_id))


async def test_a_consent_is_warned_once_and_renewed_with_the_same_ids(tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        link_id = (await messenger.list_threads(stack.deps, grant))[1].link_id
        assert link_id
        accounts_before = await _account_ids(stack, grant)
        clock.advance(timedelta(days=84))  # 6 days left of 90
        for _ in range(2):
            report = await consent_expiry.check(stack.deps)
        texts = await _thread_texts(stack, grant, thread_id)
        assert sum("ends on" in t for t in texts) == 1  # warned once, not on every check
        assert report.expired == 0

        url = await links.start_link(stack.deps, grant, partner_id="", renews=link_id)
        async with httpx.AsyncClient(timeout=10.0) as browser:
            resp = await browser_consent(browser, url, login="alice")
        query = parse_qs(urlparse(resp.headers["location"]).query)
        renewed_thread = await links.complete_link(
            stack.deps, grant, state=query["state"][0], code=query["code"][0]
        )
        await stack.container.drain()
        assert renewed_thread == thread_id
        with pytest.raises(links.LinkAlreadyComplete) as done:  # a replayed renewal callback
            await links.complete_link(stack.deps, grant, state=query["state"][0], code=query["code"][0])
        assert done.value.thread_id == thread_id  # changes nothing and points to the same thread
        assert await _account_ids(stack, grant) == accounts_before
        threads = await messenger.list_threads(stack.deps, grant)
        assert len(threads) == 2 and threads[1].active
        assert any("Consent renewed" in t for t in await _thread_texts(stack, grant, thread_id))
        async with stack.deps.uow() as uow:
            link = await uow.links.get(link_id)
        assert link is not None and link.expires_at is not None
        assert link.expires_at > clock.now() + timedelta(days=80)
        await stack.bank.purchase("alice", merchant="Lidl", amount="12.00")
        await stack.container.drain()
        merchants = [
            m.body.get("merchant")
            for m in await messenger.thread_messages(stack.deps, grant, thread_id)
            if m.kind is CardKind.TRANSACTION
        ]
        assert "Lidl" in merchants


async def test_an_unrenewed_consent_ends_and_updates_stop(tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        clock.advance(timedelta(days=91))
        report = await consent_expiry.check(stack.deps)
        assert report.expired == 1
        await stack.container.drain()
        texts = await _thread_texts(stack, grant, thread_id)
        assert "expired on" in texts[-1]
        assert (await messenger.list_threads(stack.deps, grant))[1].active is False


async def test_the_renew_link_of_someone_else_is_not_found(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    link_id = (await messenger.list_threads(stack.deps, grant))[1].link_id
    other = await messenger.register(stack.deps, handle="mal", display_name="M",
                                     password="another long passphrase")
    import pytest

    from ledgerlink.domain.errors import NotFound

    with pytest.raises(NotFound):
        await links.start_link(stack.deps, Grant.for_person(other), partner_id="", renews=link_id)
