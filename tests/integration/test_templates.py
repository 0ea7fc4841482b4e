"""Message templates: declined cards, international and online purchases, and a connection that
needs the person's attention, over real HTTP with the sandbox bank (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import Stack, running_stack
from tests.integration.test_alerts import _CSRF, _sign_in
from tests.integration.test_bank_events import _inbox_count, _post, _signed
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
from ledgerlink.domain import alerts
from ledgerlink.domain.cards import plain_text, preview_text
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox._model import CardDeclined
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.alerts import rules
from ledgerlink.services.linking import links
from ledgerlink.services.messaging import messenger
from ledgerlink.services.messaging.ports import MessageView
from ledgerlink.services.questions import commands


async def _messages(stack: Stack, grant: Grant, thread_id: str) -> list[MessageView]:
    return await messenger.thread_messages(stack.deps, grant, thread_id)


async def _alerts(stack: Stack, grant: Grant, thread_id: str, kind: str) -> list[MessageView]:
    return [m for m in await _messages(stack, grant, thread_id) if m.body.get("alert") == kind]


async def _stored_transactions(stack: Stack) -> int:
    async with stack.container.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(schema.transactions))).scalar_one())


def _checking(stack: Stack, login: str = "alice") -> Any:
    return next(a for a in stack.bank.accounts_of(login) if a.type == "checking")


def _decline_event(account_id: str, ident: str, **changes: Any) -> dict[str, Any]:
    decline = {
        "decline_id": ident,
        "merchant_name": "Corner Bakery",
        "mcc": "5812",
        "amount": "18.40",
        "currency": "USD",
        "reason": "card_frozen",
        "at": "2026-11-26T10:00:00Z",
        "merchant_country": "US",
        "card_present": True,
        **changes,
    }
    return {
        "type": "card.declined",
        "timestamp": "2026-11-26T10:00:00Z",
        "data": {
            "consent_id": None,
            "account_id": account_id,
            "decline": {k: v for k, v in decline.items() if v is not ...},
        },
    }


# --------------------------------------------------------------------------- card declined


async def test_a_purchase_the_account_cannot_pay_is_declined_once_and_is_no_transaction(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    checking = _checking(stack)
    too_much = stack.bank.ledger.available(checking.account_id) + 50
    txns_before = len(stack.bank.ledger.txns)
    stored_before = await _stored_transactions(stack)
    with pytest.raises(CardDeclined) as declined:
        await stack.bank.purchase(
            "alice", account_id=checking.account_id, merchant="Best Buy", amount=str(too_much)
        )
    assert declined.value.status == 402 and declined.value.decline.reason == "insufficient_funds"
    assert len(stack.bank.ledger.txns) == txns_before  # not a transaction at the bank
    await stack.container.drain()
    messages = await _messages(stack, grant, thread_id)
    cards = [m for m in messages if m.kind is CardKind.DECLINED]
    assert len(cards) == 1
    body = cards[0].body
    assert body["merchant"] == "Best Buy" and body["amount"] == str(too_much) and body["currency"] == "USD"
    assert body["reason"] == "insufficient_funds" and "not enough money" in body["reason_text"]
    assert "Move money" in body["advice"] and "••" in body["account"]
    assert not [m for m in messages if m.kind is CardKind.TRANSACTION]
    text = plain_text(CardKind.DECLINED, body)
    assert text.startswith("Card declined at Best Buy:") and str(too_much) in text
    label = body["account"]
    assert preview_text(CardKind.DECLINED, body, "amount_hidden") == f"Card declined: Best Buy ({label})"
    hidden = preview_text(CardKind.DECLINED, body, "merchant_hidden")
    assert hidden == f"Card declined: {too_much} USD ({label})"
    assert preview_text(CardKind.DECLINED, body, "minimal") == "You have an account update"
    assert await _stored_transactions(stack) == stored_before  # only the sealed message was stored


async def test_a_redelivered_decline_is_received_once_and_the_same_decline_again_adds_no_card(
    stack: Stack,
) -> None:
    grant, thread_id = await _linked(stack)
    account = _checking(stack).account_id
    body = json.dumps(_decline_event(account, "dcl_ext_1")).encode()
    headers = _signed(stack, body, msg_id="msg_decline_1")
    assert (await _post(stack, body, headers)).status_code == 202
    replay = await _post(stack, body, headers)
    assert replay.status_code == 200 and replay.json()["status"] == "already_received"  # issue 12
    again = _signed(stack, body, msg_id="msg_decline_2")  # the same decline, another event id
    assert (await _post(stack, body, again)).status_code == 202
    await stack.container.drain()
    cards = [m for m in await _messages(stack, grant, thread_id) if m.kind is CardKind.DECLINED]
    assert len(cards) == 1
    assert cards[0].body["reason"] == "card_frozen" and cards[0].body["merchant"] == "Corner Bakery"


async def test_malformed_declines_get_specific_422s_and_nothing_is_stored(stack: Stack) -> None:
    await _linked(stack)
    account = _checking(stack).account_id
    before = await _inbox_count(stack)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"type": "card.declined", "data": {"account_id": account}}, "data.decline must be a JSON object"),
        (_decline_event(account, "d1", decline_id=...), "data.decline.decline_id is required"),
        (_decline_event(account, "d2", amount="-18.40"), "data.decline.amount must be the positive amount"),
        (_decline_event(account, "d3", amount="12.345"), "data.decline.amount is not valid"),
        (_decline_event(account, "d4", currency="DOLLARS"), "data.decline.currency is not valid"),
        (_decline_event(account, "d5", reason="bad_luck"), "data.decline.reason must be one of"),
        (_decline_event(account, "d6", merchant_country="fr"), "data.decline.merchant_country must be"),
        (_decline_event(account, "d7", merchant_country="ZZ"), "data.decline.merchant_country must be"),
        (_decline_event(account, "d8", card_present="yes"), "data.decline.card_present must be true"),
        (_decline_event(account, "d9", at="yesterday"), "data.decline.at must be an ISO 8601 instant"),
        (_decline_event(account, "d10", at=...), "data.decline.at is required"),
        (_decline_event(account, "d11", mcc="58"), "data.decline.mcc must be a 4-digit"),
    ]
    for payload, detail in cases:
        body = json.dumps(payload).encode()
        resp = await _post(stack, body, _signed(stack, body))
        assert resp.status_code == 422, (detail, resp.text)
        problem = resp.json()
        assert problem["code"] == "malformed_payload", problem
        assert problem["detail"].startswith(detail), problem
        assert "Traceback" not in resp.text
    assert await _inbox_count(stack) == before


async def test_declined_alerts_follow_the_chat_switch_and_the_sandbox_hook_over_http(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    admin = {"authorization": f"Bearer {stack.bank.config.admin_token}"}
    async with httpx.AsyncClient(base_url=stack.bank_url, timeout=10.0) as bank:
        refused = await bank.post("/sandbox/simulate/decline", json={"login": "alice"})
        assert refused.status_code == 401
        bad = await bank.post(
            "/sandbox/simulate/decline",
            headers=admin,
            json={"login": "alice", "reason": "bad_luck", "amount": "5.00"},
        )
        assert bad.status_code == 422 and bad.json()["code"] == "unknown_reason"
        made = await bank.post(
            "/sandbox/simulate/decline",
            headers=admin,
            json={"login": "alice", "merchant": "Harrods", "amount": "75.00", "reason": "suspected_fraud"},
        )
        assert made.status_code == 201, made.text
        decline = made.json()["decline"]
        assert decline["reason"] == "suspected_fraud" and decline["merchant_country"] == "GB"
        await stack.container.drain()
        cards = [m for m in await _messages(stack, grant, thread_id) if m.kind is CardKind.DECLINED]
        assert len(cards) == 1 and cards[0].body["country_name"] == "United Kingdom"
        assert "(in United Kingdom)" in cards[0].body["text"]

        await commands.handle_text(stack.deps, grant, thread_id, "stop declined alerts")
        reply = (await _messages(stack, grant, thread_id))[-1].body["text"]
        assert reply == "Declined card alerts are off."
        over = await bank.post(
            "/sandbox/simulate/purchase",
            headers=admin,
            json={
                "login": "alice",
                "merchant": "Best Buy",
                "amount": "99999.00",
                "account_id": _checking(stack).account_id,
            },
        )
        assert over.status_code == 402 and over.json()["code"] == "card_declined"
    await stack.container.drain()
    cards = [m for m in await _messages(stack, grant, thread_id) if m.kind is CardKind.DECLINED]
    assert len(cards) == 1  # declined again, but the person turned these alerts off


# --------------------------------------------------------------------------- international / online


async def test_a_foreign_purchase_alerts_once_and_shows_its_country(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    pending = await stack.bank.purchase("alice", merchant="Galeries Lafayette", amount="120.00")
    await stack.container.drain()
    await stack.bank.post(pending)
    await stack.container.drain()
    abroad = await _alerts(stack, grant, thread_id, alerts.ABROAD)
    assert len(abroad) == 1, "a purchase that posts must not alert twice"
    assert "International purchase" in abroad[0].body["text"] and "in France" in abroad[0].body["text"]
    txn = next(m for m in await _messages(stack, grant, thread_id) if m.kind is CardKind.TRANSACTION)
    assert txn.body["merchant_country"] == "FR" and txn.body["country_name"] == "France"
    assert txn.body["card_present"] is True
    assert plain_text(CardKind.TRANSACTION, txn.body).endswith(", in France")
    await stack.bank.purchase("alice", merchant="Starbucks", amount="4.10")  # at home: quiet
    await stack.container.drain()
    assert len(await _alerts(stack, grant, thread_id, alerts.ABROAD)) == 1


async def test_online_purchases_alert_only_when_asked_and_a_home_country_can_be_set(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await stack.bank.purchase("alice", merchant="Amazon", amount="23.99")
    await stack.container.drain()
    assert await _alerts(stack, grant, thread_id, alerts.ONLINE) == []  # off by default
    amazon = next(m for m in await _messages(stack, grant, thread_id) if m.kind is CardKind.TRANSACTION)
    assert amazon.body["card_present"] is False
    assert plain_text(CardKind.TRANSACTION, amazon.body).endswith(", online")

    await commands.handle_text(stack.deps, grant, thread_id, "turn on online alerts")
    await stack.bank.purchase("alice", merchant="Netflix", amount="15.49")
    await stack.container.drain()
    online = await _alerts(stack, grant, thread_id, alerts.ONLINE)
    assert len(online) == 1
    assert "Online purchase" in online[0].body["text"] and "Netflix" in online[0].body["text"]
    await commands.handle_text(stack.deps, grant, thread_id, "mute spotify")
    await stack.bank.purchase("alice", merchant="Spotify", amount="11.99")
    await stack.container.drain()
    assert len(await _alerts(stack, grant, thread_id, alerts.ONLINE)) == 1  # muted merchant

    await commands.handle_text(stack.deps, grant, thread_id, "my home country is France")
    reply = (await _messages(stack, grant, thread_id))[-1].body["text"]
    assert reply == "Done: purchases outside France count as international."
    await stack.bank.purchase("alice", merchant="Galeries Lafayette", amount="60.00")
    await stack.bank.purchase("alice", merchant="Trader Joe's", amount="31.00")
    await stack.container.drain()
    abroad = await _alerts(stack, grant, thread_id, alerts.ABROAD)
    assert [("Trader Joe's" in m.body["text"], "United States" in m.body["text"]) for m in abroad] == [
        (True, True)
    ]
    await commands.handle_text(stack.deps, grant, thread_id, "my home country is Atlantis")
    reply = (await _messages(stack, grant, thread_id))[-1].body["text"]
    assert reply.startswith("Enter a country as a two-letter code or a name")
    await commands.handle_text(stack.deps, grant, thread_id, "stop international alerts")
    await commands.handle_text(stack.deps, grant, thread_id, "my alerts")
    listing = (await _messages(stack, grant, thread_id))[-1].body["text"]
    assert "International purchases: off" in listing and "Online purchases: on" in listing
    assert "Declined cards: on" in listing


# --------------------------------------------------------------------------- connection needs attention


async def test_a_refused_refresh_token_asks_once_to_reconnect_and_reconnecting_keeps_the_ids(
    tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        link_id = (await messenger.list_threads(stack.deps, grant))[1].link_id
        assert link_id
        async with stack.deps.uow() as uow:
            accounts_before = sorted(a.id for a in await uow.accounts.for_person(grant.person_id))
        consent_id = next(iter(stack.bank.ledger.consents))
        stack.bank.invalidate_refresh_tokens(consent_id)  # the bank says nothing about it
        clock.advance(timedelta(hours=2))  # the access token expired: a refresh is needed
        for _ in range(2):
            await stack.container.scheduler.sync_all()
            await stack.container.drain()
        messages = await _messages(stack, grant, thread_id)
        attention = [m for m in messages if (m.subject_key or "").startswith("link:attention:")]
        assert len(attention) == 1, "one card per episode, however many syncs fail"
        card = attention[0].body
        assert card["text"].startswith("Sandbox Bank needs your attention")
        assert card["tone"] == "warning"
        assert card["actions"] == [{"label": "Reconnect", "href": f"/links/{link_id}/renew"}]
        assert (await messenger.list_threads(stack.deps, grant))[1].active  # the link is kept

        url = await links.start_link(stack.deps, grant, partner_id="", renews=link_id)
        async with httpx.AsyncClient(timeout=10.0) as browser:
            resp = await browser_consent(browser, url, login="alice")
        query = parse_qs(urlparse(resp.headers["location"]).query)
        assert (
            await links.complete_link(stack.deps, grant, state=query["state"][0], code=query["code"][0])
            == thread_id
        )
        await stack.container.drain()
        async with stack.deps.uow() as uow:
            assert sorted(a.id for a in await uow.accounts.for_person(grant.person_id)) == accounts_before
        messages = await _messages(stack, grant, thread_id)
        restored = [m for m in messages if (m.subject_key or "").startswith("link:restored:")]
        assert len(restored) == 1
        assert restored[0].body["text"] == "Connection to Sandbox Bank restored: updates arrive here again."
        assert restored[0].body["tone"] == "success"
        await stack.bank.purchase("alice", merchant="Lidl", amount="9.00")
        await stack.container.scheduler.sync_all()
        await stack.container.drain()
        messages = await _messages(stack, grant, thread_id)
        assert len([m for m in messages if (m.subject_key or "").startswith("link:restored:")]) == 1
        assert "Lidl" in [m.body.get("merchant") for m in messages if m.kind is CardKind.TRANSACTION]
        for m in (attention[0], restored[0]):
            assert preview_text(m.kind, m.body, "amount_hidden") == "You have a new message"


async def test_the_settings_page_switches_card_alerts_and_keeps_a_home_country(stack: Stack) -> None:
    await _linked(stack)
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url=stack.platform_url) as pat:
        await _sign_in(stack, pat, "pat")
        page = await pat.get("/settings/alerts")
        assert page.status_code == 200
        assert 'data-testid="toggle-online" data-state="off"' in page.text  # a switch that shows it
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        on = await pat.post(
            "/settings/alerts", data={"csrf": token, "action": "toggle", "kind": "online", "on": "1"}
        )
        assert on.status_code == 303
        form = {"csrf": token, "action": "home_country", "form": "home"}
        bad = await pat.post("/settings/alerts", data={**form, "country": "Narnia"})
        assert bad.status_code == 422 and 'data-testid="error-home"' in bad.text
        assert "two-letter code or a name" in bad.text
        saved = await pat.post("/settings/alerts", data={**form, "country": "de"})
        assert saved.status_code == 303
        page = await pat.get("/settings/alerts")
        assert 'data-testid="toggle-online" data-state="on"' in page.text
        assert 'value="DE"' in page.text
    grant = Grant.for_person(
        await messenger.authenticate(stack.deps, handle="pat", password="correct horse")
    )
    view = await rules.overview(stack.deps, grant)
    assert view.home == "DE" and view.on(alerts.ONLINE) and view.on(alerts.DECLINED)
