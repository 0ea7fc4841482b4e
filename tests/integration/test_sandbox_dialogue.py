"""The bank side of docs/bank-dialogue.md, over real HTTP on 127.0.0.1: the sandbox bank alone,
and a tiny platform stand-in that publishes its JWKS, receives the pushed events and verifies
every message the bank posts against the bank's published JWKS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import KeySet, OKPKey
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox import OAuthClientConfig, SandboxBank, SandboxConfig, create_sandbox_app
from ledgerlink.sandbox._model import Problem
from ledgerlink.sandbox.testing import bind_loopback, browser_consent, serve

CLIENT, SECRET = "ledgerlink", "client-secret-for-tests"
REDIRECT = "http://127.0.0.1:8000/link/callback"
WHSEC = "whsec_" + base64.b64encode(b"sandbox-webhook-secret-32-bytes!").decode()
ADMIN = "admin-token-for-tests"
API_KEY = "partner-api-key-for-tests"
REQUEST_TYP = "ledgerlink-request+jwt"


def _eddsa_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"use": "sig", "alg": "EdDSA"},
                               auto_kid=True)


def _sign(key: OKPKey, claims: dict[str, Any], *, typ: str = REQUEST_TYP) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jws.serialize_compact({"alg": "EdDSA", "kid": key.kid, "typ": typ},
                                     json.dumps(claims).encode(), key, algorithms=["EdDSA"])


# ---------------------------------------------------------------------- the platform stand-in


@dataclass
class Platform:
    url: str
    keys: list[OKPKey]
    http: httpx.AsyncClient
    clock: FrozenClock  # the banks' clock too: time moves for both sides together
    banks: set[str] = field(default_factory=set)  # issuers whose messages it accepts
    statuses: list[int] = field(default_factory=list)  # scripted answers to messages, then 201
    messages: list[dict[str, Any]] = field(default_factory=list)  # verified claims + header
    refused: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    jwks_fetches: int = 0

    @property
    def key(self) -> OKPKey:
        return self.keys[0]

    @property
    def messages_url(self) -> str:
        return f"{self.url}/partner-api/v1/messages"


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    sock, url = bind_loopback()
    async with httpx.AsyncClient(timeout=10) as http:
        plat = Platform(url, [_eddsa_key()], http, FrozenClock(datetime.now(UTC).replace(microsecond=0)))

        async def jwks(_: Request) -> Response:
            plat.jwks_fetches += 1
            return JSONResponse({"keys": [k.as_dict(private=False) for k in plat.keys]})

        async def message(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {API_KEY}":
                plat.refused.append("partner_key_invalid")
                return JSONResponse({"code": "partner_key_invalid"}, status_code=401)
            assert request.headers["content-type"] == "application/jose"
            token = (await request.body()).decode()
            try:
                header, claims = await _verify_bank_message(plat, token)
            except (JoseError, ValueError, AssertionError) as exc:
                plat.refused.append(f"bank_signature_invalid: {exc}")
                return JSONResponse({"code": "bank_signature_invalid"}, status_code=401)
            status = plat.statuses.pop(0) if plat.statuses else 201
            if status == 201:
                plat.messages.append({"header": header, **claims})
            return JSONResponse({"message_id": claims["jti"]}, status_code=status)

        async def hook(request: Request) -> Response:
            body = await request.body()
            msg_id, stamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
            assert int(stamp) == int(plat.clock.now().timestamp())
            at = datetime.fromtimestamp(int(stamp), UTC)
            expected = Webhook(WHSEC).sign(msg_id, at, body.decode())
            assert expected in request.headers["webhook-signature"].split()
            plat.events.append(json.loads(body))
            return Response(status_code=204)

        app = Starlette(routes=[
            Route("/.well-known/jwks.json", jwks),
            Route("/partner-api/v1/messages", message, methods=["POST"]),
            Route("/hooks", hook, methods=["POST"])])
        async with serve(app, sock):
            yield plat


async def _verify_bank_message(plat: Platform, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the platform does: the bank's key from its published JWKS, typ, iss, aud, time."""
    unverified = json.loads(jws.extract_compact(token.encode()).payload)
    assert unverified["iss"] in plat.banks, "unknown bank"
    jwks = (await plat.http.get(f"{unverified['iss']}/.well-known/jwks.json")).json()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        obj = jws.deserialize_compact(token, KeySet.import_key_set(jwks), algorithms=["EdDSA"])
    header = obj.headers()
    assert header["typ"] == "bank-message+jwt" and header["alg"] == "EdDSA"
    claims: dict[str, Any] = json.loads(obj.payload)
    assert claims["aud"] == plat.url
    now = int(plat.clock.now().timestamp())
    assert claims["iat"] <= now + 60 and now < claims["exp"] <= claims["iat"] + 600
    return header, claims


