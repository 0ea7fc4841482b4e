"""The three bank-data providers linked through the real link flow: the messenger's link page over
HTTP on 127.0.0.1, each provider's simulator mounted in the platform as in the demo, on SQLite and
PostgreSQL, on one frozen clock. Then refreshes, a re-consent that keeps every id, an ended
consent that asks for Reconnect once, and the scheduler keeping every budget."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Stack, running_stack

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
PROVIDERS = ("simplefin", "enablebanking", "gocardless")


@pytest.fixture
async def pstack(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Stack, FrozenClock]]:
    clock = FrozenClock(START)
    async with running_stack(tmp_path, db_url, clock=clock) as s:
        yield s, clock


def _csrf(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def _between(html: str, left: str, right: str) -> str:
    return html.split(left, 1)[1].split(right, 1)[0]


async def _sign_up(http: httpx.AsyncClient, handle: str) -> str:
    page = await http.get("/register")
    resp = await http.post("/register", data={"csrf": _csrf(page.text), "handle": handle,
                                              "display_name": handle, "password": PASSWORD,
                                              "password_confirm": PASSWORD})
    assert resp.status_code == 303, resp.text
    return handle


async def _bank_consent(http: httpx.AsyncClient, url: str, decision: str = "approve") -> str:
    """The person at the simulated bank: approve (or decline); returns where the bank sends them."""
    page = await http.get(url)
    assert page.status_code == 200 and "SIMULATOR" in page.text
    token = _between(page.text, 'name=form_token value="', '"')
    action = _between(page.text, 'action="', '"')
    resp = await http.post(action, data={"form_token": token, "decision": decision})
    assert resp.status_code == 302, resp.text
    return resp.headers["location"]


async def link_via_web(stack: Stack, http: httpx.AsyncClient, slug: str, *, renews: str | None = None,
                       decision: str = "approve", scopes: tuple[str, ...] = ("balances", "transactions")
                       ) -> httpx.Response:
    """Link (or reconnect) `slug` the way a person does: link page, provider page, bank, back."""
    if renews is None:
        listing = await http.get("/link")
        start = await http.post("/link", data={"csrf": _csrf(listing.text), "partner_id": f"ptn_{slug}"})
        assert start.status_code == 303 and start.headers["location"] == f"/link/provider/{slug}"
        page = await http.get(start.headers["location"])
    else:
        page = await http.get(f"/link/provider/{slug}", params={"renews": renews})
    assert page.status_code == 200 and 'data-testid="simulator-note"' in page.text
    form = {"csrf": _csrf(page.text), **{f"scope_{s}": s for s in scopes}}
    if renews:
        form["renews"] = renews
    if slug == "simplefin":
        setup = await http.get(_between(page.text, 'data-testid="setup-page" href="', '"'))
        form["setup_token"] = _between(setup.text, "<code id=token>", "</code>")
        return await http.post(f"/link/provider/{slug}", data=form)
    banks = page.text[page.text.index('name="institution_id"'):]  # the bank list, not the countries
    form["institution_id"] = _between(banks, '<option value="', '"')
    form["country"] = _between(page.text, 'name="country" value="', '"')
    to_bank = await http.post(f"/link/provider/{slug}", data=form)
    assert to_bank.status_code == 303, to_bank.text
    back = await _bank_consent(http, to_bank.headers["location"], decision)
    assert back.startswith(f"{stack.platform_url}/link/{slug}/callback")
    return await http.get(back)


async def _linked(stack: Stack, slug: str, handle: str = "pat") -> tuple[httpx.AsyncClient, Grant, str]:
    http = stack.client()
    await _sign_up(http, handle)
    done = await link_via_web(stack, http, slug)
    assert done.status_code == 303 and done.headers["location"].startswith("/threads/"), done.text
    await stack.container.drain()
    async with stack.deps.uow(readonly=True) as uow:
        person = await uow.persons.by_handle(handle)
    assert person is not None
    return http, Grant.for_person(person.id), done.headers["location"].removeprefix("/threads/")


async def _transactions(stack: Stack, grant: Grant, thread_id: str) -> list:
    return [m for m in await messenger.thread_messages(stack.deps, grant, thread_id)
            if m.kind is CardKind.TRANSACTION]


async def test_the_link_page_lists_each_provider_beside_the_sandbox_banks_labelled_simulator(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    stack, _ = pstack
    async with stack.client() as http:
        await _sign_up(http, "lee")
        page = await http.get("/link")
    assert 'data-testid="bank-sandbox-bank"' in page.text
    for slug in PROVIDERS:
        assert f'data-testid="bank-{slug}"' in page.text and f'data-testid="simulator-{slug}"' in page.text


@pytest.mark.parametrize("slug", PROVIDERS)
async def test_each_provider_links_through_the_link_page_and_its_first_refresh_fills_the_thread(
    pstack: tuple[Stack, FrozenClock], slug: str,
) -> None:
    stack, _ = pstack
    http, grant, thread_id = await _linked(stack, slug)
    await http.aclose()
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    balances = [m for m in messages if m.kind is CardKind.BALANCE]
    assert balances and all(card.body["current"] is not None for card in balances)
    async with stack.deps.uow(readonly=True) as uow:
        links = await uow.links.for_person(grant.person_id)
        accounts = await uow.accounts.for_person(grant.person_id)
    assert [lk.status for lk in links] == ["active"]
    assert links[0].scopes == ["balances", "transactions"]
    assert accounts and all(a.sync_cursor for a in accounts)
    if slug != "simplefin":  # the consent's end is the session's / agreement's
        assert links[0].expires_at is not None and links[0].expires_at > START + timedelta(days=30)


async def _ids(stack: Stack, person_id: str) -> tuple[set[str], set[str]]:
    async with stack.container.engine.connect() as conn:
        accounts = {r[0] for r in await conn.execute(
            text("SELECT id FROM accounts WHERE person_id = :p"), {"p": person_id})}
        txns = {r[0] for r in await conn.execute(
            text("SELECT t.id FROM transactions t JOIN accounts a ON a.id = t.account_id "
                 "WHERE a.person_id = :p"), {"p": person_id})}
    return accounts, txns


async def _link_id(stack: Stack, person_id: str) -> str:
    async with stack.deps.uow(readonly=True) as uow:
        found = [lk for lk in await uow.links.for_person(person_id) if lk.status == "active"]
    assert len(found) == 1
    return found[0].id


@pytest.mark.parametrize("slug", ["enablebanking", "gocardless"])
async def test_a_re_consent_keeps_the_link_thread_account_and_transaction_ids(
    pstack: tuple[Stack, FrozenClock], slug: str,
) -> None:
    stack, clock = pstack
    http, grant, thread_id = await _linked(stack, slug)
    link_id = await _link_id(stack, grant.person_id)
    accounts, txns = await _ids(stack, grant.person_id)
    assert accounts and txns
    clock.advance(timedelta(days=3))
    again = await link_via_web(stack, http, slug, renews=link_id)
    assert again.status_code == 303 and again.headers["location"] == f"/threads/{thread_id}", again.text
    await stack.container.drain()
    page = await http.get("/")
    await http.post(f"/links/{link_id}/refresh", data={"csrf": _csrf(page.text)})
    await stack.container.drain()
    await http.aclose()
    assert await _link_id(stack, grant.person_id) == link_id
    accounts_after, txns_after = await _ids(stack, grant.person_id)
    assert accounts_after == accounts
    assert txns <= txns_after  # the same rows; only entries new since then are added


async def test_an_ended_consent_asks_for_reconnect_once_and_stops_refreshing(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    stack, clock = pstack
    http, grant, thread_id = await _linked(stack, "enablebanking")
    link_id = await _link_id(stack, grant.person_id)
    sim = stack.container.provider_simulator_apps["/sandbox/enablebanking"].state.enablebanking
    for session in sim.sessions.values():
        session.closed = clock.now()
    clock.advance(timedelta(minutes=5))
    page = await http.get("/")
    first = await http.post(f"/links/{link_id}/refresh", data={"csrf": _csrf(page.text)})
    assert first.status_code == 303
    await stack.container.drain()
    clock.advance(timedelta(minutes=5))
    second = await http.post(f"/links/{link_id}/refresh", data={"csrf": _csrf(page.text)})
    assert second.status_code == 409 and second.json()["code"] == "needs_reconnect"
    for _ in range(3):  # unattended ticks send nothing while the consent is gone
        clock.advance(timedelta(hours=3))
        await stack.container.scheduler.sync_all()
        await stack.container.drain()
    await http.aclose()
    cards = [m for m in await messenger.thread_messages(stack.deps, grant, thread_id)
             if "needs your attention" in str(m.body)]
    assert len(cards) == 1 and "Reconnect" in str(cards[0].body)
    assert await _link_id(stack, grant.person_id) == link_id  # kept, to be reconnected
    async with stack.container.engine.connect() as conn:
        results = [r[0] for r in await conn.execute(text(
            "SELECT result FROM refresh_attempts WHERE at > :t ORDER BY at"), {"t": START})]
    assert results.count("needs_reconnect") == 1 and "pending" not in results


async def test_a_week_of_unattended_refreshes_keeps_every_budget_under_a_frozen_clock(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    stack, clock = pstack
    for n, slug in enumerate(PROVIDERS):
        http, _, _ = await _linked(stack, slug, handle=f"p{n}")
        await http.aclose()
    step = timedelta(minutes=20)
    for _ in range(int(timedelta(days=7) / step)):
        clock.advance(step)
        await stack.container.scheduler.sync_all()
        await stack.container.drain()
    async with stack.container.engine.connect() as conn:
        rows = [(r[0], r[1], bool(r[2]), r[3]) for r in await conn.execute(text(
            "SELECT target_id, at, attended, result FROM refresh_attempts WHERE result <> 'reconnected'"))]
    kinds = {t.id: t.provider for t in await stack.container.refresh_worker.targets.all()}
    assert len(kinds) == 2 + 2 + 1  # two accounts each at Enable Banking and GoCardless, one token
    limits = {"psd2": 4, "gocardless": 4, "simplefin": 24}
    for target, kind in kinds.items():
        counted = sorted(_as_utc(at) for t, at, attended, _ in rows
                         if t == target and (kind.value != "psd2" or not attended))
        assert len(counted) >= 7 * 2, (target, len(counted))  # it did refresh, every day
        if kind.value == "gocardless":  # as its headers say: a window per UTC day, honoured
            per_day = Counter(at.date() for at in counted)
            assert max(per_day.values()) <= limits["gocardless"], (target, per_day)
            continue
        for i, at in enumerate(counted):
            window = [x for x in counted[i:] if x - at < timedelta(hours=24)]
            assert len(window) <= limits[kind.value], (target, at, len(window))
    # Never a 429, never a failed read: every budget was kept, as each simulator counts it.
    assert [r for r in rows if r[3] != "ok"] == []
    async with stack.container.engine.connect() as conn:
        reported = [json.loads(r[1]) if r[1] else None for r in await conn.execute(text(
            "SELECT target_id, quotas FROM refresh_attempts WHERE result = 'ok'")) if r[0] in {
                t for t, k in kinds.items() if k.value == "gocardless"}]
    # Each GoCardless answer's HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_* headers, recorded per scope.
    assert reported and all(q is not None and {s for s, *_ in q} == {"balances", "transactions"}
                            and all(0 <= rem < 4 and lim == 4 for _, rem, _, lim in q) for q in reported)


def _as_utc(value: object) -> datetime:
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
