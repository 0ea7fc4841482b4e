"""Linking a shop as a bank is linked (issue 11, ADR 0031): OAuth 2 code + PKCE S256 at the
sandbox shop over real HTTP, a signed consent receipt, revoke from either side, renewal, and the
cursor-synced orders feed making up for a lost webhook (the receipt attaches exactly once)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_shop_receipts import _checkout, _shop, _signed, _txn_cards

from ledgerlink.domain.errors import DomainError, NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.receipts.merchant_sync import MerchantSync


async def _link_shop(stack: Stack, grant: Grant, *, login: str = "alice", renews: str | None = None) -> str:
    links = stack.container.merchant_links
    url = await links.start(grant, slug="acme", renews=renews)
    assert "code_challenge_method=S256" in url and "code_challenge=" in url
    async with httpx.AsyncClient(timeout=10.0) as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and "your parcels" in page.text
        resp = await browser.post(url, data={"customer": login, "password": "sandbox", "decision": "approve"})
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    return str(await links.complete(grant, state=query["state"][0], code=query["code"][0]))


async def _consent(stack: Stack, consent_id: str) -> Any:
    async with stack.deps.uow() as uow:
        return await uow.merchant_consents.get(consent_id)


async def _receipt_cards(stack: Stack, grant: Grant, thread_id: str) -> list[Any]:
    return [c for c in await _txn_cards(stack, grant, thread_id) if c.body.get("receipt")]


async def test_linking_a_shop_signs_a_consent_receipt_with_its_purposes_and_never_advertising(
        stack: Stack) -> None:
    grant, _ = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    consent = await _consent(stack, consent_id)
    assert consent.status == "active" and consent.scopes == "orders shipments"
    claims = stack.deps.receipts_jws.verify(consent.receipt_jws, stack.deps.signer.jwks(),
                                            now=stack.deps.clock.now())
    assert claims["merchant"] == {"slug": "acme", "name": "Acme Outfitters"}
    assert claims["scopes"] == ["orders", "shipments"] and claims["sub"] == grant.person_id
    assert "advertising" in claims["uses_prohibited"] and "sale" in claims["uses_prohibited"]
    assert not [p for p in claims["purposes_allowed"] if "advert" in p or "market" in p]
    assert claims["exp"] == int(consent.expires_at.timestamp())
    assert "access_token" not in json.dumps(claims) and "alice" not in json.dumps(claims)
    threads = await messenger.list_threads(stack.deps, grant)
    system = next(t for t in threads if t.kind.value == "system")
    texts = [m.body.get("text", "") for m in await messenger.thread_messages(stack.deps, grant, system.id)]
    assert any(t.startswith("Acme Outfitters is linked") and "Never used for advertising" in t for t in texts)
    assert await stack.container.merchant_links.receipt(grant, consent_id) == consent.receipt_jws
    with pytest.raises(DomainError) as replay:  # the same callback again links nothing
        await stack.container.merchant_links.complete(grant, state="not-a-state", code="x")
    assert replay.value.code == "unknown_link_state"


async def test_a_lost_webhook_is_made_up_by_the_sync_and_the_receipt_attaches_exactly_once(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    shop = _shop(stack)
    shop.drop_events = 1  # the order.placed webhook is lost on the way
    order, _ = await _checkout(stack)
    await stack.container.drain()
    assert shop.sent[-1]["status"] == "dropped"
    assert await _receipt_cards(stack, grant, thread_id) == []
    result = await stack.container.merchant_sync.sync(consent_id)
    await stack.container.drain()
    assert (result.applied, result.already, result.refused) == (1, 0, 0)
    cards = await _receipt_cards(stack, grant, thread_id)
    assert [c.body["receipt"]["order_ref"] for c in cards] == [order.order_ref]
    again = await stack.container.merchant_sync.sync(consent_id)  # nothing changed since the cursor
    assert (again.applied, again.already) == (0, 0)
    await shop.advance(order.order_ref)  # version 2 by webhook, delivered this time
    await stack.container.drain()
    assert shop.sent[-1]["status"] == 202
    after = await stack.container.merchant_sync.sync(consent_id)  # the feed has v2 too: applied once
    assert (after.applied, after.already) == (0, 1)
    cards = await _receipt_cards(stack, grant, thread_id)
    assert len(cards) == 1 and cards[0].body["receipt"]["shipment_status"] == "label_created"


async def test_a_webhook_of_a_version_the_sync_applied_first_changes_nothing(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    shop = _shop(stack)
    shop.drop_events = 1
    await _checkout(stack)
    await stack.container.merchant_sync.sync(consent_id)
    event = {k: v for k, v in shop.sent[-1].items() if k != "status"}  # the lost one, resent late
    body = json.dumps(event).encode()
    async with stack.client() as client:
        late = await client.post("/partners/merchants/acme/events", content=body,
                                 headers=_signed(stack, body, msg_id=f"msg_{secrets.token_hex(6)}"))
    assert late.status_code == 202 and late.json()["status"] == "already_applied", late.text
    assert len(await _receipt_cards(stack, grant, thread_id)) == 1


async def test_a_tampered_cursor_is_refused_by_the_shop_and_the_sync_reads_again_applying_nothing_twice(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    await _checkout(stack)  # its webhook arrives: applied once
    await stack.container.merchant_sync.sync(consent_id)
    consent = await _consent(stack, consent_id)
    body, _, mac = consent.cursor.partition(".")
    async with stack.deps.uow() as uow:  # someone edits the stored cursor to read further back
        await uow.merchant_consents.put(dataclasses.replace(consent, cursor=f"{body[:-3]}AAA.{mac}"))
        await uow.commit()
    result = await stack.container.merchant_sync.sync(consent_id)
    assert result.restarted is True and (result.applied, result.already) == (0, 1)
    assert len(await _receipt_cards(stack, grant, thread_id)) == 1
    assert (await _consent(stack, consent_id)).cursor != f"{body[:-3]}AAA.{mac}"


async def test_revoking_in_ledgerlink_ends_the_grant_at_the_shop_and_refuses_its_later_events(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    await stack.container.merchant_links.revoke(grant, consent_id)
    consent = await _consent(stack, consent_id)
    assert (consent.status, consent.ended_by, consent.sealed) == ("revoked", "person", None)
    grants = _shop(stack).auth.grants_of("alice")
    assert [(g.revoked_by is not None, g.revoked_by) for g in grants] == [(True, "client")]
    await _checkout(stack)  # the shop still sends its webhook: refused, nothing stored
    assert _shop(stack).sent[-1]["status"] == 403
    async with stack.deps.uow() as uow:
        assert await uow.shop_receipts.order("acme", _shop(stack).sent[-1]["data"]["order_id"]) is None
    assert await _receipt_cards(stack, grant, thread_id) == []
    with pytest.raises(NotFound):
        await stack.container.merchant_sync.sync(consent_id)
    with pytest.raises(DomainError) as twice:
        await stack.container.merchant_links.revoke(grant, consent_id)
    assert twice.value.code == "link_not_active"


async def test_the_shop_revoking_on_its_side_ends_the_link_here_by_a_signed_event(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    forged = json.dumps({"type": "link.revoked", "timestamp": datetime.now(UTC).isoformat(),
                         "data": {"customer_id": "alice"}}).encode()
    async with stack.client() as client:
        bad = await client.post("/partners/merchants/acme/events", content=forged, headers=_signed(
            stack, forged, msg_id="msg_forged", secret="whsec_" + "QUJD" * 8))
    assert (bad.status_code, bad.json()["code"]) == (401, "bad_signature")
    assert (await _consent(stack, consent_id)).status == "active"
    assert await _shop(stack).revoke_customer("alice") == 1
    assert _shop(stack).sent[-1]["status"] == 202
    consent = await _consent(stack, consent_id)
    assert (consent.status, consent.ended_by) == ("revoked", "shop")


async def test_renewing_keeps_the_link_and_its_cursor_and_an_order_of_someone_else_is_refused(
        stack: Stack) -> None:
    grant, _ = await _linked(stack)
    old_id = await _link_shop(stack, grant)
    await _checkout(stack)
    await stack.container.merchant_sync.sync(old_id)
    old = await _consent(stack, old_id)
    new_id = await _link_shop(stack, grant, renews=old_id)
    new, old_after = await _consent(stack, new_id), await _consent(stack, old_id)
    assert (old_after.status, new.status) == ("renewed", "active")
    assert (new.link_id, new.cursor) == (old.link_id, old.cursor)
    async with stack.deps.uow() as uow:
        link = await uow.merchant_consents.link(new.link_id)
    theirs = {"id": "ACME-9", "version": 1, "type": "order.placed",
              "data": {**_shop(stack).sent[0]["data"], "customer_id": "bob", "order_id": "ACME-9"}}
    with pytest.raises(NotFound) as refused:
        await stack.container.receipts.take_feed_order(link, theirs)
    assert refused.value.code == "unknown_order"


async def test_a_lost_refund_webhook_is_recovered_from_the_next_events_refunded_total(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    order, _ = await _checkout(stack)
    shop = _shop(stack)
    await shop.advance(order.order_ref)  # picked up: the charge is captured
    shop.drop_events = 1
    await shop.refund(order.order_ref, Decimal("9.99"))  # its refund.issued is lost
    await shop.advance(order.order_ref)  # in transit: this webhook arrives, refunded 9.99 in it
    await stack.container.drain()
    assert [e["status"] for e in shop.sent[-2:]] == ["dropped", 202]
    cards = await _receipt_cards(stack, grant, thread_id)
    assert len(cards) == 1
    assert cards[0].body["receipt"]["refund_text"] == f"refunded 9.99 of {order.total} USD"
    result = await stack.container.merchant_sync.sync(consent_id)  # the feed's v4 was applied already
    assert (result.applied, result.already) == (0, 1)
    cards = await _receipt_cards(stack, grant, thread_id)
    assert cards[0].body["receipt"]["refund_text"] == f"refunded 9.99 of {order.total} USD"


async def test_an_expired_shop_link_refuses_events_tells_the_person_and_can_be_renewed(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    consent = await _consent(stack, consent_id)
    past = stack.deps.clock.now() - timedelta(seconds=1)
    async with stack.deps.uow() as uow:  # the 90 days have passed
        await uow.merchant_consents.put(dataclasses.replace(consent, expires_at=past))
        await uow.commit()
    await _checkout(stack)
    assert _shop(stack).sent[-1]["status"] == 403  # link_expired: nothing stored
    assert await _receipt_cards(stack, grant, thread_id) == []
    listed = await stack.container.merchant_links.consents(grant)
    assert [(c["status"], c["renewable"]) for c in listed] == [("expired", True)]
    result = await stack.container.merchant_sync.sync(consent_id)
    assert result.ended == "expired" and (await _consent(stack, consent_id)).status == "expired"
    threads = await messenger.list_threads(stack.deps, grant)
    system = next(t for t in threads if t.kind.value == "system")
    texts = [m.body.get("text", "") for m in await messenger.thread_messages(stack.deps, grant, system.id)]
    assert any("link to Acme Outfitters has expired" in t for t in texts)
    assert await _receipt_cards(stack, grant, thread_id) == []
    renewed = await _link_shop(stack, grant, renews=consent_id)  # its first pull brings the order
    await stack.container.drain()
    assert len(await _receipt_cards(stack, grant, thread_id)) == 1
    again = await stack.container.merchant_sync.sync(renewed)
    assert (again.applied, again.already, again.refused) == (0, 0, 0)


async def test_two_callbacks_of_one_flow_at_once_link_once_and_the_shop_keeps_the_grant(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    links = stack.container.merchant_links
    url = await links.start(grant, slug="acme")
    async with httpx.AsyncClient(timeout=10.0) as browser:
        resp = await browser.post(url, data={"customer": "alice", "password": "sandbox",
                                             "decision": "approve"})
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    both = await asyncio.gather(*(links.complete(grant, state=query["state"][0], code=query["code"][0])
                                  for _ in range(2)), return_exceptions=True)
    done = [r for r in both if isinstance(r, str)]
    refused = [r for r in both if isinstance(r, DomainError)]
    assert len(done) == 1 and [e.code for e in refused] == ["link_already_complete"], both
    assert (await _consent(stack, done[0])).status == "active"
    assert [g.revoked_at for g in _shop(stack).auth.grants_of("alice")] == [None]  # no code replay


async def test_a_process_without_the_shop_configured_skips_its_links_and_syncs_the_others(
        stack: Stack) -> None:
    grant, _ = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    elsewhere = MerchantSync(stack.deps, stack.container.receipts, {}, {})
    with pytest.raises(NotFound) as missing:
        await elsewhere.sync(consent_id)
    assert missing.value.code == "shop_not_configured"
    assert await elsewhere.sync_all() == {}  # logged, and the run goes on
    assert (await _consent(stack, consent_id)).status == "active"
