"""The person chooses what a bank link shares (issue 10): the link page's scope checkboxes go
to the bank's consent, and the link keeps only what was chosen."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import httpx
from tests.conftest import Stack
from tests.integration.test_web_messenger import csrf, person_id, sign_up

from ledgerlink.bootstrap import SANDBOX_PARTNER_ID
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.messaging import messenger


async def _link_page(client: httpx.AsyncClient) -> str:
    page = await client.get("/link")
    assert page.status_code == 200
    return page.text


async def test_the_link_page_offers_every_scope_ticked(stack: Stack) -> None:
    async with stack.client() as client:
        await sign_up(client, "chooser")
        html = await _link_page(client)
    for scope in ("balances", "transactions", "alerts"):
        assert re.search(rf'name="scope_{scope}" value="{scope}" checked', html), scope
    assert 'name="partner_id" value="' + SANDBOX_PARTNER_ID + '"' in html


async def test_a_link_with_only_transactions_reads_no_balances(stack: Stack) -> None:
    async with stack.client() as client:
        await sign_up(client, "txonly")
        started = await client.post("/link", data={
            "csrf": await csrf(client, "/link"), "partner_id": SANDBOX_PARTNER_ID,
            "scopes_shown": "1", "scope_transactions": "transactions"})
        assert started.status_code == 303, started.text
        bank_url = started.headers["location"]
        assert parse_qs(urlparse(bank_url).query)["scope"] == ["transactions"]
        async with httpx.AsyncClient(timeout=10.0) as bank_browser:
            consent = await browser_consent(bank_browser, bank_url, login="alice")
        callback = urlparse(consent.headers["location"])
        done = await client.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 303
        await stack.container.drain()
    grant = Grant.for_person(await person_id(stack, "txonly"))
    async with stack.deps.uow(readonly=True) as uow:
        [link] = await uow.links.for_person(grant.person_id)
    assert link.status == "active" and link.scopes == ["transactions"]
    [thread] = [t for t in await messenger.list_threads(stack.deps, grant) if t.link_id == link.id]
    cards = await messenger.thread_messages(stack.deps, grant, thread.id)
    accounts = [c for c in cards if c.kind is CardKind.BALANCE]
    assert accounts, "each shared account still gets its card"
    assert all(c.body["current"] is None and c.body["available"] is None for c in accounts)


async def test_sharing_neither_balances_nor_transactions_is_refused_on_the_page(stack: Stack) -> None:
    async with stack.client() as client:
        await sign_up(client, "nothing")
        resp = await client.post("/link", data={
            "csrf": await csrf(client, "/link"), "partner_id": SANDBOX_PARTNER_ID,
            "scopes_shown": "1", "scope_alerts": "alerts"})
        assert resp.status_code == 400
        assert "Please share at least your balances or your transactions." in resp.text
        # the person's ticks are kept: alerts ticked, the others not
        assert re.search(r'name="scope_alerts" value="alerts" checked', resp.text)
        assert not re.search(r'name="scope_balances" value="balances" checked', resp.text)
    async with stack.deps.uow(readonly=True) as uow:
        assert await uow.links.for_person(await person_id(stack, "nothing")) == []


async def test_a_provider_page_opens_with_the_scopes_chosen_on_the_link_page(stack: Stack) -> None:
    async with stack.client() as client:
        await sign_up(client, "viaprovider")
        page = await _link_page(client)
        match = re.search(r'name="partner_id" value="(ptn_simplefin)"', page)
        assert match, "the SimpleFIN simulator is listed"
        resp = await client.post("/link", data={
            "csrf": await csrf(client, "/link"), "partner_id": match.group(1),
            "scopes_shown": "1", "scope_balances": "balances", "scope_transactions": "transactions"})
        assert resp.status_code == 303
        location = resp.headers["location"]
        assert urlparse(location).path == "/link/provider/simplefin"
        provider_page = (await client.get(location)).text
    assert re.search(r'name="scope_balances" value="balances" checked', provider_page)
    assert re.search(r'name="scope_transactions" value="transactions" checked', provider_page)
    assert not re.search(r'name="scope_alerts" value="alerts" checked', provider_page)
