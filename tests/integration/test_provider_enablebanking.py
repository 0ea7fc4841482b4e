"""The Enable Banking connector against the Enable Banking simulator, over real HTTP on
127.0.0.1 (uvicorn), on one frozen clock: RS256 application JWT, bank choice, redirect and
session, continuation-key paging, pending -> booked, stable ids across sessions, PSD2's 4
unattended reads a day, session expiry, revocation, and nothing secret in errors or logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from ledgerlink.adapters.banks.enablebanking import EnableBankingConnector
from ledgerlink.domain.banking import AccountType, Scope, TransactionStatus
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox.providers import EnableBankingConfig, EnableBankingState, create_enablebanking_app
from ledgerlink.sandbox.testing import bind_loopback, serve
from ledgerlink.services.linking.provider_ports import (
    LinkKind,
    ProviderConsentExpired,
    ProviderLink,
    ProviderRateLimited,
    ProviderRefused,
    PsuPresence,
)

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
APP_ID = "cf589be3-3755-465b-a8df-a90a16a31403"
REDIRECT = "https://ledgerlink.example/link/enablebanking/callback"
KEY = RSAKey.generate_key(2048)
OTHER_KEY = RSAKey.generate_key(2048)
PSU = PsuPresence(ip_address="203.0.113.7", user_agent="Mozilla/5.0 (test)")


@dataclass
class Env:
    clock: FrozenClock
    state: EnableBankingState
    connector: EnableBankingConnector
    sent: list[httpx.Request]
    url: str
    http: httpx.AsyncClient


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FrozenClock(START)
    sock, url = bind_loopback()
    app = create_enablebanking_app(
        EnableBankingConfig(
            public_url=url,
            clock=clock,
            applications={APP_ID: KEY.as_pem(private=False)},
            redirect_urls=[REDIRECT],
            page_size=4,
        )
    )
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async with serve(app, sock), httpx.AsyncClient(timeout=10, event_hooks={"request": [record]}) as http:
        yield Env(
            clock,
            app.state.enablebanking,
            EnableBankingConnector(
                http=http,
                clock=clock,
                application_id=APP_ID,
                private_key_pem=KEY.as_pem(private=True),
                api_url=url,
                allow_insecure_loopback=True,
            ),
            sent,
            url,
            http,
        )


async def _consent(env: Env, url: str, decision: str = "approve") -> dict[str, str]:
    async with httpx.AsyncClient(base_url=env.url) as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and "SIMULATOR" in page.text
        token = page.text.split('name=form_token value="')[1].split('"')[0]
        resp = await browser.post(urlsplit(url).path, data={"form_token": token, "decision": decision})
    assert resp.status_code == 302 and resp.headers["location"].startswith(REDIRECT)
    return dict(parse_qsl(urlsplit(resp.headers["location"]).query))


async def _link(env: Env, *, days: int = 90) -> ProviderLink:
    banks = await env.connector.institutions(country="fi")
    assert [b.id for b in banks] == ["FI:Simulated Bank"] and banks[0].max_consent_days == 180
    start = await env.connector.start_link(
        state="st-1",
        redirect_url=REDIRECT,
        institution_id=banks[0].id,
        scopes=[Scope.BALANCES, Scope.TRANSACTIONS],
        valid_for=timedelta(days=days),
    )
    assert start.kind is LinkKind.REDIRECT
    answer = await _consent(env, start.redirect_url)
    return await env.connector.finish_link(pending=start.pending, answer=answer)


async def test_the_application_jwt_is_rs256_with_the_application_id_as_kid(env: Env) -> None:
    await env.connector.institutions(country="FI")
    token = env.sent[-1].headers["authorization"].removeprefix("Bearer ")
    decoded = jwt.decode(token, KEY, algorithms=["RS256"])
    assert decoded.header["kid"] == APP_ID and decoded.header["alg"] == "RS256"
    claims = decoded.claims
    assert claims["iss"] == "enablebanking.com" and claims["aud"] == "api.enablebanking.com"
    assert claims["iat"] == int(START.timestamp()) and claims["exp"] - claims["iat"] == 3600

    stranger = EnableBankingConnector(
        http=env.http,
        clock=env.clock,
        application_id=APP_ID,
        private_key_pem=OTHER_KEY.as_pem(private=True),
        api_url=env.url,
        allow_insecure_loopback=True,
    )
    with pytest.raises(ProviderRefused) as refused:
        await stranger.institutions(country="FI")
    assert refused.value.code == "application_unauthorized"
    long_lived = jwt.encode(
        {"alg": "RS256", "kid": APP_ID},
        {
            "iss": "enablebanking.com",
            "aud": "api.enablebanking.com",
            "iat": int(START.timestamp()),
            "exp": int(START.timestamp()) + 2 * 86400,
        },
        KEY,
        algorithms=["RS256"],
    )
    resp = await env.http.get(f"{env.url}/aspsps", headers={"authorization": f"Bearer {long_lived}"})
    assert resp.status_code == 401 and resp.json()["error"] == "UNAUTHORIZED"


async def test_a_link_goes_through_the_bank_page_and_the_session_gives_accounts_and_validity(
    env: Env,
) -> None:
    link = await _link(env)
    assert link.valid_until == START + timedelta(days=90)
    assert {a.type for a in link.accounts} == {AccountType.CHECKING, AccountType.SAVINGS}
    assert {a.last4 for a in link.accounts} == {"0785", "3000"}
    assert all(a.institution == "Simulated Bank" and a.currency == "EUR" for a in link.accounts)
    assert await env.connector.accounts(credential=link.credential) == list(link.accounts)
    current = next(a for a in link.accounts if a.type is AccountType.CHECKING)
    balance = await env.connector.balance(credential=link.credential, account_id=current.account_id)
    assert balance.current.currency == "EUR" and balance.available is not None
    assert isinstance(balance.current.amount, Decimal)


async def test_transactions_follow_the_continuation_key_to_the_end_and_keep_every_entry(env: Env) -> None:
    link = await _link(env)
    current = next(a for a in link.accounts if a.type is AccountType.CHECKING)
    since = (START - timedelta(days=40)).date()
    page = await env.connector.transactions(
        credential=link.credential, account_id=current.account_id, since=since
    )
    pages = [r for r in env.sent if r.url.path.endswith("/transactions")]
    assert len(pages) > 2 and "continuation_key" not in pages[0].url.params
    assert all("continuation_key" in r.url.params for r in pages[1:])
    expected = [
        t
        for t in env.state.ledger.transactions("eb-current", now=START)
        if (t.transacted_at if t.is_pending(START) else t.posted_at).date() >= since
    ]
    assert len(page.booked) + len(page.pending) == len(expected)
    ids = [t.bank_transaction_id for t in page.booked + page.pending]
    assert len(set(ids)) == len(ids)
    assert all(not t.bank_transaction_id.startswith("h:") for t in page.booked)  # entry_reference
    assert all(t.bank_transaction_id.startswith("h:") for t in page.pending)  # no reference yet
    salary = [t for t in page.booked if t.merchant == "Acme Payroll"]
    assert salary and all(t.amount.amount == Decimal("2450.00") for t in salary)  # CRDT stays positive
    assert all(t.amount.is_negative() for t in page.booked if t.mcc is not None)  # DBIT made negative


async def test_a_new_session_gives_new_uids_and_transaction_ids_but_the_same_ids_here(env: Env) -> None:
    one, two = await _link(env), await _link(env)
    assert [a.account_id for a in one.accounts] == [a.account_id for a in two.accounts]
    account = one.accounts[0].account_id
    since = (START - timedelta(days=20)).date()
    a = await env.connector.transactions(credential=one.credential, account_id=account, since=since)
    b = await env.connector.transactions(credential=two.credential, account_id=account, since=since)
    assert [t.bank_transaction_id for t in a.booked + a.pending] == [
        t.bank_transaction_id for t in b.booked + b.pending
    ]
    sessions = list(env.state.sessions.values())
    assert set(sessions[0].uids).isdisjoint(sessions[1].uids)


async def test_a_pending_entry_is_booked_later_with_an_entry_reference_and_the_pending_one_goes(
    env: Env,
) -> None:
    link = await _link(env)
    current = next(a for a in link.accounts if a.type is AccountType.CHECKING)
    env.state.ledger.add(
        "eb-current",
        amount="-23.90",
        counterparty="Riverside Pharmacy",
        memo="Card purchase",
        posts_after=timedelta(days=1),
        mcc="5912",
    )
    since = START.date() - timedelta(days=2)
    before = await env.connector.transactions(
        credential=link.credential, account_id=current.account_id, since=since
    )
    held = [t for t in before.pending if t.merchant == "Riverside Pharmacy"]
    assert len(held) == 1 and held[0].status is TransactionStatus.PENDING and held[0].booking_date is None
    env.clock.advance(timedelta(days=2))
    after = await env.connector.transactions(
        credential=link.credential, account_id=current.account_id, since=since
    )
    assert held[0].bank_transaction_id not in {t.bank_transaction_id for t in after.booked + after.pending}
    booked = [t for t in after.booked if t.merchant == "Riverside Pharmacy"]
    assert len(booked) == 1 and booked[0].amount == held[0].amount and booked[0].mcc == "5912"
    assert booked[0].booking_date == (START + timedelta(days=1)).date()


async def test_four_unattended_reads_a_day_then_429_with_retry_after_while_attended_reads_still_work(
    env: Env,
) -> None:
    link = await _link(env)
    account = link.accounts[0].account_id
    for _ in range(4):
        await env.connector.transactions(credential=link.credential, account_id=account, since=START.date())
    with pytest.raises(ProviderRateLimited) as limited:
        await env.connector.transactions(credential=link.credential, account_id=account, since=START.date())
    assert limited.value.retry_after == 12 * 3600 and limited.value.remaining == 0
    attended = await env.connector.transactions(
        credential=link.credential, account_id=account, since=START.date(), psu=PSU
    )
    assert env.sent[-1].headers["psu-ip-address"] == PSU.ip_address
    assert attended.account_id == account
    await env.connector.balance(credential=link.credential, account_id=account)  # its own budget
    env.clock.advance(timedelta(hours=12, seconds=1))
    await env.connector.transactions(credential=link.credential, account_id=account, since=START.date())


async def test_after_valid_until_the_session_is_expired_and_every_read_says_consent_expired(env: Env) -> None:
    link = await _link(env, days=2)
    assert link.valid_until == START + timedelta(days=2)
    env.clock.advance(timedelta(days=2, seconds=1))
    with pytest.raises(ProviderConsentExpired):
        await env.connector.accounts(credential=link.credential)
    with pytest.raises(ProviderConsentExpired) as expired:
        await env.connector.transactions(
            credential=link.credential, account_id=link.accounts[0].account_id, since=START.date()
        )
    assert "EXPIRED_SESSION" in expired.value.detail


async def test_revoke_closes_the_session_and_is_idempotent(env: Env) -> None:
    link = await _link(env)
    await env.connector.revoke(credential=link.credential)
    assert env.sent[-1].method == "DELETE"
    with pytest.raises(ProviderConsentExpired):
        await env.connector.balance(credential=link.credential, account_id=link.accounts[0].account_id)
    await env.connector.revoke(credential=link.credential)


async def test_a_declined_consent_and_a_foreign_state_are_refused_with_their_codes(env: Env) -> None:
    start = await env.connector.start_link(
        state="st-2",
        redirect_url=REDIRECT,
        institution_id="FI:Simulated Bank",
        scopes=list(Scope),
        valid_for=timedelta(days=30),
    )
    answer = await _consent(env, start.redirect_url, decision="deny")
    with pytest.raises(ProviderRefused) as declined:
        await env.connector.finish_link(pending=start.pending, answer=answer)
    assert declined.value.code == "consent_declined"
    with pytest.raises(ProviderRefused) as foreign:
        await env.connector.finish_link(pending=start.pending, answer={"code": "x", "state": "other"})
    assert foreign.value.code == "state_mismatch"
    too_long = env.connector.start_link(
        state="st-3",
        redirect_url=REDIRECT,
        institution_id="FI:Simulated Bank",
        scopes=list(Scope),
        valid_for=timedelta(days=400),
    )
    with pytest.raises(ProviderRefused) as refused:
        await too_long
    assert refused.value.code == "WRONG_CONSENT_VALIDITY"


async def test_no_error_or_log_line_holds_the_jwt_the_session_id_or_the_key(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = await _link(env, days=1)
    session_id = next(iter(env.state.sessions))
    token = env.sent[-1].headers["authorization"].removeprefix("Bearer ")
    texts = [repr(link)]
    account = link.accounts[0].account_id
    for _ in range(5):
        try:
            await env.connector.transactions(
                credential=link.credential, account_id=account, since=START.date()
            )
        except ProviderRateLimited as exc:
            texts += [str(exc), repr(exc)]
    env.clock.advance(timedelta(days=2))
    with pytest.raises(ProviderConsentExpired) as expired:
        await env.connector.accounts(credential=link.credential)
    texts += [str(expired.value), repr(expired.value)]
    texts += [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    blob = "\n".join(texts)
    assert "retry in" in blob
    pem = KEY.as_pem(private=True).decode()
    for secret in (token, session_id, pem.splitlines()[1]):
        assert secret not in blob


async def test_refreshing_several_accounts_keeps_one_accounts_429_in_its_place(env: Env) -> None:
    link = await _link(env)
    first, second = (a.account_id for a in link.accounts)
    for _ in range(4):
        await env.connector.transactions(credential=link.credential, account_id=first, since=START.date())
    pages = await env.connector.transactions_many(
        credential=link.credential, account_ids=[first, second], since=START.date()
    )
    assert isinstance(pages[first], ProviderRateLimited)
    assert not isinstance(pages[second], Exception)
    env.clock.advance(timedelta(days=400))
    with pytest.raises(ProviderConsentExpired):  # the whole session: raised, not per account
        await env.connector.transactions_many(
            credential=link.credential, account_ids=[first], since=START.date()
        )
