"""Linking a shop as a person does it (issue 11, ADR 0031): "link a shop" in chat, the "Link a
shop" entry next to "Link a bank", the round trip through the shop's consent page back to the
messenger, and revoking it there."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.conftest import Stack
from tests.integration.test_channel_pages import _csrf, _signed_in
from tests.integration.test_linking_flow import _linked
from tests.integration.test_merchant_link import _consent, _link_shop, _shop

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands


async def _last(stack: Stack, grant: Grant, thread_id: str) -> dict[str, Any]:
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    return dict([m for m in messages if m.kind is CardKind.TEXT][-1].body)


async def test_link_a_shop_in_chat_answers_what_it_shares_with_the_button_into_the_flow(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    for said in ("link a shop", "Connect my store please", "how do I link a shop?"):
        await commands.handle_text(stack.deps, grant, thread_id, said)
        body = await _last(stack, grant, thread_id)
        assert body["text"].startswith("Link a shop you buy from"), said
        assert "never for advertising" in body["text"]
        assert body["actions"] == [{"label": "Link a shop", "href": "/link/shop"}]


async def test_the_web_round_trip_links_the_shop_and_revoke_on_the_same_page_ends_it(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.platform_url, timeout=10.0) as http:
        await _signed_in(stack, http, "sam")
        home = await http.get("/")
        assert 'href="/link/shop"' in home.text and "Link a shop" in home.text
        assert 'href="/link/shop"' in (await http.get("/settings")).text
        page = await http.get("/link/shop")
        assert page.status_code == 200 and 'data-testid="shop-acme"' in page.text
        start = await http.post("/link/shop", data={"csrf": _csrf(page.text), "shop": "acme"})
        assert start.status_code == 303
        authorize = start.headers["location"]
        assert "/sandbox/shop/oauth/authorize?" in authorize and "code_challenge_method=S256" in authorize
        async with httpx.AsyncClient(timeout=10.0) as browser:  # at the shop, without our session
            back = await browser.post(authorize, data={"customer": "alice", "password": "sandbox",
                                                       "decision": "approve"})
        assert back.status_code == 302
        callback = back.headers["location"]
        assert urlsplit(callback).path == "/link/shop/callback"
        done = await http.get(callback)
        assert (done.status_code, done.headers["location"]) == (303, "/link/shop?linked=1")
        listed = await http.get("/link/shop")
        assert 'data-state="active"' in listed.text and "Consent receipt" in listed.text
        replay = await http.get(callback)  # the same redirect again links nothing more
        assert replay.status_code == 400 and "already complete" in replay.text
        consent_id = listed.text.split('data-testid="revoke-', 1)[1].split('"', 1)[0]
        receipt = await http.get(f"/link/shop/{consent_id}/receipt.jws")
        assert receipt.status_code == 200 and receipt.text.count(".") == 2
        revoked = await http.post(f"/link/shop/{consent_id}/revoke", data={"csrf": _csrf(listed.text)})
        assert revoked.status_code == 200 and 'data-state="revoked"' in revoked.text
    async with httpx.AsyncClient(base_url=stack.platform_url, timeout=10.0) as other:
        await _signed_in(stack, other, "eve")
        theirs = await other.get(f"/link/shop/{consent_id}/receipt.jws")
        assert theirs.status_code == 404


async def test_denying_at_the_shop_links_nothing_and_says_so(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.platform_url, timeout=10.0) as http:
        await _signed_in(stack, http, "dee")
        page = await http.get("/link/shop")
        start = await http.post("/link/shop", data={"csrf": _csrf(page.text), "shop": "acme"})
        async with httpx.AsyncClient(timeout=10.0) as browser:
            back = await browser.post(start.headers["location"], data={"decision": "deny"})
        query = parse_qs(urlsplit(back.headers["location"]).query)
        assert query["error"] == ["access_denied"]
        denied = await http.get(back.headers["location"])
        assert denied.status_code == 400 and "did not approve" in denied.text
        unknown = await http.post("/link/shop", data={"csrf": _csrf(page.text), "shop": "nope"})
        assert unknown.status_code == 400 and "choose one of the shops" in unknown.text
        assert 'data-testid="shop-consents"' not in (await http.get("/link/shop")).text


async def test_unlink_my_shop_in_chat_revokes_it_at_the_shop_and_here(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await commands.handle_text(stack.deps, grant, thread_id, "unlink my shop")
    assert (await _last(stack, grant, thread_id))["text"] == "You have no shop linked."
    consent_id = await _link_shop(stack, grant)
    await commands.handle_text(stack.deps, grant, thread_id, "unlink the ikea shop")
    assert (await _last(stack, grant, thread_id))["text"] == (
        "No linked shop is called that. Your linked shops: Acme Outfitters.")
    assert (await _consent(stack, consent_id)).status == "active"
    await commands.handle_text(stack.deps, grant, thread_id, "revoke the acme shop link")
    assert (await _last(stack, grant, thread_id))["text"].startswith("Acme Outfitters is unlinked")
    assert (await _consent(stack, consent_id)).status == "revoked"
    assert [g.revoked_by for g in _shop(stack).auth.grants_of("alice")] == ["client"]


@pytest.mark.parametrize(("slug", "name", "path"), [("harbor", "Harbor Market", "/sandbox/market"),
                                                    ("bistro", "Harbor Bistro", "/sandbox/bistro")])
async def test_the_marketplace_and_the_restaurant_link_like_the_shop(
        stack: Stack, slug: str, name: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=stack.platform_url, timeout=10.0) as http:
        await _signed_in(stack, http, f"pat{slug}")
        page = await http.get("/link/shop")
        assert f'data-testid="shop-{slug}"' in page.text and name in page.text
        start = await http.post("/link/shop", data={"csrf": _csrf(page.text), "shop": slug})
        assert start.status_code == 303
        authorize = start.headers["location"]
        assert f"{path}/oauth/authorize?" in authorize and "code_challenge_method=S256" in authorize
        async with httpx.AsyncClient(timeout=10.0) as browser:
            back = await browser.post(authorize, data={"customer": "alice", "password": "sandbox",
                                                       "decision": "approve"})
        assert back.status_code == 302, back.text
        done = await http.get(back.headers["location"])
        assert (done.status_code, done.headers["location"]) == (303, "/link/shop?linked=1")
        listed = await http.get("/link/shop")
        assert 'data-state="active"' in listed.text and name in listed.text
