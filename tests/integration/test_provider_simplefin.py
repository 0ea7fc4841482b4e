"""The SimpleFIN connector against the SimpleFIN Bridge simulator, over real HTTP on 127.0.0.1
(uvicorn), on one frozen clock: claim once, refresh, pending -> posted, quota, revocation,
hostile tokens, and no secret in any error or log line."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from ledgerlink.adapters.banks.simplefin import SimpleFinConnector
from ledgerlink.domain.banking import AccountType, Scope, TransactionStatus
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.sandbox.providers import SimpleFinBridge, SimpleFinConfig, create_simplefin_app
from ledgerlink.sandbox.testing import bind_loopback, serve
from ledgerlink.services.linking.provider_ports import (
    LinkKind,
    ProviderConsentExpired,
    ProviderLink,
    ProviderRateLimited,
    ProviderRefused,
    SetupTokenRejected,
)

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@dataclass
class Env:
    url: str
    clock: FrozenClock
    bridge: SimpleFinBridge
    connector: SimpleFinConnector
    http: httpx.AsyncClient


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FrozenClock(START)
    sock, url = bind_loopback()
    app = create_simplefin_app(SimpleFinConfig(public_url=url, clock=clock, daily_quota=6, quota_leeway=2))
    async with serve(app, sock), httpx.AsyncClient(timeout=10) as http:
        yield Env(
            url,
            clock,
            app.state.bridge,
            SimpleFinConnector(
                http=http, clock=clock, bridge_url=f"{url}/simplefin", allow_insecure_loopback=True
            ),
            http,
        )


async def _link(env: Env) -> ProviderLink:
    start = await env.connector.start_link(
        state="s-1",
        redirect_url="unused",
        institution_id=None,
        scopes=[Scope.BALANCES, Scope.TRANSACTIONS],
        valid_for=timedelta(days=90),
    )
    return await env.connector.finish_link(
        pending=start.pending, answer={"setup_token": env.bridge.issue_setup_token()}
    )


async def test_a_setup_token_from_the_labelled_page_links_once_and_a_reuse_warns_it_may_be_compromised(
    env: Env,
) -> None:
    start = await env.connector.start_link(
        state="s-1",
        redirect_url="unused",
        institution_id=None,
        scopes=list(Scope),
        valid_for=timedelta(days=90),
    )
    assert start.kind is LinkKind.SETUP_TOKEN and start.redirect_url == f"{env.url}/simplefin/create"
    page = await env.http.get(start.redirect_url)
    assert page.status_code == 200 and "SIMULATOR" in page.text
    found = re.search(r"<code id=token>([^<]+)</code>", page.text)
    assert found is not None
    token = found.group(1)

    link = await env.connector.finish_link(pending=start.pending, answer={"setup_token": f"  {token}\n"})
    assert link.valid_until is None and set(link.scopes) == {Scope.BALANCES, Scope.TRANSACTIONS}
    assert {a.type for a in link.accounts} == {AccountType.CHECKING, AccountType.CREDIT_CARD}
    assert {a.last4 for a in link.accounts} == {"4321", "9876"}
    assert all(a.currency == "USD" and a.institution == "Simulated Credit Union" for a in link.accounts)

    with pytest.raises(SetupTokenRejected) as rejected:
        await env.connector.finish_link(pending=start.pending, answer={"setup_token": token})
    assert "someone else may have" in rejected.value.detail and rejected.value.code == "setup_token_rejected"


async def test_a_refresh_reads_booked_and_pending_with_the_balance_and_the_same_ids_every_time(
    env: Env,
) -> None:
    link = await _link(env)
    checking = next(a for a in link.accounts if a.type is AccountType.CHECKING)
    env.bridge.ledger.add(
        "sf-checking", amount="-12.34", counterparty="Corner Grocery", posts_after=timedelta(days=1)
    )
    first = await env.connector.transactions(
        credential=link.credential, account_id=checking.account_id, since=(START - timedelta(days=30)).date()
    )
    assert first.booked and len(first.pending) >= 1
    assert all(
        isinstance(t.amount.amount, Decimal) and t.amount.currency == "USD"
        for t in first.booked + first.pending
    )
    assert all(t.status is TransactionStatus.POSTED and t.booking_date is not None for t in first.booked)
    assert all(t.status is TransactionStatus.PENDING and t.booking_date is None for t in first.pending)
    assert first.balance is not None and first.balance.available is not None
    assert first.balance.available != first.balance.current  # the pending purchase is held

    second = await env.connector.transactions(
        credential=link.credential, account_id=checking.account_id, since=(START - timedelta(days=30)).date()
    )
    assert [t.bank_transaction_id for t in second.booked] == [t.bank_transaction_id for t in first.booked]
    balance = await env.connector.balance(credential=link.credential, account_id=checking.account_id)
    assert balance.current == first.balance.current


async def test_a_pending_purchase_posts_later_under_a_new_id_and_stops_being_listed_as_pending(
    env: Env,
) -> None:
    link = await _link(env)
    card = next(a for a in link.accounts if a.type is AccountType.CREDIT_CARD)
    env.bridge.ledger.add(
        "sf-card",
        amount="-42.50",
        counterparty="Paper & Ink Books",
        memo="Card purchase",
        posts_after=timedelta(days=2),
    )
    since = START.date() - timedelta(days=3)
    before = await env.connector.transactions(
        credential=link.credential, account_id=card.account_id, since=since
    )
    held = [t for t in before.pending if t.amount.amount == Decimal("-42.50")]
    assert len(held) == 1 and held[0].merchant == "Paper & Ink Books"

    env.clock.advance(timedelta(days=3))
    after = await env.connector.transactions(
        credential=link.credential, account_id=card.account_id, since=since
    )
    assert held[0].bank_transaction_id not in {t.bank_transaction_id for t in after.pending + after.booked}
    posted = [
        t for t in after.booked if t.amount.amount == Decimal("-42.50") and t.merchant == held[0].merchant
    ]
    assert len(posted) == 1 and posted[0].bank_transaction_id != held[0].bank_transaction_id
    assert posted[0].pending_transaction_id is None  # SimpleFIN links nothing
    assert posted[0].value_date == held[0].value_date


async def test_a_new_setup_token_for_the_same_bridge_user_keeps_account_and_transaction_ids(env: Env) -> None:
    one, two = await _link(env), await _link(env)
    assert one.credential != two.credential
    assert [a.account_id for a in one.accounts] == [a.account_id for a in two.accounts]
    account = one.accounts[0].account_id
    since = START.date() - timedelta(days=20)
    a = await env.connector.transactions(credential=one.credential, account_id=account, since=since)
    b = await env.connector.transactions(credential=two.credential, account_id=account, since=since)
    assert [t.bank_transaction_id for t in a.booked] == [t.bank_transaction_id for t in b.booked]


async def test_past_24_a_day_the_bridge_warns_in_errlist_then_refuses_with_retry_after_until_tomorrow(
    env: Env,
) -> None:
    link = await _link(env)  # the link read the accounts: request 1 of 6
    account = link.accounts[0].account_id
    since = START.date()
    for _ in range(5):  # requests 2..6: within the quota, no warning
        page = await env.connector.transactions(credential=link.credential, account_id=account, since=since)
        assert not page.notices
    for n in (7, 8):  # the leeway: answered, with the Bridge's warning
        page = await env.connector.transactions(credential=link.credential, account_id=account, since=since)
        assert [x.code for x in page.notices] == ["gen."] and f"{n} requests today" in page.notices[0].message
    with pytest.raises(ProviderRateLimited) as limited:
        await env.connector.transactions(credential=link.credential, account_id=account, since=since)
    assert limited.value.retry_after == 12 * 3600 and limited.value.remaining == 0
    assert limited.value.status == 429

    env.clock.advance(timedelta(hours=12, seconds=1))  # a new UTC day: the quota is back
    page = await env.connector.transactions(credential=link.credential, account_id=account, since=since)
    assert not page.notices


async def test_access_disabled_at_the_bridge_is_an_expired_consent(env: Env) -> None:
    link = await _link(env)
    env.bridge.disable_access()
    with pytest.raises(ProviderConsentExpired):
        await env.connector.accounts(credential=link.credential)


async def test_errlist_items_reach_the_person_sanitised_and_a_failed_account_is_refused_with_its_code(
    env: Env,
) -> None:
    link = await _link(env)
    checking = next(a for a in link.accounts if a.type is AccountType.CHECKING)
    env.bridge.inject_error(
        "act.missingdata",
        "Incomplete \u202etransaction\u202c listing.\nTry again later.",
        account_key="sf-checking",
    )
    page = await env.connector.transactions(
        credential=link.credential, account_id=checking.account_id, since=START.date()
    )
    assert [(n.code, n.message) for n in page.notices] == [
        ("act.missingdata", "Incomplete transaction listing. Try again later.")
    ]
    with pytest.raises(ProviderRefused) as refused:
        await env.connector.transactions(
            credential=link.credential, account_id="ACT-unknown", since=START.date()
        )
    assert refused.value.code == "account_missing"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("not base64 at all!", "setup_token_malformed"),
        (base64.b64encode(b"http://10.0.0.1/simplefin/claim/x").decode(), "provider_bad_url"),
        (base64.b64encode(b"https://internal.example/simplefin/claim/x").decode(), "setup_token_host"),
        ("", "setup_token_malformed"),
    ],
)
async def test_a_hostile_setup_token_is_refused_before_any_request(env: Env, token: str, code: str) -> None:
    start = await env.connector.start_link(
        state="s", redirect_url="unused", institution_id=None, scopes=list(Scope), valid_for=timedelta(days=1)
    )
    with pytest.raises(InvalidInput) as refused:
        await env.connector.finish_link(pending=start.pending, answer={"setup_token": token})
    assert refused.value.code == code
    assert "internal.example" not in refused.value.detail and "10.0.0.1" not in refused.value.detail


async def test_no_error_message_or_log_line_shows_the_access_url_or_a_setup_token(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = env.bridge.issue_setup_token()
    claim_secret = base64.b64decode(token).decode().rsplit("/", 1)[1]
    start = await env.connector.start_link(
        state="s", redirect_url="unused", institution_id=None, scopes=list(Scope), valid_for=timedelta(days=1)
    )
    link = await env.connector.finish_link(pending=start.pending, answer={"setup_token": token})
    access = env.bridge._access[next(iter(env.bridge._access))]
    secrets = [access.username, access.password, claim_secret, token]
    texts: list[str] = [repr(link), repr(start)]
    failures = [env.connector.finish_link(pending=start.pending, answer={"setup_token": token})]
    for coro in failures:
        with pytest.raises(SetupTokenRejected) as exc:
            await coro
        texts += [str(exc.value), repr(exc.value), exc.value.detail]
    for _ in range(10):  # through the leeway into the 429
        try:
            await env.connector.accounts(credential=link.credential)
        except ProviderRateLimited as exc:
            texts += [str(exc), repr(exc)]
    env.bridge.disable_access()
    with pytest.raises(ProviderConsentExpired) as expired:
        await env.connector.accounts(credential=link.credential)
    texts += [str(expired.value), repr(expired.value)]
    # httpx's own INFO line names the request URL (the claim URL's path holds the one-time
    # token): the platform keeps the "httpx" logger at WARNING (cli/commands.py).
    texts += [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    blob = "\n".join(texts)
    assert any("429" in t or "quota" in t for t in texts)
    for secret in secrets:
        assert secret not in blob


async def test_one_request_refreshes_every_account_and_an_unknown_one_gets_its_own_error(env: Env) -> None:
    link = await _link(env)
    ids = [a.account_id for a in link.accounts]
    before = env.bridge.budget.used(("access", next(iter(env.bridge._access))))
    pages = await env.connector.transactions_many(
        credential=link.credential, account_ids=[*ids, "ACT-gone"], since=START.date() - timedelta(days=10)
    )
    assert env.bridge.budget.used(("access", next(iter(env.bridge._access)))) == before + 1
    for account_id in ids:
        page = pages[account_id]
        assert not isinstance(page, Exception) and page.account_id == account_id and page.balance is not None
    gone = pages["ACT-gone"]
    assert isinstance(gone, ProviderRefused) and gone.code == "account_missing"
