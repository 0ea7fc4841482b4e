"""The sandbox shop's authorization server (code + PKCE S256, Authlib) and its cursor-synced
orders API (issue 11, ADR 0031), over ASGI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox.merchant import ShopConfig, create_shop_app
from ledgerlink.sandbox.merchant._oauth import ShopClient

REDIRECT = "http://127.0.0.1:9/link/shop/callback"
CLIENT = ShopClient("ledgerlink", "s3cret-" + "x" * 20, (REDIRECT,))


def _app() -> Any:
    n = iter(range(1, 1000))

    async def pay(login: str, **_: Any) -> str:
        return f"txn_{next(n)}"

    return create_shop_app(ShopConfig(clock=FrozenClock(datetime(2026, 11, 2, 12, tzinfo=UTC)), pay=pay,
                                      oauth_clients=[CLIENT]))


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


async def _token(shop: httpx.AsyncClient, *, customer: str = "alice", verifier: str | None = None,
                 method: str = "S256") -> httpx.Response:
    mine = generate_token(64)
    url = prepare_grant_uri("/oauth/authorize", CLIENT.client_id, "code", redirect_uri=REDIRECT,
                            scope="orders shipments", state="st4te",
                            code_challenge=create_s256_code_challenge(mine), code_challenge_method=method)
    page = await shop.get(url)
    assert page.status_code == 200 and "your parcels" in page.text
    decided = await shop.post(url, data={"customer": customer, "password": "sandbox", "decision": "approve"})
    assert decided.status_code == 302, decided.text
    query = parse_qs(urlsplit(decided.headers["location"]).query)
    assert query["state"] == ["st4te"]
    return await shop.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT,
        "code_verifier": verifier or mine}, auth=(CLIENT.client_id, CLIENT.client_secret))


async def _buy(app: Any, customer: str = "alice") -> str:
    shop = app.state.shop
    shop.add_to_cart(customer, "CAP-1")
    order = await shop.checkout(customer, account_id="acc", card_last4="2760")
    return str(order.order_ref)


async def test_the_code_flow_with_pkce_gives_a_token_that_reads_only_its_customers_orders() -> None:
    app = _app()
    async with _client(app) as shop:
        token = (await _token(shop)).json()
        assert token["customer_id"] == "alice" and token["scope"] == "orders shipments"
        mine, _ = await _buy(app), await _buy(app, "bob")
        resp = await shop.get("/orders", headers={"authorization": f"Bearer {token['access_token']}"})
        assert resp.status_code == 200
        assert [o["id"] for o in resp.json()["orders"]] == [mine]
        assert resp.json()["orders"][0]["version"] == 1


async def test_a_wrong_code_verifier_and_a_missing_challenge_get_no_token() -> None:
    async with _client(_app()) as shop:
        wrong = await _token(shop, verifier=generate_token(64))
        assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
        plain = await shop.get(prepare_grant_uri("/oauth/authorize", CLIENT.client_id, "code",
                                                 redirect_uri=REDIRECT, scope="orders", state="s"))
        assert plain.status_code == 302 and "error=invalid_request" in plain.headers["location"]


async def test_the_feed_pages_in_a_stable_order_and_refuses_a_tampered_cursor() -> None:
    app = _app()
    async with _client(app) as shop:
        bearer = {"authorization": f"Bearer {(await _token(shop)).json()['access_token']}"}
        refs = [await _buy(app) for _ in range(3)]
        await app.state.shop.advance(refs[0])  # changed last: now the newest change
        first = (await shop.get("/orders?limit=2", headers=bearer)).json()
        assert [o["id"] for o in first["orders"]] == refs[1:3] and first["has_more"] is True
        rest = (await shop.get(f"/orders?limit=2&cursor={first['next_cursor']}", headers=bearer)).json()
        assert [(o["id"], o["version"]) for o in rest["orders"]] == [(refs[0], 2)]
        assert rest["has_more"] is False
        done = (await shop.get(f"/orders?cursor={rest['next_cursor']}", headers=bearer)).json()
        assert done["orders"] == [] and done["next_cursor"] == rest["next_cursor"]
        body, _, mac = first["next_cursor"].partition(".")
        tampered = await shop.get(f"/orders?cursor={body[:-2]}AA.{mac}", headers=bearer)
        assert (tampered.status_code, tampered.json()["code"]) == (400, "bad_cursor")
        too_many = await shop.get("/orders?limit=1000", headers=bearer)
        assert (too_many.status_code, too_many.json()["code"]) == (400, "bad_limit")


async def test_a_cursor_of_another_customer_and_a_revoked_token_are_refused() -> None:
    app = _app()
    async with _client(app) as shop:
        alice = (await _token(shop)).json()
        bob = (await _token(shop, customer="bob")).json()
        await _buy(app)
        theirs = (await shop.get("/orders", headers={"authorization": f"Bearer {alice['access_token']}"}))
        stolen = await shop.get(f"/orders?cursor={theirs.json()['next_cursor']}",
                                headers={"authorization": f"Bearer {bob['access_token']}"})
        assert (stolen.status_code, stolen.json()["code"]) == (400, "bad_cursor")
        revoked = await shop.post("/oauth/revoke", data={"token": alice["refresh_token"]},
                                  auth=(CLIENT.client_id, CLIENT.client_secret))
        assert revoked.status_code == 200
        after = await shop.get("/orders", headers={"authorization": f"Bearer {alice['access_token']}"})
        assert (after.status_code, after.json()["code"]) == (401, "grant_revoked")
        assert await app.state.shop.revoke_customer("bob") == 1
        assert app.state.shop.sent[-1]["type"] == "link.revoked"