# ---------------------------------------------------------------------- the bank


@dataclass
class Bank:
    url: str
    bank: SandboxBank
    http: httpx.AsyncClient
    clock: FrozenClock
    platform: Platform

    async def drain(self) -> None:
        async with asyncio.timeout(10):
            await self.bank.webhooks.drain()
            await self.bank.messages.drain()
            await self.bank.webhooks.drain()


StartBank = Callable[..., Any]


@pytest.fixture
async def start_bank(platform: Platform) -> AsyncIterator[StartBank]:
    stack: list[Any] = []

    async def start(**overrides: Any) -> Bank:
        sock, url = bind_loopback()
        clock = platform.clock
        settings: dict[str, Any] = {"seed": 42, "simulate": False, "reply_delay_seconds": 0,
                                    "webhook_backoff_base_seconds": 0.01, **overrides}
        config = SandboxConfig(
            public_url=url, admin_token=ADMIN, clock=clock,
            clients=[OAuthClientConfig(
                client_id=CLIENT, client_secret=SECRET, redirect_uris=[REDIRECT],
                webhook_secret=WHSEC, jwks_uri=f"{platform.url}/.well-known/jwks.json",
                messages_url=platform.messages_url, api_key=API_KEY)],
            **settings)
        app = create_sandbox_app(config)
        ctx = serve(app, sock)
        await ctx.__aenter__()
        stack.append(ctx)
        http = httpx.AsyncClient(base_url=url, timeout=10)
        stack.append(http)
        platform.banks.add(url)
        return Bank(url, app.state.bank, http, clock, platform)

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.AsyncClient):
            await item.aclose()
        else:
            await item.__aexit__(None, None, None)


@dataclass
class Link:
    consent_id: str
    access_token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}


