"""The person chooses what a bank link shares (issue 10): the link page's scope checkboxes go
to the bank's consent, and the link keeps only what was chosen."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import httpx
from tests.conftest import Stack
from tests.integration.test_bank_events import PATH, _inbox_count, _signed, _txn_event
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


async def _link_transactions_only(stack: Stack, client: httpx.AsyncClient, handle: str) -> None:
    await sign_up(client, handle)
    started = await client.post("/link", data={
        "csrf": await csrf(client, "/link"), "partner_id": SANDBOX_PARTNER_ID,
        "scopes_shown": "1", "scope_transactions": "transactions"})
    assert started.status_code == 303, started.text
    async with httpx.AsyncClient(timeout=10.0) as bank_browser:
        consent = await browser_consent(bank_browser, started.headers["location"], login="alice")
    callback = urlparse(consent.headers["location"])
    assert (await client.get(f"{callback.path}?{callback.query}")).status_code == 303
    await stack.container.drain()


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


async def test_a_transactions_only_thread_says_its_balance_is_not_shared(stack: Stack) -> None:
    async with stack.client() as client:
        await _link_transactions_only(stack, client, "notshared")
        grant = Grant.for_person(await person_id(stack, "notshared"))
        [thread] = [t for t in await messenger.list_threads(stack.deps, grant) if t.link_id]
        page = (await client.get(f"/threads/{thread.id}")).text
        assert 'data-testid="pin-not-shared">Balance not shared (transactions only)' in page
        assert "Balance not available yet" not in page
        assert 'data-testid="balance-not-shared">Balance not shared: you linked this account' in page
        sent = await client.post(f"/threads/{thread.id}/messages", data={
            "csrf": await csrf(client, f"/threads/{thread.id}"), "text": "balance"})
        assert sent.status_code in (200, 303), sent.text
        await stack.container.drain()
    cards = await messenger.thread_messages(stack.deps, grant, thread.id)
    said = "balance not shared (you linked its transactions only)"
    answer = [c for c in cards if said in json.dumps(c.body)]
    assert answer, [c.body for c in cards][-3:]
    balances = [c for c in cards if c.kind is CardKind.BALANCE]
    assert balances and all(c.body.get("balance_shared") is False for c in balances)


async def test_a_bank_pushing_what_the_consent_leaves_out_is_refused(stack: Stack) -> None:
    """A bank may not push balances on a transactions-only link: 403 scope_not_granted,
    nothing stored; its transactions on the same link are taken."""
    async with stack.client() as client:
        await _link_transactions_only(stack, client, "pushy")
    grant = Grant.for_person(await person_id(stack, "pushy"))
    async with stack.deps.uow(readonly=True) as uow:
        [link] = await uow.links.for_person(grant.person_id)
        [account, *_] = await uow.accounts.for_link(link.id)
    before = await _inbox_count(stack)
    balance = {"type": "balance.updated", "timestamp": datetime.now(UTC).isoformat(), "data": {
        "consent_id": link.bank_consent_id, "account_id": account.bank_account_id,
        "balance": {"account_id": account.bank_account_id, "current": "1234.56", "available": "1200.00",
                    "currency": "USD", "as_of": datetime.now(UTC).isoformat()}}}
    async with stack.client() as bank:
        body = json.dumps(balance).encode()
        refused = await bank.post(PATH, content=body, headers=_signed(stack, body))
        assert refused.status_code == 403, refused.text
        problem = refused.json()
        assert problem["code"] == "scope_not_granted"
        assert "balances" in problem["detail"] and "transactions" in problem["detail"]
        assert account.bank_account_id not in refused.text  # no account number echoed
        txn = _txn_event(account.bank_account_id, "txn_scope_1", consent_id=link.bank_consent_id)
        body = json.dumps(txn).encode()
        taken = await bank.post(PATH, content=body, headers=_signed(stack, body))
        assert taken.status_code in (200, 202), taken.text
    assert await _inbox_count(stack) == before + 1
