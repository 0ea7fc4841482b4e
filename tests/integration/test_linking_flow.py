"""The foundation flow through the services, with the sandbox bank over real HTTP."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from tests.conftest import Stack

from ledgerlink.bootstrap import SANDBOX_PARTNER_ID
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import DomainError, NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.linking import links
from ledgerlink.services.messaging import messenger


async def _linked(
    stack: Stack, handle: str = "pat", login: str = "alice", *, partner_id: str = SANDBOX_PARTNER_ID,
    grant: Grant | None = None,
) -> tuple[Grant, str]:
    """Register `handle` (unless `grant` is given) and link it to a sandbox bank."""
    if grant is None:
        person_id = await messenger.register(
            stack.deps, handle=handle, display_name="Pat", password="correct horse"
        )
        grant = Grant.for_person(person_id)
    url = await links.start_link(stack.deps, grant, partner_id=partner_id)
    async with httpx.AsyncClient(timeout=10.0) as browser:
        resp = await browser_consent(browser, url, login=login)
    assert resp.status_code in (302, 303), resp.text
    query = parse_qs(urlparse(resp.headers["location"]).query)
    thread_id = await links.complete_link(stack.deps, grant, state=query["state"][0], code=query["code"][0])
    await stack.container.drain()
    return grant, thread_id


async def _cards(stack: Stack, grant: Grant, thread_id: str) -> list:
    return await messenger.thread_messages(stack.deps, grant, thread_id)


async def test_linking_opens_a_bank_thread_with_one_balance_card_per_account(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    messages = await _cards(stack, grant, thread_id)
    balances = [m for m in messages if m.kind is CardKind.BALANCE]
    accounts = stack.bank.accounts_of("alice")
    assert len(balances) == len(accounts)
    for card in balances:
        assert card.body["current"] is not None
        assert "••" in card.body["account"]
    threads = await messenger.list_threads(stack.deps, grant)
    assert [t.kind.value for t in threads] == ["system", "bank"]


async def test_purchase_arrives_once_and_is_edited_in_place_when_it_posts(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    pending_id = await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
    await stack.container.drain()
    txns = [m for m in await _cards(stack, grant, thread_id) if m.kind is CardKind.TRANSACTION]
    assert len(txns) == 1
    assert txns[0].body["status"] == "pending"
    first = txns[0]

    await stack.bank.post(pending_id, final_amount="5.40")
    await stack.container.drain()
    txns = [m for m in await _cards(stack, grant, thread_id) if m.kind is CardKind.TRANSACTION]
    assert len(txns) == 1, "the posted purchase must edit the pending message, not add one"
    assert txns[0].id == first.id and txns[0].seq == first.seq
    assert txns[0].rev > first.rev
    assert txns[0].body["status"] == "posted"
    assert txns[0].body["amount"] == "-5.40"


async def test_a_lost_webhook_is_recovered_by_cursor_sync(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    bank = stack.bank
    for subscription in bank.ledger.subscriptions.values():
        subscription.active = False  # the bank's pushes are lost from now on
    await bank.purchase("alice", merchant="Whole Foods Market", amount="23.10")
    account_id = (await messenger.list_threads(stack.deps, grant))[1].link_id
    assert account_id
    await stack.container.scheduler.sync_all()
    await stack.container.drain()
    txns = [m for m in await _cards(stack, grant, thread_id) if m.kind is CardKind.TRANSACTION]
    assert [t.body["merchant"] for t in txns] == ["Whole Foods Market"]


async def test_unlink_revokes_at_the_bank_and_stops_updates(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    threads = await messenger.list_threads(stack.deps, grant)
    link_id = threads[1].link_id
    assert link_id
    await links.unlink(stack.deps, grant, link_id=link_id)
    await stack.bank.purchase("alice", merchant="Shell", amount="40.00")
    await stack.container.scheduler.sync_all()
    await stack.container.drain()
    messages = await _cards(stack, grant, thread_id)
    assert not [m for m in messages if m.kind is CardKind.TRANSACTION]
    assert "unlinked" in messages[-1].body["text"]
    assert (await messenger.list_threads(stack.deps, grant))[1].active is False


async def test_a_revoke_at_the_bank_ends_the_link_and_the_thread_says_so(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    consent_id = next(iter(stack.bank.ledger.consents))
    await stack.bank.revoke_consent(consent_id)
    await stack.container.drain()
    messages = await _cards(stack, grant, thread_id)
    assert "ended this link" in messages[-1].body["text"]


async def test_someone_elses_thread_is_not_found(stack: Stack) -> None:
    _, thread_id = await _linked(stack)
    other = await messenger.register(stack.deps, handle="mallory", display_name="M",
                                     password="another long passphrase")
    with pytest.raises(NotFound):
        await messenger.thread_messages(stack.deps, Grant.for_person(other), thread_id)


async def test_a_wrong_state_is_refused_with_a_message_in_the_system_thread(stack: Stack) -> None:
    person_id = await messenger.register(stack.deps, handle="sam", display_name="Sam",
                                         password="another long passphrase")
    grant = Grant.for_person(person_id)
    with pytest.raises(DomainError) as info:
        await links.complete_link(stack.deps, grant, state="forged", code="whatever")
    assert info.value.code == "link_state_unknown"
    system = (await messenger.list_threads(stack.deps, grant))[0]
    last = (await messenger.thread_messages(stack.deps, grant, system.id))[-1]
    assert last.body["tone"] == "error"


async def test_a_reused_code_is_refused(stack: Stack) -> None:
    person_id = await messenger.register(stack.deps, handle="kim", display_name="Kim",
                                         password="another long passphrase")
    grant = Grant.for_person(person_id)
    url = await links.start_link(stack.deps, grant, partner_id=SANDBOX_PARTNER_ID)
    async with httpx.AsyncClient(timeout=10.0) as browser:
        resp = await browser_consent(browser, url, login="alice")
    query = parse_qs(urlparse(resp.headers["location"]).query)
    thread_id = await links.complete_link(stack.deps, grant, state=query["state"][0], code=query["code"][0])
    with pytest.raises(links.LinkAlreadyComplete) as info:
        await links.complete_link(stack.deps, grant, state=query["state"][0], code=query["code"][0])
    assert info.value.code == "link_already_complete" and info.value.thread_id == thread_id
    assert (await messenger.list_threads(stack.deps, grant))[1].active  # the replay changed nothing


async def test_an_expired_access_token_is_refreshed_during_sync(tmp_path, db_url: str) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from tests.conftest import running_stack

    from ledgerlink.domain.clock import FrozenClock

    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        for subscription in stack.bank.ledger.subscriptions.values():
            subscription.active = False
        clock.advance(timedelta(hours=3))  # the 1-hour access token is long dead
        await stack.bank.purchase("alice", merchant="Trader Joe's", amount="12.00")
        await stack.container.scheduler.sync_all()
        await stack.container.drain()
        txns = [m for m in await _cards(stack, grant, thread_id) if m.kind is CardKind.TRANSACTION]
        assert [t.body["merchant"] for t in txns] == ["Trader Joe's"]


async def test_a_bank_side_revoke_whose_notice_was_lost_ends_the_link_at_the_next_sync(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    for subscription in stack.bank.ledger.subscriptions.values():
        subscription.active = False  # the consent.revoked push will be lost
    consent_id = next(iter(stack.bank.ledger.consents))
    await stack.bank.revoke_consent(consent_id)
    await stack.container.scheduler.sync_all()
    await stack.container.drain()
    messages = await _cards(stack, grant, thread_id)
    assert "no longer accepts this link" in messages[-1].body["text"]
    assert (await messenger.list_threads(stack.deps, grant))[1].active is False


# ------------------------------------------------------------------ concurrent and replayed callbacks


async def _consented_callback(stack: Stack, client: httpx.AsyncClient, handle: str) -> str:
    """Sign `handle` up on `client` (the real app over HTTP), start a link and consent at the
    sandbox bank; returns the callback path the bank redirected to (not yet followed)."""
    from tests.integration.test_web_messenger import csrf, sign_up

    assert (await sign_up(client, handle)).status_code == 303
    started = await client.post("/link", data={"csrf": await csrf(client, "/link"),
                                               "partner_id": SANDBOX_PARTNER_ID})
    assert started.status_code == 303, started.text
    async with httpx.AsyncClient(timeout=10.0) as bank_browser:
        consent = await browser_consent(bank_browser, started.headers["location"], login="alice")
    callback = urlparse(consent.headers["location"])
    assert callback.path == "/link/callback"
    return f"{callback.path}?{callback.query}"


async def _only_link(stack: Stack, person_id: str):  # type: ignore[no-untyped-def]
    async with stack.deps.uow(readonly=True) as uow:
        [link] = await uow.links.for_person(person_id)
    return link


async def test_two_concurrent_callbacks_keep_the_link_and_both_open_its_thread(stack: Stack) -> None:
    """A double-submitted callback (two tabs, a reload, a prefetch) must not replay the code:
    the bank would revoke the consent and the loser would overwrite the active link."""
    from tests.integration.test_web_messenger import person_id

    async with stack.client() as client:
        callback = await _consented_callback(stack, client, "racer")
        first, second = await asyncio.gather(client.get(callback), client.get(callback))
    await stack.container.drain()
    pid = await person_id(stack, "racer")
    grant = Grant.for_person(pid)
    link = await _only_link(stack, pid)
    assert link.status == "active", link.failure_code
    assert link.sealed_secrets is not None and link.bank_consent_id is not None
    assert stack.bank.ledger.consents[link.bank_consent_id].revoked_at is None
    [bank_thread] = [t for t in await messenger.list_threads(stack.deps, grant) if t.link_id == link.id]
    assert bank_thread.active
    for answer in (first, second):
        assert answer.status_code == 303
        assert urlparse(answer.headers["location"]).path == f"/threads/{bank_thread.id}"
    texts = [m.body.get("text", "") for t in await messenger.list_threads(stack.deps, grant)
             for m in await messenger.thread_messages(stack.deps, grant, t.id)]
    assert not [t for t in texts if "no longer accepts" in t or "did not accept" in t], texts


async def test_replaying_a_finished_callback_says_it_is_already_complete(stack: Stack) -> None:
    from tests.integration.test_web_messenger import person_id

    async with stack.client() as client:
        callback = await _consented_callback(stack, client, "replayer")
        done = await client.get(callback)
        await stack.container.drain()
        again = await client.get(callback)
        assert again.status_code == 303
        location = urlparse(again.headers["location"])
        assert location.path == urlparse(done.headers["location"]).path  # back to the bank's thread
        page = await client.get(again.headers["location"])
    assert "already complete" in page.text
    assert "did not come from a link you started here" not in page.text
    link = await _only_link(stack, await person_id(stack, "replayer"))
    assert link.status == "active" and link.sealed_secrets is not None