async def link(b: Bank, *, login: str = "alice", accounts: list[str] | None = None,
               scope: str = "balances transactions alerts", subscribe: bool = True) -> Link:
    """Consent in the browser, exchange the code, subscribe the platform's hook."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT,
              "scope": scope, "state": "s", "code_challenge": challenge.rstrip(b"=").decode(),
              "code_challenge_method": "S256"}
    async with httpx.AsyncClient() as browser:
        resp = await browser_consent(browser, f"{b.url}/oauth/authorize?{urlencode(params)}",
                                     login=login, accounts=accounts)
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    tok = (await b.http.post("/oauth/token", auth=(CLIENT, SECRET), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier})).json()
    lnk = Link(tok["consent_id"], tok["access_token"])
    if not subscribe:
        return lnk
    sub = await b.http.post("/open-banking/v1/event-subscriptions", headers=lnk.bearer,
                            json={"url": f"{b.platform.url}/hooks"})
    assert sub.status_code == 201
    return lnk


def request_claims(b: Bank, lnk: Link, **extra: Any) -> dict[str, Any]:
    now = int(b.clock.now().timestamp())
    return {"iss": b.platform.url, "aud": b.url, "iat": now, "exp": now + 300,
            "jti": f"req_{secrets.token_hex(8)}", "consent_id": lnk.consent_id, **extra}


async def send(b: Bank, path: str, lnk: Link, claims: dict[str, Any], *,
               key: OKPKey | None = None, typ: str = REQUEST_TYP,
               idempotency_key: str | None = None) -> httpx.Response:
    token = _sign(key or b.platform.key, claims, typ=typ)
    return await b.http.post(path, content=token, headers={
        **lnk.bearer, "content-type": "application/jose",
        "idempotency-key": idempotency_key or claims["jti"]})


async def answer(b: Bank, lnk: Link, alert_id: str, choice: str, **kw: Any) -> httpx.Response:
    claims = request_claims(b, lnk, alert_id=alert_id, answer=choice)
    return await send(b, f"/open-banking/v1/fraud-alerts/{alert_id}/answer", lnk, claims, **kw)


async def say(b: Bank, lnk: Link, text: str) -> httpx.Response:
    claims = request_claims(b, lnk, message_id=f"msg_{secrets.token_hex(6)}", text=text)
    return await send(b, "/open-banking/v1/service/messages", lnk, claims)


def card(b: Bank, login: str = "alice") -> Any:
    return next(a for a in b.bank.accounts_of(login) if a.type == "credit_card")


def problem(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    code: str = resp.json()["code"]
    return code


# ---------------------------------------------------------------------- keys


async def test_the_bank_publishes_its_key_with_the_thumbprint_as_kid(start_bank: StartBank) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                     NoEncryption())
    b = await start_bank(signing_key_pem=pem)
    resp = await b.http.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    (key,) = resp.json()["keys"]
    assert key["use"] == "sig" and key["alg"] == "EdDSA" and key["crv"] == "Ed25519"
    assert "d" not in key
    assert key["kid"] == OKPKey.import_key(pem).thumbprint() == b.bank.jwks()["keys"][0]["kid"]


def test_a_signing_key_that_is_not_ed25519_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="Ed25519"):
        SandboxBank(SandboxConfig(signing_key_pem=b"-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                                  b"-----END PRIVATE KEY-----\n"))


# ---------------------------------------------------------------------- fraud alerts


async def test_a_fraud_alert_is_pushed_as_a_signed_event_of_the_contract_shape(
        start_bank: StartBank) -> None:
    b = await start_bank()
    lnk = await link(b)
    txn_id, alert_id = await b.bank.suspicious_purchase("alice", merchant="LuxeTime Geneva",
                                                        amount="1249.00")
    await b.drain()
    alerts = [e for e in b.platform.events if e["type"] == "fraud.alert"]
    assert len(alerts) == 1
    data = alerts[0]["data"]
    assert data["consent_id"] == lnk.consent_id and data["account_id"] == card(b).account_id
    alert = data["alert"]
    now = b.clock.now()
    assert alert == {
        "alert_id": alert_id, "transaction_id": txn_id, "merchant_name": "LuxeTime Geneva",
        "amount": "-1249.00", "currency": "USD",
        "at": now.isoformat().replace("+00:00", "Z"), "reason": "unusual merchant",
        "remind_after_seconds": 600,
        "expires_at": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "on_no_answer": "freeze_card"}
    pending = [e for e in b.platform.events if e["type"] == "transaction.updated"]
    assert pending[-1]["data"]["transaction"]["status"] == "pending"


async def test_the_admin_hook_stages_a_fraud_alert(start_bank: StartBank) -> None:
    b = await start_bank()
    await link(b)
    refused = await b.http.post("/sandbox/simulate/fraud", json={"login": "alice"})
    assert problem(refused, 401) == "admin_token_invalid"
    resp = await b.http.post("/sandbox/simulate/fraud", headers={"authorization": f"Bearer {ADMIN}"},
                             json={"login": "alice", "on_no_answer": "allow",
                                   "expires_in_seconds": 120})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["transaction"]["status"] == "pending" and body["alert"]["on_no_answer"] == "allow"
    assert b.bank.fraud.alerts[body["alert_id"]].transaction_id == body["transaction_id"]
    pending = await b.bank.purchase("alice", merchant="Starbucks", amount="4.50")
    admin = {"authorization": f"Bearer {ADMIN}"}
    on_existing = await b.http.post("/sandbox/simulate/fraud", headers=admin,
                                    json={"transaction_id": pending})
    assert on_existing.status_code == 201 and on_existing.json()["transaction_id"] == pending
    twice = await b.http.post("/sandbox/simulate/fraud", headers=admin,
                              json={"transaction_id": pending})
    assert problem(twice, 409) == "alert_exists"
    unknown = await b.http.post("/sandbox/simulate/fraud",
                                headers={"authorization": f"Bearer {ADMIN}"},
                                json={"login": "alice", "merchant": "Nowhere Inc"})
    assert problem(unknown, 422) == "unknown_merchant"


async def test_denied_freezes_the_card_removes_the_charge_and_says_so_signed(
        start_bank: StartBank) -> None:
    b = await start_bank()
    lnk = await link(b)
    txn_id, alert_id = await b.bank.suspicious_purchase("alice", merchant="GiftCardHub",
                                                        amount="249.00")
    resp = await answer(b, lnk, alert_id, "denied")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"alert_id": alert_id, "status": "card_frozen"}
    assert card(b).frozen is True
    assert b.bank.ledger.txns[txn_id].removed
    await b.drain()
    removed = [e["data"] for e in b.platform.events if e["type"] == "transaction.removed"]
    assert removed == [{"consent_id": lnk.consent_id, "account_id": card(b).account_id,
                        "transaction_id": txn_id}]
    synced = (await b.http.post("/open-banking/v1/transactions/sync", headers=lnk.bearer,
                                json={"account_id": card(b).account_id})).json()
    assert {"transaction_id": txn_id} in synced["removed"]
    (msg,) = b.platform.messages
    assert msg["header"]["kid"] == b.bank.jwks()["keys"][0]["kid"]
    assert msg["iss"] == b.url and msg["consent_id"] == lnk.consent_id
    assert msg["kind"] == "fraud_outcome" and msg["in_reply_to"] == {"alert_id": alert_id}
    assert msg["text"] == (f"We froze your Rewards Visa ending {card(b).mask} and cancelled the "
                           "249.00 USD charge at GiftCardHub. A new card is on its way.")
    (record,) = b.bank.messages_sent
    assert (record.status, record.attempts, record.last_status_code) == ("delivered", 1, 201)
    with pytest.raises(Problem) as declined:  # the frozen card declines the next odd purchase
        await b.bank.suspicious_purchase("alice")
    assert declined.value.code == "card_declined" and len(b.bank.fraud.alerts) == 1


async def test_confirmed_clears_the_alert_and_the_charge_stays(start_bank: StartBank) -> None:
    b = await start_bank()
    lnk = await link(b)
    txn_id, alert_id = await b.bank.suspicious_purchase("alice", amount="88.10")
    resp = await answer(b, lnk, alert_id, "confirmed")
    assert resp.status_code == 200 and resp.json() == {"alert_id": alert_id, "status": "cleared"}
    txn = b.bank.ledger.txns[txn_id]
    assert not txn.removed and txn.status == "pending" and card(b).frozen is False
    await b.drain()
    (msg,) = b.platform.messages
    assert msg["text"].startswith("Thanks, all clear: the 88.10 USD charge at ")
    assert msg["text"].endswith("stays on your account.")
    assert not [e for e in b.platform.events if e["type"] == "transaction.removed"]


async def test_a_replayed_answer_gets_the_stored_answer_and_a_new_jti_gets_409(
        start_bank: StartBank) -> None:
    b = await start_bank()
    lnk = await link(b)
    _, alert_id = await b.bank.suspicious_purchase("alice")
    claims = request_claims(b, lnk, alert_id=alert_id, answer="denied")
    path = f"/open-banking/v1/fraud-alerts/{alert_id}/answer"
    first = await send(b, path, lnk, claims)
    b.clock.advance(timedelta(seconds=30))
    again = {**claims, "iat": claims["iat"] + 30, "exp": claims["exp"] + 30}  # signed afresh
    second = await send(b, path, lnk, again)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"alert_id": alert_id, "status": "card_frozen"}
    other = await answer(b, lnk, alert_id, "confirmed")
    assert problem(other, 409) == "alert_already_answered"
    await b.drain()
    assert len(b.platform.messages) == 1 and len(b.bank.messages_sent) == 1
    assert len([e for e in b.platform.events if e["type"] == "transaction.removed"]) == 1


@pytest.mark.parametrize(("tamper", "code"), [
    ("unknown_key", "bad_signature"),
    ("altered", "bad_signature"),
    ("wrong_aud", "bad_signature"),
    ("wrong_typ", "bad_signature"),
    ("expired", "request_expired"),
    ("too_long_lived", "request_expired"),
])
async def test_an_unverifiable_answer_is_401_and_changes_nothing(
        start_bank: StartBank, tamper: str, code: str) -> None:
    b = await start_bank()
    lnk = await link(b)
    _, alert_id = await b.bank.suspicious_purchase("alice")
    claims = request_claims(b, lnk, alert_id=alert_id, answer="denied")
    key, typ = b.platform.key, REQUEST_TYP
    if tamper == "unknown_key":
        key = _eddsa_key()
    elif tamper == "wrong_aud":
        claims["aud"] = "http://127.0.0.1:1"
    elif tamper == "wrong_typ":
        typ = "bank-message+jwt"
    elif tamper == "expired":
        claims["iat"], claims["exp"] = claims["iat"] - 900, claims["iat"] - 300
    elif tamper == "too_long_lived":
        claims["exp"] = claims["iat"] + 3600
    token = _sign(key, claims, typ=typ)
    if tamper == "altered":
        head, body, sig = token.split(".")
        forged = dict(claims, answer="confirmed")
        body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        token = f"{head}.{body}.{sig}"
    resp = await b.http.post(f"/open-banking/v1/fraud-alerts/{alert_id}/answer", content=token,
                             headers={**lnk.bearer, "content-type": "application/jose",
                                      "idempotency-key": claims["jti"]})
    assert problem(resp, 401) == code
    assert b.bank.fraud.alerts[alert_id].status == "open" and card(b).frozen is False
    if tamper == "unknown_key":
        assert b.platform.jwks_fetches == 1  # one fetch per request at most, never a loop


async def test_a_rotated_platform_key_is_fetched_once_then_cached(start_bank: StartBank) -> None:
    b = await start_bank()
    lnk = await link(b)
    assert (await say(b, lnk, "hello")).status_code == 202
    assert (await say(b, lnk, "hello again")).status_code == 202
    assert b.platform.jwks_fetches == 1
    b.platform.keys.insert(0, _eddsa_key())  # the platform starts signing with a new key
    assert (await say(b, lnk, "after rotation")).status_code == 202
    assert b.platform.jwks_fetches == 2


async def test_request_errors_have_specific_codes(start_bank: StartBank) -> None:
    b = await start_bank()
    alice, bob = await link(b), await link(b, login="bob")
    _, alert_id = await b.bank.suspicious_purchase("alice")
    path = f"/open-banking/v1/fraud-alerts/{alert_id}/answer"
    # the token's consent_id is another consent than the access token's
    mismatch = request_claims(b, alice, alert_id=alert_id, answer="denied")
    mismatch["consent_id"] = bob.consent_id
    assert problem(await send(b, path, alice, mismatch), 403) == "consent_mismatch"
    # bob's consent does not cover alice's card: her alert is not his to answer
    assert problem(await answer(b, bob, alert_id, "denied"), 404) == "alert_not_found"
    assert problem(await answer(b, alice, "fra_unknown", "denied"), 404) == "alert_not_found"
    claims = request_claims(b, alice, alert_id=alert_id, answer="maybe")
    assert problem(await send(b, path, alice, claims), 422) == "invalid_answer"
    claims = request_claims(b, alice, alert_id=alert_id, answer="denied")
    resp = await send(b, path, alice, claims, idempotency_key="something-else")
    assert problem(resp, 422) == "idempotency_key_mismatch"
    garbage = await b.http.post(path, content="not a jws", headers={
        **alice.bearer, "content-type": "application/jose", "idempotency-key": "k"})
    assert problem(garbage, 422) == "invalid_request"
    json_body = await b.http.post(path, json={"answer": "denied"},
                                  headers={**alice.bearer, "idempotency-key": "k"})
    assert problem(json_body, 415) == "unsupported_media_type"
    no_token = await b.http.post(path, content="x", headers={"content-type": "application/jose"})
    assert problem(no_token, 401) == "token_missing"
    assert b.bank.fraud.alerts[alert_id].status == "open"


@pytest.mark.parametrize("policy", ["freeze_card", "allow"])
async def test_an_unanswered_alert_closes_at_expiry_with_the_banks_policy(
        start_bank: StartBank, policy: str) -> None:
    b = await start_bank()
    lnk = await link(b)
    txn_id, alert_id = await b.bank.suspicious_purchase(
        "alice", merchant="CoinFlash Exchange", amount="400.00", expires_in_seconds=900,
        on_no_answer=policy)
    b.clock.advance(timedelta(seconds=899))
    assert b.bank.run_due() == []
    b.clock.advance(timedelta(seconds=1))
    assert b.bank.run_due() == [alert_id]
    assert b.bank.run_due() == []  # closed once
    late = await answer(b, lnk, alert_id, "confirmed")
    assert problem(late, 409) == "alert_expired"
    await b.drain()
    (msg,) = b.platform.messages
    assert msg["kind"] == "fraud_outcome" and msg["in_reply_to"] == {"alert_id": alert_id}
    assert msg["text"].startswith("We did not hear from you about the 400.00 USD charge at "
                                  "CoinFlash Exchange, so we ")
    txn = b.bank.ledger.txns[txn_id]
    if policy == "freeze_card":
        assert card(b).frozen and txn.removed
        assert f"froze your Rewards Visa ending {card(b).mask}" in msg["text"]
    else:
        assert not card(b).frozen and not txn.removed
        assert "let the charge through" in msg["text"]


async def test_a_held_charge_is_not_posted_by_the_simulator(start_bank: StartBank) -> None:
    b = await start_bank()
    txn_id, _ = await b.bank.suspicious_purchase("alice")
    for _ in range(60):
        b.bank.step()
    assert b.bank.ledger.txns[txn_id].status == "pending"
    assert not b.bank.ledger.txns[txn_id].removed


async def test_the_simulator_now_and_then_raises_an_alert_for_a_linked_card(
        start_bank: StartBank) -> None:
    b = await start_bank()
    for _ in range(100):
        b.bank.step()
    assert not b.bank.fraud.alerts  # nobody linked: nobody to ask, so no simulated alert
    lnk = await link(b, login="bob", subscribe=False)  # 400 steps of pushes would be slow
    for _ in range(400):
        b.bank.step()
        b.clock.advance(timedelta(seconds=30))
    alerts = list(b.bank.fraud.alerts.values())
    assert 1 <= len(alerts) <= 15  # rare, but it happens (seeded: the same every run)
    bobs = {a.account_id for a in b.bank.accounts_of("bob")}
    assert all(a.account_id in bobs and a.consent_ids == (lnk.consent_id,) for a in alerts)
    assert all(b.bank.ledger.txns[a.transaction_id].merchant_name == a.merchant_name
               for a in alerts)


# ---------------------------------------------------------------------- customer service


async def test_the_service_agent_answers_in_the_thread_and_acts(start_bank: StartBank) -> None:
    b = await start_bank()
    lnk = await link(b)
    claims = request_claims(b, lnk, message_id="msg_lost", text="I lost my wallet with my card!")
    resp = await send(b, "/open-banking/v1/service/messages", lnk, claims)
    assert resp.status_code == 202
    assert resp.json() == {"message_id": "msg_lost", "status": "received"}
    assert card(b).frozen
    assert (await say(b, lnk, "My card is frozen, please unfreeze it")).status_code == 202
    assert card(b).frozen is False
    await b.bank.fee("alice", amount="35.00", description="OVERDRAFT FEE")
    await say(b, lnk, "What is this fee?")
    await say(b, lnk, "What's my balance?")
    await say(b, lnk, "Can I get a mortgage for a house in Lisbon?")
    await b.drain()
    texts = [m["text"] for m in b.platform.messages]
    assert all(m["kind"] == "service" for m in b.platform.messages)
    assert b.platform.messages[0]["in_reply_to"] == {"message_id": "msg_lost"}
    mask = card(b).mask
    assert texts[0].startswith(f"I've frozen your Rewards Visa ending {mask}")
    assert texts[1].startswith(f"I've unfrozen your Rewards Visa ending {mask}")
    checking = next(a for a in b.bank.accounts_of("alice") if a.type == "checking")
    today = b.clock.now().date().isoformat()
    assert texts[2].startswith(f"The latest fee is 35.00 USD on your Everyday Checking ending "
                               f"{checking.mask}, booked {today}: OVERDRAFT FEE.")
    balance = b.bank.ledger.balance(checking.account_id, now=b.clock.now())
    assert f"Everyday Checking ending {checking.mask}: {balance['current']} USD" in texts[3]
    assert texts[4] == ("Thanks, I've passed this to the Sandbox Bank team; we answer within "
                        "one business day. Your topic: \u201cCan I get a mortgage for a house "
                        "in Lisbon?\u201d.")


async def test_the_agent_tells_only_what_the_consent_allows(start_bank: StartBank) -> None:
    b = await start_bank()
    lnk = await link(b, scope="transactions")
    await say(b, lnk, "balance please")
    await b.drain()
    (msg,) = b.platform.messages
    assert msg["text"].startswith("I can't show balances here")


async def test_a_refused_message_is_final_and_a_503_is_retried(start_bank: StartBank) -> None:
    b = await start_bank()
    lnk = await link(b)
    b.platform.statuses = [503, 201]
    await say(b, lnk, "hello")
    await b.drain()
    (record,) = b.bank.messages_sent
    assert (record.status, record.attempts, record.history) == ("delivered", 2, ["503", "201"])
    assert len(b.platform.messages) == 1
    b.platform.statuses = [422]
    await say(b, lnk, "hello")
    await b.drain()
    refused = b.bank.messages_sent[-1]
    assert (refused.status, refused.attempts, refused.last_status_code) == ("refused", 1, 422)


# ---------------------------------------------------------------------- two brands


async def test_two_banks_side_by_side_keep_their_own_name_keys_and_state(
        start_bank: StartBank) -> None:
    one = await start_bank(name="Sandbox Bank", seed=42)
    two = await start_bank(name="Northwind Bank", seed=7)
    login_one, login_two = (await one.http.get("/login")).text, (await two.http.get("/login")).text
    assert "<title>Sign in · Northwind Bank</title>" in login_two and "Sandbox Bank" not in login_two
    assert "<title>Sign in · Sandbox Bank</title>" in login_one and "Northwind" not in login_one
    assert one.bank.jwks()["keys"][0]["kid"] != two.bank.jwks()["keys"][0]["kid"]
    assert {a.account_id for a in one.bank.accounts_of("alice")}.isdisjoint(
        a.account_id for a in two.bank.accounts_of("alice"))
    lnk_one, lnk_two = await link(one), await link(two)
    _, alert_id = await one.bank.suspicious_purchase("alice")
    assert problem(await answer(two, lnk_two, alert_id, "denied"), 404) == "alert_not_found"
    assert (await answer(one, lnk_one, alert_id, "denied")).status_code == 200
    await say(two, lnk_two, "Do you offer student accounts?")
    await one.drain()
    await two.drain()
    assert card(one).frozen and not card(two).frozen
    by_bank = {m["iss"]: m for m in one.platform.messages}
    assert by_bank[one.url]["kind"] == "fraud_outcome"
    assert "Northwind Bank team" in by_bank[two.url]["text"]
    assert len(one.bank.messages_sent) == len(two.bank.messages_sent) == 1
