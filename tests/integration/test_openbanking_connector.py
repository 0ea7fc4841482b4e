"""The platform's OpenBankingConnector against the real sandbox bank on 127.0.0.1,
and against scripted failures (MockTransport)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from ledgerlink.adapters.banks import OpenBankingConnector
from ledgerlink.domain.banking import AccountType, Scope, TransactionStatus
from ledgerlink.domain.clock import SystemClock
from ledgerlink.sandbox import OAuthClientConfig, SandboxBank, SandboxConfig, create_sandbox_app
from ledgerlink.sandbox.testing import bind_loopback, browser_consent, serve
from ledgerlink.services.linking.ports import BankAuthError, BankError, BankUnavailable, TokenSet

CLIENT, SECRET = "ledgerlink", "s3cret/with:odd chars"
REDIRECT = "http://127.0.0.1:8000/link/callback"
WHSEC = "whsec_" + base64.b64encode(b"connector-test-webhook-secret-32").decode()


@dataclass
class Env:
    url: str
    bank: SandboxBank
    connector: OpenBankingConnector


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sock, url = bind_loopback()
    app = create_sandbox_app(SandboxConfig(
        public_url=url, simulate=False,
        clients=[OAuthClientConfig(client_id=CLIENT, client_secret=SECRET,
                                   redirect_uris=[REDIRECT], webhook_secret=WHSEC)]))
    async with serve(app, sock), httpx.AsyncClient(timeout=10) as http:
        yield Env(url, app.state.bank, OpenBankingConnector(
            issuer=url, client_id=CLIENT, client_secret=SECRET, http=http,
            clock=SystemClock(), page_size=5))


async def _link(env: Env, *, scopes: tuple[Scope, ...] = tuple(Scope)) -> TokenSet:
    req = env.connector.authorization_request(redirect_uri=REDIRECT, scopes=scopes, state="s-9")
    query = parse_qs(urlparse(req.url).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] == ["s-9"]
    assert req.code_verifier not in req.url
    async with httpx.AsyncClient() as browser:
        resp = await browser_consent(browser, req.url, login="alice")
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    return await env.connector.exchange_code(code=code, code_verifier=req.code_verifier,
                                             redirect_uri=REDIRECT)


async def test_link_read_refresh_and_revoke_through_the_connector(env: Env) -> None:
    tokens = await _link(env)
    assert tokens.refresh_token and tokens.consent_id
    assert set(tokens.scopes) == set(Scope)
    assert tokens.expires_at is not None and tokens.expires_at > datetime.now(UTC)
    assert tokens.consent_expires_at is not None
    assert tokens.consent_expires_at - datetime.now(UTC) > timedelta(days=89)

    accounts = await env.connector.accounts(access_token=tokens.access_token)
    assert {a.type for a in accounts} == {AccountType.CHECKING, AccountType.SAVINGS,
                                          AccountType.CREDIT_CARD}
    assert all(len(a.last4) == 4 and a.currency == "USD" for a in accounts)
    checking = next(a for a in accounts if a.type is AccountType.CHECKING)
    balance = await env.connector.balance(access_token=tokens.access_token,
                                          bank_account_id=checking.bank_account_id)
    assert balance.current.currency == "USD" and balance.available is not None

    cursor, seen, pages = None, [], 0
    while True:  # the connector returns one page; the caller follows has_more
        page = await env.connector.sync_transactions(
            access_token=tokens.access_token, bank_account_id=checking.bank_account_id,
            cursor=cursor)
        seen += page.added
        cursor, pages = page.next_cursor, pages + 1
        if not page.has_more:
            break
    assert pages > 1 and all(t.status is TransactionStatus.POSTED for t in seen)

    pending_id = await env.bank.purchase("alice", account_id=checking.bank_account_id,
                                         merchant="Uber", amount="18.40")
    posted_id = await env.bank.post(pending_id, final_amount="21.40")
    page = await env.connector.sync_transactions(
        access_token=tokens.access_token, bank_account_id=checking.bank_account_id,
        cursor=cursor)
    assert [t.bank_transaction_id for t in page.added] == [pending_id, posted_id]
    assert page.added[1].pending_transaction_id == pending_id
    assert str(page.added[1].amount) == "-21.40 USD" and page.added[1].mcc == "4121"
    assert page.removed == [pending_id]

    sub_id = await env.connector.subscribe_events(access_token=tokens.access_token,
                                                  callback_url="http://127.0.0.1:9/hooks")
    assert sub_id.startswith("sub_")

    renewed = await env.connector.refresh(refresh_token=tokens.refresh_token)
    assert renewed.consent_id == tokens.consent_id
    assert renewed.refresh_token and renewed.refresh_token != tokens.refresh_token
    with pytest.raises(BankAuthError) as old:
        await env.connector.refresh(refresh_token=tokens.refresh_token)
    assert old.value.code == "oauth_invalid_grant"
    assert tokens.refresh_token not in str(old.value)

    await env.connector.revoke(token=renewed.refresh_token or "")
    with pytest.raises(BankAuthError) as dead:
        await env.connector.accounts(access_token=renewed.access_token)
    assert dead.value.code == "bank_token_invalid"
    assert renewed.access_token not in str(dead.value)


async def test_a_customer_revocation_is_reported_as_consent_revoked(env: Env) -> None:
    tokens = await _link(env)
    assert tokens.consent_id is not None
    await env.bank.revoke_consent(tokens.consent_id)
    with pytest.raises(BankAuthError) as err:
        await env.connector.accounts(access_token=tokens.access_token)
    assert err.value.code in ("bank_consent_revoked", "bank_token_invalid")


async def test_a_wrong_verifier_is_an_auth_error(env: Env) -> None:
    req = env.connector.authorization_request(redirect_uri=REDIRECT, scopes=[Scope.BALANCES],
                                              state="s")
    async with httpx.AsyncClient() as browser:
        resp = await browser_consent(browser, req.url, login="bob")
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    with pytest.raises(BankAuthError) as err:
        await env.connector.exchange_code(code=code, code_verifier="x" * 64, redirect_uri=REDIRECT)
    assert err.value.code == "oauth_invalid_grant"
    assert code not in str(err.value)


async def test_missing_scope_and_foreign_account_map_to_bank_errors(env: Env) -> None:
    tokens = await _link(env, scopes=(Scope.BALANCES,))
    accounts = await env.connector.accounts(access_token=tokens.access_token)
    with pytest.raises(BankError) as scope:
        await env.connector.sync_transactions(access_token=tokens.access_token,
                                              bank_account_id=accounts[0].bank_account_id,
                                              cursor=None)
    assert scope.value.code == "bank_insufficient_scope"
    bob = env.bank.accounts_of("bob")[0].account_id
    with pytest.raises(BankError) as missing:
        await env.connector.balance(access_token=tokens.access_token, bank_account_id=bob)
    assert missing.value.code == "bank_not_found"


def _connector(handler: httpx.MockTransport | None = None) -> OpenBankingConnector:
    http = httpx.AsyncClient(transport=handler) if handler else httpx.AsyncClient()
    return OpenBankingConnector(issuer="http://127.0.0.1:9", client_id=CLIENT,
                                client_secret=SECRET, http=http, clock=SystemClock())


async def test_an_unreachable_bank_is_unavailable() -> None:
    connector = _connector()  # port 9 (discard) is closed on loopback
    with pytest.raises(BankUnavailable):
        await connector.accounts(access_token="tok-secret-value")


@pytest.mark.parametrize(("status", "body", "error"), [
    (503, b"{}", BankUnavailable),
    (429, b"{}", BankUnavailable),
    (200, b"<html>oops", BankError),
    (200, b'{"accounts": [{"account_id": 5}]}', BankError),
    (200, b"[]", BankError),
])
async def test_failures_are_mapped_without_leaking_the_token(
        status: int, body: bytes, error: type[BankError]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    with pytest.raises(error) as err:
        await _connector(httpx.MockTransport(answer)).accounts(access_token="tok-secret-value")
    assert "tok-secret-value" not in str(err.value)
    if status == 200:
        assert err.value.code == "bank_bad_response"


async def test_a_malformed_token_response_is_bad_response() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Basic ")
        return httpx.Response(200, content=json.dumps({"token_type": "Bearer"}).encode())

    with pytest.raises(BankError) as err:
        await _connector(httpx.MockTransport(answer)).refresh(refresh_token="rt-secret")
    assert err.value.code == "bank_bad_response" and "rt-secret" not in str(err.value)


async def test_malformed_sync_transactions_are_bad_response() -> None:
    page = {"added": [{"transaction_id": "t", "account_id": "a", "status": "weird",
                       "amount": "1.00", "currency": "USD"}],
            "modified": [], "removed": [], "next_cursor": "c", "has_more": False}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page)

    with pytest.raises(BankError) as err:
        await _connector(httpx.MockTransport(answer)).sync_transactions(
            access_token="t", bank_account_id="a", cursor=None)
    assert err.value.code == "bank_bad_response"
