"""The sandbox bank over real HTTP on 127.0.0.1: OAuth refusals, data API, portal, event push."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledgerlink.domain.clock import Clock, FrozenClock, SystemClock
from ledgerlink.sandbox import OAuthClientConfig, SandboxBank, SandboxConfig, create_sandbox_app
from ledgerlink.sandbox.testing import bind_loopback, browser_consent, serve
from ledgerlink.services.ingest.wire import parse_balance, parse_transaction

CLIENT, SECRET = "ledgerlink", "client-secret-for-tests"
REDIRECT = "http://127.0.0.1:8000/link/callback"
WHSEC = "whsec_" + base64.b64encode(b"sandbox-webhook-secret-32-bytes!").decode()
ADMIN = "admin-token-for-tests"


@dataclass
class Sandbox:
    url: str
    bank: SandboxBank
    http: httpx.AsyncClient
    clock: Clock


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # scripted answers, then 204
    received: list[tuple[bytes, dict[str, str], int]] = field(default_factory=list)


StartSandbox = Callable[..., Any]


@pytest.fixture
async def start_sandbox() -> AsyncIterator[StartSandbox]:
    stack: list[Any] = []

    async def start(clock: Clock | None = None, **overrides: Any) -> Sandbox:
        sock, url = bind_loopback()
        settings: dict[str, Any] = {"seed": 42, "simulate": False,
                                    "webhook_backoff_base_seconds": 0.02, **overrides}
        config = SandboxConfig(
            public_url=url, admin_token=ADMIN, clock=clock or SystemClock(),
            clients=[OAuthClientConfig(client_id=CLIENT, client_secret=SECRET,
                                       redirect_uris=[REDIRECT], webhook_secret=WHSEC)],
            **settings)
        app = create_sandbox_app(config)
        ctx = serve(app, sock)
        await ctx.__aenter__()
        stack.append(ctx)
        http = httpx.AsyncClient(base_url=url, timeout=10)
        stack.append(http)
        return Sandbox(url, app.state.bank, http, config.clock)

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.AsyncClient):
            await item.aclose()
        else:
            await item.__aexit__(None, None, None)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    sock, url = bind_loopback()
    rec = Receiver(url + "/hooks")

    async def hook(request: Request) -> Response:
        status = rec.statuses.pop(0) if rec.statuses else 204
        rec.received.append((await request.body(), dict(request.headers), status))
        return Response(status_code=status, headers={"retry-after": "0"} if status == 429 else None)

    async with serve(Starlette(routes=[Route("/hooks", hook, methods=["POST"])]), sock):
        yield rec


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def authorize_url(sb: Sandbox, challenge: str | None, *, method: str | None = "S256",
                  scope: str = "balances transactions alerts", client_id: str = CLIENT,
                  redirect_uri: str = REDIRECT, state: str = "st-1") -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": scope, "state": state}
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    return f"{sb.url}/oauth/authorize?{urlencode(params)}"


def query_of(resp: httpx.Response) -> dict[str, str]:
    assert resp.status_code == 302, resp.text
    location = resp.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


async def get_code(sb: Sandbox, *, login: str = "alice", accounts: list[str] | None = None,
                   scope: str = "balances transactions alerts") -> tuple[str, str]:
    verifier, challenge = pkce()
    async with httpx.AsyncClient() as browser:
        resp = await browser_consent(browser, authorize_url(sb, challenge, scope=scope),
                                     login=login, accounts=accounts)
    q = query_of(resp)
    assert q["state"] == "st-1"
    return q["code"], verifier


async def token(sb: Sandbox, **form: str) -> httpx.Response:
    return await sb.http.post("/oauth/token", data=form, auth=(CLIENT, SECRET))


async def link(sb: Sandbox, **kw: Any) -> dict[str, Any]:
    code, verifier = await get_code(sb, **kw)
    resp = await token(sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                       code_verifier=verifier)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def bearer(tok: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {tok['access_token']}"}


# ---------------------------------------------------------------------- OAuth


async def test_metadata_advertises_pkce_s256_only(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    meta = (await sb.http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == sb.url
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint"] == f"{sb.url}/oauth/token"
    assert set(meta["scopes_supported"]) == {"balances", "transactions", "alerts"}


async def test_approved_consent_issues_tokens_with_consent_fields(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    code, verifier = await get_code(sb)
    resp = await sb.http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier, "client_id": CLIENT, "client_secret": SECRET})  # _post
    assert resp.status_code == 200, resp.text
    tok = resp.json()
    assert tok["token_type"] == "Bearer" and tok["refresh_token"]
    assert tok["scope"] == "balances transactions alerts"
    expires = datetime.fromisoformat(tok["consent_expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    assert tok["consent_id"] in sb.bank.ledger.consents


async def test_plain_pkce_is_refused(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    verifier = secrets.token_urlsafe(48)
    async with httpx.AsyncClient() as browser:
        resp = await browser.get(authorize_url(sb, verifier, method="plain"))
    q = query_of(resp)
    assert q["error"] == "invalid_request" and q["state"] == "st-1"


@pytest.mark.parametrize("method", [None, "S256"])
async def test_a_missing_challenge_is_refused(start_sandbox: StartSandbox, method: str | None) -> None:
    sb = await start_sandbox()
    async with httpx.AsyncClient() as browser:
        resp = await browser.get(authorize_url(sb, None, method=method))
    assert query_of(resp)["error"] == "invalid_request"


async def test_a_challenge_without_method_is_refused(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    _, challenge = pkce()
    async with httpx.AsyncClient() as browser:
        resp = await browser.get(authorize_url(sb, challenge, method=None))
    assert query_of(resp)["error"] == "invalid_request"


@pytest.mark.parametrize(("client_id", "redirect_uri"), [
    ("nobody", REDIRECT),
    (CLIENT, "http://127.0.0.1:8000/link/callback/evil"),
    (CLIENT, "http://attacker.example/cb"),
])
async def test_bad_client_or_redirect_is_an_error_page_never_a_redirect(
        start_sandbox: StartSandbox, client_id: str, redirect_uri: str) -> None:
    sb = await start_sandbox()
    _, challenge = pkce()
    async with httpx.AsyncClient() as browser:
        resp = await browser.get(authorize_url(sb, challenge, client_id=client_id,
                                               redirect_uri=redirect_uri))
    assert resp.status_code == 400
    assert "location" not in resp.headers
    assert resp.headers["content-type"].startswith("text/html")
    assert "cannot continue" in resp.text


async def test_deny_redirects_with_access_denied(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    _, challenge = pkce()
    async with httpx.AsyncClient() as browser:
        resp = await browser_consent(browser, authorize_url(sb, challenge), login="bob",
                                     decision="deny")
    q = query_of(resp)
    assert q["error"] == "access_denied" and q["state"] == "st-1" and "code" not in q


async def test_wrong_password_stays_on_the_login_page(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    _, challenge = pkce()
    async with httpx.AsyncClient() as browser:
        resp = await browser_consent(browser, authorize_url(sb, challenge), login="alice",
                                     password="wrong")
    assert resp.status_code == 401 and "do not match" in resp.text


async def test_wrong_verifier_is_invalid_grant(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    code, _ = await get_code(sb)
    resp = await token(sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                       code_verifier=secrets.token_urlsafe(48))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


async def test_a_missing_verifier_is_refused(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    code, _ = await get_code(sb)
    resp = await token(sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


async def test_a_reused_code_is_refused_and_revokes_what_it_gave(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    code, verifier = await get_code(sb)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}
    first = await token(sb, **form)
    assert first.status_code == 200
    second = await token(sb, **form)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    resp = await sb.http.get("/open-banking/v1/accounts", headers=bearer(first.json()))
    assert resp.status_code == 401


async def test_a_code_older_than_sixty_seconds_is_refused(start_sandbox: StartSandbox) -> None:
    clock = FrozenClock(datetime.now(UTC))
    sb = await start_sandbox(clock=clock)
    code, verifier = await get_code(sb)
    clock.advance(timedelta(seconds=61))
    resp = await token(sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                       code_verifier=verifier)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


async def test_a_different_redirect_uri_at_the_token_endpoint_is_refused(
        start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    code, verifier = await get_code(sb)
    resp = await token(sb, grant_type="authorization_code", code=code, code_verifier=verifier,
                       redirect_uri="http://127.0.0.1:8000/other")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


async def test_a_wrong_client_secret_is_invalid_client(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    code, verifier = await get_code(sb)
    resp = await sb.http.post("/oauth/token", auth=(CLIENT, "nope"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier})
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


async def test_refresh_rotates_and_revoke_ends_the_consent(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    tok = await link(sb)
    fresh = (await token(sb, grant_type="refresh_token", refresh_token=tok["refresh_token"]))
    assert fresh.status_code == 200
    new = fresh.json()
    assert new["refresh_token"] != tok["refresh_token"] and new["consent_id"] == tok["consent_id"]
    replay = await token(sb, grant_type="refresh_token", refresh_token=tok["refresh_token"])
    assert replay.json()["error"] == "invalid_grant"
    assert (await sb.http.get("/open-banking/v1/accounts", headers=bearer(new))).status_code == 200
    revoked = await sb.http.post("/oauth/revoke", auth=(CLIENT, SECRET),
                                 data={"token": new["refresh_token"]})
    assert revoked.status_code == 200
    resp = await sb.http.get("/open-banking/v1/accounts", headers=bearer(new))
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] in ("invalid_token", "consent_revoked")


async def test_expired_access_token_is_401_token_expired(start_sandbox: StartSandbox) -> None:
    clock = FrozenClock(datetime.now(UTC))
    sb = await start_sandbox(clock=clock)
    tok = await link(sb)
    clock.advance(timedelta(seconds=tok["expires_in"] + 1))
    resp = await sb.http.get("/open-banking/v1/accounts", headers=bearer(tok))
    assert resp.status_code == 401 and resp.json()["code"] == "token_expired"


# ---------------------------------------------------------------------- data API


async def test_data_api_is_scoped_to_the_selected_accounts(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    accounts = sb.bank.accounts_of("alice")
    checking = next(a for a in accounts if a.type == "checking")
    savings = next(a for a in accounts if a.type == "savings")
    tok = await link(sb, accounts=[checking.account_id])
    listed = (await sb.http.get("/open-banking/v1/accounts", headers=bearer(tok))).json()
    assert listed == {"accounts": [{"account_id": checking.account_id, "name": checking.name,
                                    "type": "checking", "currency": "USD",
                                    "mask": checking.number[-4:]}]}
    ok = await sb.http.get(f"/open-banking/v1/accounts/{checking.account_id}/balances",
                           headers=bearer(tok))
    assert parse_balance(ok.json()).bank_account_id == checking.account_id
    other = await sb.http.get(f"/open-banking/v1/accounts/{savings.account_id}/balances",
                              headers=bearer(tok))
    assert other.status_code == 404 and other.json()["code"] == "account_not_found"


async def test_a_missing_scope_is_403(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    tok = await link(sb, scope="balances")
    acc = sb.bank.accounts_of("alice")[0].account_id
    resp = await sb.http.post("/open-banking/v1/transactions/sync", headers=bearer(tok),
                              json={"account_id": acc, "cursor": None, "count": 10})
    assert resp.status_code == 403 and resp.json()["code"] == "insufficient_scope"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
async def test_a_bad_token_is_a_401_problem(start_sandbox: StartSandbox, header: str | None) -> None:
    sb = await start_sandbox()
    resp = await sb.http.get("/open-banking/v1/accounts",
                             headers={"authorization": header} if header else {})
    assert resp.status_code == 401
    problem = resp.json()
    assert problem["status"] == 401 and problem["code"] in ("token_missing", "invalid_token")


async def test_sync_shows_pending_then_posted_lineage(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    tok = await link(sb)
    acc = next(a for a in sb.bank.accounts_of("alice") if a.type == "checking").account_id

    async def sync(cursor: str | None) -> dict[str, Any]:
        resp = await sb.http.post("/open-banking/v1/transactions/sync", headers=bearer(tok),
                                  json={"account_id": acc, "cursor": cursor, "count": 500})
        assert resp.status_code == 200, resp.text
        page: dict[str, Any] = resp.json()
        for txn in page["added"] + page["modified"]:
            parse_transaction(txn)
        return page

    first = await sync(None)
    assert first["added"] and all(t["status"] == "posted" for t in first["added"])
    pending_id = await sb.bank.purchase("alice", account_id=acc, merchant="Starbucks",
                                        amount="4.85")
    page = await sync(first["next_cursor"])
    assert [(t["transaction_id"], t["status"], t["amount"], t["mcc"]) for t in page["added"]] == [
        (pending_id, "pending", "-4.85", "5814")]
    posted_id = await sb.bank.post(pending_id)
    page = await sync(page["next_cursor"])
    assert [(t["transaction_id"], t["pending_transaction_id"]) for t in page["added"]] == [
        (posted_id, pending_id)]
    assert page["removed"] == [{"transaction_id": pending_id}]
    assert (await sync(page["next_cursor"]))["added"] == []


async def test_simulate_endpoints_need_the_admin_token(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox()
    body = {"login": "bob", "merchant": "Lidl", "amount": "23.10"}
    assert (await sb.http.post("/sandbox/simulate/purchase", json=body)).status_code == 401
    admin = {"authorization": f"Bearer {ADMIN}"}
    made = await sb.http.post("/sandbox/simulate/purchase", json=body, headers=admin)
    assert made.status_code == 201
    pending = made.json()["transaction"]
    assert pending["status"] == "pending" and pending["currency"] == "EUR"
    posted = await sb.http.post("/sandbox/simulate/post", headers=admin, json={
        "transaction_id": pending["transaction_id"], "final_amount": "25.00"})
    assert posted.json()["transaction"]["amount"] == "-25.00"
    again = await sb.http.post("/sandbox/simulate/post", headers=admin,
                               json={"transaction_id": pending["transaction_id"]})
    assert again.status_code == 409 and again.json()["code"] == "not_pending"
    for kind, extra in (("deposit", {"login": "bob"}), ("fee", {"login": "bob"}),
                        ("refund", {"transaction_id": posted.json()["transaction_id"]})):
        resp = await sb.http.post(f"/sandbox/simulate/{kind}", headers=admin, json=extra)
        assert resp.status_code == 201, resp.text
    bad = await sb.http.post("/sandbox/simulate/purchase", headers=admin,
                             json={"login": "bob", "amount": "1.234"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"


# ---------------------------------------------------------------------- portal and push


async def _subscribe(sb: Sandbox, tok: dict[str, Any], url: str) -> str:
    resp = await sb.http.post("/open-banking/v1/event-subscriptions", headers=bearer(tok),
                              json={"url": url})
    assert resp.status_code == 201, resp.text
    sub_id: str = resp.json()["subscription_id"]
    return sub_id


async def _drain(sb: Sandbox) -> None:
    async with asyncio.timeout(10):
        await sb.bank.webhooks.drain()


def _verified(rec: Receiver) -> list[dict[str, Any]]:
    return [Webhook(WHSEC).verify(body, headers) for body, headers, _ in rec.received]


async def test_events_are_pushed_signed_and_in_order(start_sandbox: StartSandbox,
                                                     receiver: Receiver) -> None:
    sb = await start_sandbox()
    tok = await link(sb)
    await _subscribe(sb, tok, receiver.url)
    acc = next(a for a in sb.bank.accounts_of("alice") if a.type == "checking").account_id
    pending_id = await sb.bank.purchase("alice", account_id=acc, merchant="Olive Garden",
                                        amount="40.00")
    posted_id = await sb.bank.post(pending_id, final_amount="47.20")
    await _drain(sb)
    events = _verified(receiver)
    assert [e["type"] for e in events] == ["transaction.updated", "balance.updated"] * 2
    for _, headers, _ in receiver.received:
        assert headers["content-type"] == "application/json" and headers["webhook-id"]
    first, _, second, balance = events
    assert first["data"]["transaction"]["transaction_id"] == pending_id
    assert second["data"]["transaction"]["transaction_id"] == posted_id
    assert second["data"]["transaction"]["pending_transaction_id"] == pending_id
    assert second["data"]["consent_id"] == tok["consent_id"]
    parse_transaction(second["data"]["transaction"])
    parse_balance(balance["data"]["balance"])


async def test_delivery_retries_after_500_and_429_then_succeeds(start_sandbox: StartSandbox,
                                                                receiver: Receiver) -> None:
    sb = await start_sandbox()
    tok = await link(sb, scope="transactions")
    await _subscribe(sb, tok, receiver.url)
    receiver.statuses = [500, 429, 503]
    await sb.bank.deposit("alice", amount="100.00")
    await _drain(sb)
    assert [status for _, _, status in receiver.received] == [500, 429, 503, 204]
    ids = {headers["webhook-id"] for _, headers, _ in receiver.received}
    assert len(ids) == 1  # the same message, retried
    (record,) = sb.bank.webhooks.records
    assert record.status == "delivered" and record.attempts == 4


async def test_a_409_counts_as_delivered_and_a_410_disables(start_sandbox: StartSandbox,
                                                            receiver: Receiver) -> None:
    sb = await start_sandbox()
    tok = await link(sb, scope="transactions")
    await _subscribe(sb, tok, receiver.url)
    receiver.statuses = [409]
    await sb.bank.fee("alice")
    await _drain(sb)
    assert sb.bank.webhooks.records[-1].status == "delivered"
    receiver.statuses = [410]
    await sb.bank.fee("alice")
    await sb.bank.fee("alice")
    await _drain(sb)
    assert [r.status for r in sb.bank.webhooks.records] == ["delivered", "gone", "gone"]
    assert len(receiver.received) == 2


async def test_a_bounded_number_of_attempts(start_sandbox: StartSandbox,
                                            receiver: Receiver) -> None:
    sb = await start_sandbox(webhook_max_attempts=3)
    tok = await link(sb, scope="transactions")
    await _subscribe(sb, tok, receiver.url)
    receiver.statuses = [500] * 10
    await sb.bank.fee("alice")
    await _drain(sb)
    assert len(receiver.received) == 3 and sb.bank.webhooks.records[0].status == "failed"


async def test_portal_revoke_kills_tokens_and_pushes_consent_revoked(
        start_sandbox: StartSandbox, receiver: Receiver) -> None:
    sb = await start_sandbox()
    tok = await link(sb)
    await _subscribe(sb, tok, receiver.url)
    async with httpx.AsyncClient(base_url=sb.url) as browser:
        login = await browser.post("/login", data={"login": "alice", "password": "sandbox",
                                                   "next": "/portal"})
        assert login.status_code == 303 and "sbx_session" in login.cookies
        portal = await browser.get("/portal")
        assert "Connected apps" in portal.text and "Revoke" in portal.text
        csrf = portal.text.split('name="csrf" value="')[1].split('"')[0]
        done = await browser.post(f"/portal/consents/{tok['consent_id']}/revoke",
                                  data={"csrf": csrf})
        assert done.status_code == 303
        assert "revoked" in (await browser.get("/portal")).text
    resp = await sb.http.get("/open-banking/v1/accounts", headers=bearer(tok))
    assert resp.status_code == 401
    await _drain(sb)
    (event,) = _verified(receiver)
    assert event["type"] == "consent.revoked"
    assert event["data"]["consent_id"] == tok["consent_id"] and event["data"]["revoked_at"]
    await sb.bank.fee("alice")  # nothing more flows to a revoked consent
    await _drain(sb)
    assert len(receiver.received) == 1


async def test_client_revocation_does_not_echo_consent_revoked(start_sandbox: StartSandbox,
                                                              receiver: Receiver) -> None:
    sb = await start_sandbox()
    tok = await link(sb)
    await _subscribe(sb, tok, receiver.url)
    await sb.http.post("/oauth/revoke", auth=(CLIENT, SECRET), data={"token": tok["access_token"]})
    await _drain(sb)
    assert receiver.received == []
    assert sb.bank.ledger.consents[tok["consent_id"]].revoked_by == "client"


async def test_the_simulator_lives_in_the_lifespan(start_sandbox: StartSandbox) -> None:
    sb = await start_sandbox(simulate=True, simulate_interval_seconds=0.02, speed=2.0)
    before = len(sb.bank.ledger.txns)
    for _ in range(250):
        if sb.bank.simulator.steps >= 10:
            break
        await asyncio.sleep(0.02)
    assert len(sb.bank.ledger.txns) > before
    login = await sb.http.get("/portal", follow_redirects=True)
    assert login.status_code == 200 and "Sign in to online banking" in login.text
