"""The GoCardless connector against the GoCardless Bank Account Data simulator, over real HTTP
on 127.0.0.1 (uvicorn), on one frozen clock: tokens (new, reuse, refresh), agreement and
requisition, booked and pending, the per-account-and-scope limit headers and 429, pending ->
booked, stable ids across requisitions, agreement expiry, revocation, and no secret in any
error or log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from ledgerlink.adapters.banks.gocardless import GoCardlessConnector
from ledgerlink.domain.banking import AccountType, Scope, TransactionStatus
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox.providers import GoCardlessConfig, GoCardlessState, create_gocardless_app
from ledgerlink.sandbox.testing import bind_loopback, serve
from ledgerlink.services.linking.provider_ports import (
    ProviderConsentExpired,
    ProviderLink,
    ProviderRateLimited,
    ProviderRefused,
)

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SECRET_ID, SECRET_KEY = "sim-secret-id-1", "sim-secret-key-do-not-log"
REDIRECT = "https://ledgerlink.example/link/gocardless/callback"
BANK = "SANDBOXFINANCE_SFIN0000"


@dataclass
class Env:
    clock: FrozenClock
    state: GoCardlessState
    connector: GoCardlessConnector
    sent: list[httpx.Request]
    url: str
    http: httpx.AsyncClient


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FrozenClock(START)
    sock, url = bind_loopback()
    app = create_gocardless_app(
        GoCardlessConfig(public_url=url, clock=clock, secrets={SECRET_ID: SECRET_KEY})
    )
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async with serve(app, sock), httpx.AsyncClient(timeout=10, event_hooks={"request": [record]}) as http:
        yield Env(
            clock,
            app.state.gocardless,
            GoCardlessConnector(
                http=http,
                clock=clock,
                secret_id=SECRET_ID,
                secret_key=SECRET_KEY,
                api_url=url,
                allow_insecure_loopback=True,
            ),
            sent,
            url,
            http,
        )


async def _consent(env: Env, link: str, decision: str = "approve") -> dict[str, str]:
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link)
        assert page.status_code == 200 and "SIMULATOR" in page.text and "Sandbox Finance" in page.text
        token = page.text.split('name=form_token value="')[1].split('"')[0]
        resp = await browser.post(link, data={"form_token": token, "decision": decision})
    assert resp.status_code == 302 and resp.headers["location"].startswith(REDIRECT)
    return dict(parse_qsl(urlsplit(resp.headers["location"]).query))


async def _link(env: Env, *, state: str = "ref-1", days: int = 90) -> ProviderLink:
    start = await env.connector.start_link(
        state=state,
        redirect_url=REDIRECT,
        institution_id=BANK,
        scopes=[Scope.BALANCES, Scope.TRANSACTIONS],
        valid_for=timedelta(days=days),
    )
    return await env.connector.finish_link(
        pending=start.pending, answer=await _consent(env, start.redirect_url)
    )


def _paths(env: Env) -> list[str]:
    return [r.url.path for r in env.sent]


async def test_one_token_is_bought_reused_refreshed_after_a_day_and_bought_again_after_the_refresh_ends(
    env: Env,
) -> None:
    banks = await env.connector.institutions(country="nl")
    assert {b.id for b in banks} == {BANK, "SIMULATED_SIMUNL2A"}
    assert {b.max_consent_days for b in banks} == {180, 90}
    await env.connector.institutions(country="NL")
    assert _paths(env).count("/api/v2/token/new/") == 1
    env.clock.advance(timedelta(days=1))
    await env.connector.institutions(country="NL")
    assert _paths(env).count("/api/v2/token/refresh/") == 1 and _paths(env).count("/api/v2/token/new/") == 1
    env.clock.advance(timedelta(days=31))
    await env.connector.institutions(country="NL")
    assert _paths(env).count("/api/v2/token/new/") == 2

    for token in [k for k, v in env.state.tokens.items() if v.kind == "access"]:
        del env.state.tokens[token]  # the server forgot our access token: refresh once and go on
    assert await env.connector.institutions(country="NL")

    wrong = GoCardlessConnector(
        http=env.http,
        clock=env.clock,
        secret_id=SECRET_ID,
        secret_key="nope",
        api_url=env.url,
        allow_insecure_loopback=True,
    )
    with pytest.raises(ProviderRefused) as refused:
        await wrong.institutions(country="NL")
    assert refused.value.code == "application_unauthorized"


async def test_an_agreement_and_a_requisition_link_the_accounts_with_the_consents_end(env: Env) -> None:
    link = await _link(env)
    assert link.valid_until == START + timedelta(days=90)
    assert set(link.scopes) == {Scope.BALANCES, Scope.TRANSACTIONS}
    assert {a.type for a in link.accounts} == {AccountType.CHECKING, AccountType.CREDIT_CARD}
    assert {a.last4 for a in link.accounts} == {"4300", "2606"}
    assert all(a.account_id.startswith("gc-") and "NL91" not in a.account_id for a in link.accounts)
    agreement = next(iter(env.state.agreements.values()))
    assert agreement.access_scope == ["details", "balances", "transactions"]
    assert await env.connector.accounts(credential=link.credential) == list(link.accounts)


async def test_a_refresh_reads_booked_and_pending_and_reports_what_is_left_of_the_daily_limit(
    env: Env,
) -> None:
    link = await _link(env)
    main = next(a for a in link.accounts if a.type is AccountType.CHECKING)
    env.state.ledger.add(
        "gc-current", amount="-8.20", counterparty="Blue Bottle Cafe", posts_after=timedelta(days=1)
    )
    page = await env.connector.transactions(
        credential=link.credential, account_id=main.account_id, since=(START - timedelta(days=30)).date()
    )
    assert page.booked and page.pending
    assert all(t.status is TransactionStatus.POSTED and t.booking_date for t in page.booked)
    assert all(isinstance(t.amount.amount, Decimal) for t in page.booked + page.pending)
    assert page.quota is not None and (page.quota.limit, page.quota.remaining) == (4, 3)
    assert page.quota.reset_after == 12 * 3600
    balance = await env.connector.balance(credential=link.credential, account_id=main.account_id)
    assert balance.available is not None and balance.available != balance.current


async def test_the_fifth_read_of_a_scope_is_429_with_the_wait_from_its_headers_and_others_still_work(
    env: Env,
) -> None:
    link = await _link(env)
    account = link.accounts[0].account_id
    for left in (3, 2, 1, 0):
        page = await env.connector.transactions(
            credential=link.credential, account_id=account, since=START.date()
        )
        assert page.quota is not None and page.quota.remaining == left
    with pytest.raises(ProviderRateLimited) as limited:
        await env.connector.transactions(credential=link.credential, account_id=account, since=START.date())
    assert limited.value.retry_after == 12 * 3600 and limited.value.remaining == 0
    await env.connector.balance(credential=link.credential, account_id=account)  # another scope
    env.clock.advance(timedelta(hours=12, seconds=1))
    await env.connector.transactions(credential=link.credential, account_id=account, since=START.date())


async def test_a_pending_entry_is_booked_later_under_the_banks_transaction_id(env: Env) -> None:
    link = await _link(env)
    card = next(a for a in link.accounts if a.type is AccountType.CREDIT_CARD)
    env.state.ledger.add(
        "gc-card",
        amount="-61.00",
        counterparty="North Fuel",
        memo="Card purchase",
        posts_after=timedelta(days=1),
        mcc="5541",
    )
    since = START.date() - timedelta(days=1)
    before = await env.connector.transactions(
        credential=link.credential, account_id=card.account_id, since=since
    )
    held = [t for t in before.pending if t.merchant == "North Fuel"]
    assert len(held) == 1
    env.clock.advance(timedelta(days=2))
    after = await env.connector.transactions(
        credential=link.credential, account_id=card.account_id, since=since
    )
    assert not [t for t in after.pending if t.merchant == "North Fuel"]
    booked = [t for t in after.booked if t.merchant == "North Fuel"]
    assert len(booked) == 1 and booked[0].bank_transaction_id != held[0].bank_transaction_id
    assert booked[0].amount.amount == Decimal("-61.00") and booked[0].mcc == "5541"


async def test_a_new_requisition_gives_new_gocardless_account_ids_but_the_same_ids_here(env: Env) -> None:
    one = await _link(env, state="ref-a")
    two = await _link(env, state="ref-b")
    first, second = list(env.state.requisitions.values())
    assert set(first.accounts).isdisjoint(second.accounts)
    assert [a.account_id for a in one.accounts] == [a.account_id for a in two.accounts]
    account = one.accounts[0].account_id
    since = (START - timedelta(days=20)).date()
    a = await env.connector.transactions(credential=one.credential, account_id=account, since=since)
    b = await env.connector.transactions(credential=two.credential, account_id=account, since=since)
    assert [t.bank_transaction_id for t in a.booked] == [t.bank_transaction_id for t in b.booked]


async def test_after_access_valid_for_days_every_read_says_consent_expired(env: Env) -> None:
    link = await _link(env, days=2)
    assert link.valid_until == START + timedelta(days=2)
    env.clock.advance(timedelta(days=2, seconds=1))
    with pytest.raises(ProviderConsentExpired):
        await env.connector.transactions(
            credential=link.credential, account_id=link.accounts[0].account_id, since=START.date()
        )
    with pytest.raises(ProviderConsentExpired):
        await env.connector.accounts(credential=link.credential)  # the requisition is EX


async def test_a_cancelled_consent_and_a_foreign_ref_are_refused_and_revoke_is_idempotent(env: Env) -> None:
    start = await env.connector.start_link(
        state="ref-x",
        redirect_url=REDIRECT,
        institution_id=BANK,
        scopes=list(Scope),
        valid_for=timedelta(days=400),
    )
    assert next(iter(env.state.agreements.values())).access_valid_for_days == 180  # the bank's maximum
    answer = await _consent(env, start.redirect_url, decision="deny")
    assert answer["error"] == "UserCancelledSession"
    with pytest.raises(ProviderRefused) as declined:
        await env.connector.finish_link(pending=start.pending, answer=answer)
    assert declined.value.code == "consent_declined"
    with pytest.raises(ProviderRefused) as foreign:
        await env.connector.finish_link(pending=start.pending, answer={"ref": "someone-else"})
    assert foreign.value.code == "state_mismatch"

    link = await _link(env, state="ref-y")
    await env.connector.revoke(credential=link.credential)
    assert env.sent[-1].method == "DELETE"
    await env.connector.revoke(credential=link.credential)
    with pytest.raises(ProviderRefused):
        await env.connector.balance(credential=link.credential, account_id=link.accounts[0].account_id)


async def test_no_error_or_log_line_holds_the_secret_key_or_a_token(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = await _link(env, days=1)
    tokens = list(env.state.tokens)
    texts = [repr(link), repr(env.connector)]
    for _ in range(5):
        try:
            await env.connector.transactions(
                credential=link.credential, account_id=link.accounts[0].account_id, since=START.date()
            )
        except ProviderRateLimited as exc:
            texts += [str(exc), repr(exc)]
    env.clock.advance(timedelta(days=2))
    with pytest.raises(ProviderConsentExpired) as expired:
        await env.connector.balance(credential=link.credential, account_id=link.accounts[0].account_id)
    texts += [str(expired.value), repr(expired.value)]
    texts += [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    blob = "\n".join(texts)
    assert "retry in" in blob
    for secret in (SECRET_KEY, *tokens):
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
    page = pages[second]
    assert not isinstance(page, Exception) and page.quota is not None and page.quota.remaining == 3
