"""Alerts arrive once per fact in the bank thread, follow the person's rules, and are theirs."""

from __future__ import annotations

import re

import httpx
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain import alerts
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _alerts(stack: Stack, grant: Grant, thread_id: str, kind: str) -> list[str]:
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    return [m.body["text"] for m in messages if m.kind is CardKind.TEXT and m.body.get("alert") == kind]


async def test_a_large_purchase_alerts_once_and_a_muted_merchant_not_at_all(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    txn = await stack.bank.purchase("alice", merchant="Best Buy", amount="750.00")
    await stack.container.drain()
    assert len(large := await _alerts(stack, grant, thread_id, alerts.LARGE)) == 1
    assert "Best Buy" in large[0]
    await stack.bank.post(txn)
    await stack.container.drain()
    assert len(await _alerts(stack, grant, thread_id, alerts.LARGE)) == 1

    await commands.handle_text(stack.deps, grant, thread_id, "mute best buy")
    reply = (await messenger.thread_messages(stack.deps, grant, thread_id))[-1].body["text"]
    assert reply.startswith("Muted: no large-purchase alerts for best buy") and "no purchases" not in reply
    await stack.bank.purchase("alice", merchant="Best Buy", amount="800.00")
    await stack.container.drain()
    assert len(await _alerts(stack, grant, thread_id, alerts.LARGE)) == 1

    # A name that matches none of the person's purchases is muted, and probably a typo.
    await commands.handle_text(stack.deps, grant, thread_id, "mute bestbuy")
    reply = (await messenger.thread_messages(stack.deps, grant, thread_id))[-1].body["text"]
    assert 'no purchases matching "bestbuy" in the last 90 days' in reply
    assert 'Did you mean "Best Buy"?' in reply


async def test_a_low_balance_alerts_once_after_the_next_balance_update(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await commands.handle_text(stack.deps, grant, thread_id, "tell me when checking goes below 100000")
    reply = (await messenger.thread_messages(stack.deps, grant, thread_id))[-1].body["text"]
    assert reply.startswith("Done: I'll tell you when")
    assert await _alerts(stack, grant, thread_id, alerts.LOW) == []
    await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
    await stack.container.drain()
    assert len(await _alerts(stack, grant, thread_id, alerts.LOW)) == 1
    await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="5.50")
    await stack.container.drain()
    assert len(await _alerts(stack, grant, thread_id, alerts.LOW)) == 1


async def test_my_alerts_lists_the_rules_in_plain_words(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await commands.handle_text(stack.deps, grant, thread_id, "stop deposit alerts")
    await commands.handle_text(stack.deps, grant, thread_id, "my alerts")
    answer = (await messenger.thread_messages(stack.deps, grant, thread_id))[-1].body["text"]
    assert "Deposits: off" in answer and "Large purchases: above 500" in answer


async def _sign_in(stack: Stack, client: httpx.AsyncClient, handle: str) -> None:
    page = await client.get("/login")
    token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    resp = await client.post("/login", data={"csrf": token, "handle": handle, "password": "correct horse"})
    assert resp.status_code == 303, resp.text


async def test_the_settings_page_changes_a_threshold_and_shows_only_ones_own_rules(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await commands.handle_text(stack.deps, grant, thread_id, "mute starbucks")
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url=stack.platform_url) as pat:
        await _sign_in(stack, pat, "pat")
        page = await pat.get("/settings/alerts")
        assert page.status_code == 200 and "starbucks" in page.text
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        form = {"csrf": token, "action": "threshold", "form": "large", "kind": "large_purchase"}
        bad = await pat.post("/settings/alerts", data={**form, "amount": "lots"})
        assert bad.status_code == 422 and 'data-testid="error-large"' in bad.text
        saved = await pat.post("/settings/alerts", data={**form, "amount": "1200"})
        assert saved.status_code == 303
        assert 'value="1200"' in (await pat.get("/settings/alerts")).text
        expired = await pat.post("/settings/alerts", data={**form, "csrf": "nope", "amount": "1"})
        assert expired.status_code == 400
    await messenger.register(stack.deps, handle="mal", display_name="Mal", password="correct horse")
    async with httpx.AsyncClient(transport=transport, base_url=stack.platform_url) as mal:
        await _sign_in(stack, mal, "mal")
        page = await mal.get("/settings/alerts")
        assert page.status_code == 200 and "starbucks" not in page.text and "1200" not in page.text
