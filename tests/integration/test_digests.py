"""Daily and weekly digests under a controlled clock, and alerts held during quiet hours."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Stack, fast_hasher, running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_person_rights import SCHEMA, _validate

from ledgerlink.adapters.db import schema
from ledgerlink.bootstrap import SANDBOX_PARTNER_ID, bootstrap
from ledgerlink.domain import alerts
from ledgerlink.domain.cards import MINIMAL_PREVIEW, plain_text, preview_text
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.web.rendering import render_message
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.alerts import digests, rules
from ledgerlink.services.linking import links
from ledgerlink.services.messaging import messenger, read_state
from ledgerlink.services.messaging.ports import MessageView
from ledgerlink.services.privacy import rights
from ledgerlink.services.privacy.retention import RetentionPolicy, purge
from ledgerlink.services.questions import commands

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _noon() -> datetime:
    return datetime.combine(datetime.now(UTC).date(), time(12), tzinfo=UTC)


async def _link_bank_login(stack: Stack, grant: Grant, login: str) -> str:
    """Link one more bank login (another currency) for the same person."""
    url = await links.start_link(stack.deps, grant, partner_id=SANDBOX_PARTNER_ID)
    async with httpx.AsyncClient(timeout=10.0) as browser:
        resp = await browser_consent(browser, url, login=login)
    query = parse_qs(urlparse(resp.headers["location"]).query)
    thread_id = await links.complete_link(stack.deps, grant, state=query["state"][0], code=query["code"][0])
    await stack.container.drain()
    return thread_id


async def _say(stack: Stack, grant: Grant, thread_id: str, text: str) -> str:
    await commands.handle_text(stack.deps, grant, thread_id, text)
    return str((await messenger.thread_messages(stack.deps, grant, thread_id))[-1].body["text"])


async def _system_thread(stack: Stack, grant: Grant) -> str:
    return next(t.id for t in await messenger.list_threads(stack.deps, grant) if t.kind.value == "system")


async def _digests(stack: Stack, grant: Grant) -> list[MessageView]:
    system = await _system_thread(stack, grant)
    return [
        m for m in await messenger.thread_messages(stack.deps, grant, system) if m.kind is CardKind.DIGEST
    ]


async def _large_alerts(stack: Stack, grant: Grant, thread_id: str) -> list[str]:
    return [
        m.body["text"]
        for m in await messenger.thread_messages(stack.deps, grant, thread_id)
        if m.body.get("alert") == alerts.LARGE
    ]


async def _held_rows(stack: Stack) -> list[bool]:
    """Whether each held-alert row was released, oldest first."""
    h = schema.held_alerts
    async with stack.container.engine.connect() as conn:
        rows = (await conn.execute(select(h.c.released_at).order_by(h.c.held_at))).all()
    return [r[0] is not None for r in rows]


def _currency(body: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in body["currencies"] if c["currency"] == code)


async def test_a_daily_digest_gives_each_currency_its_own_totals_and_comes_once_a_day(
    tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(_noon())
    day0 = clock.now().date()
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, usd_thread = await _linked(stack)  # alice: USD
        await _link_bank_login(stack, grant, "bob")  # bob: EUR, same person
        reply = await _say(stack, grant, usd_thread, "Send me a daily digest at 8")
        assert reply.startswith("Done: Daily digest at 08:00 (UTC)")
        bank = stack.bank
        groceries = await bank.purchase("alice", merchant="Whole Foods Market", amount="23.10")
        await bank.purchase("alice", merchant="Starbucks", amount="4.75")
        await bank.purchase("alice", merchant="Best Buy", amount="750.00")
        await bank.deposit("alice", amount="1000.00", description="PAYROLL ACME CORP DIR DEP")
        await bank.purchase("bob", merchant="Lidl", amount="12.00")
        await stack.container.drain()

        assert (await digests.tick(stack.deps)).digests == 0  # not due before 08:00 tomorrow
        clock.advance(timedelta(hours=19, minutes=59))  # day 1, 07:59
        assert (await digests.tick(stack.deps)).digests == 0
        assert await _digests(stack, grant) == []
        clock.advance(timedelta(minutes=2))
        assert (await digests.tick(stack.deps)).digests == 1

        [first] = await _digests(stack, grant)
        body = first.body
        assert body["digest"] == "daily"
        assert body["period"]["start"] == body["period"]["end"] == day0.isoformat()
        usd, eur = _currency(body, "USD"), _currency(body, "EUR")
        assert (usd["spent"], usd["purchases"]) == ("777.85", 3)
        assert {c["name"]: c["amount"] for c in usd["categories"]} == {
            "Electronics": "750.00", "Groceries": "23.10", "Coffee": "4.75"  # issue 13
        }  # fmt: skip
        assert [p["merchant"] for p in usd["largest"]] == ["Best Buy", "Whole Foods Market", "Starbucks"]
        assert usd["deposited"] == "1000.00" and usd["deposit_count"] == 1
        assert (eur["spent"], eur["purchases"], eur["deposit_count"]) == ("12.00", 1, 0)
        balances = body["balances"]
        assert len(balances) == len(bank.accounts_of("alice")) + len(bank.accounts_of("bob"))
        assert {b["currency"] for b in balances} == {"USD", "EUR"} and all(b["current"] for b in balances)
        assert body["held"] == []
        text = plain_text(CardKind.DIGEST, body)
        assert "Spent 777.85 USD in 3 purchases" in text and "Spent 12.00 EUR in 1 purchase:" in text
        assert "Deposits: +1000.00 USD" in text and "No alerts were held." in text
        for level in ("amount_hidden", "merchant_hidden", "minimal"):
            preview = preview_text(CardKind.DIGEST, body, level)
            assert "777" not in preview and "Best Buy" not in preview
        assert preview_text(CardKind.DIGEST, body, "minimal") == MINIMAL_PREVIEW
        html = render_message(first)
        assert 'data-testid="digest-card"' in html and "$777.85" in html and "€12.00" in html

        # Day 1: the groceries post (the same purchase: counted on day 0 only) and a new coffee.
        await bank.post(groceries)
        await bank.purchase("alice", merchant="Starbucks", amount="5.00")
        await stack.container.drain()
        assert (await digests.tick(stack.deps)).digests == 0  # day 0 was sent already
        clock.advance(timedelta(days=1))
        assert (await digests.tick(stack.deps)).digests == 1
        assert (await digests.tick(stack.deps)).digests == 0
        first_again, second = await _digests(stack, grant)
        assert first_again.id == first.id and first_again.rev == first.rev  # never edited
        assert second.body["period"]["start"] == (day0 + timedelta(days=1)).isoformat()
        usd = _currency(second.body, "USD")
        assert (usd["spent"], usd["purchases"]) == ("5.00", 1)
        assert all(c["currency"] != "EUR" for c in second.body["currencies"])


def _next_local(now: datetime, *, weekday: int, hour: int, offset: int) -> datetime:
    """The next `weekday` at `hour` local (UTC`offset`) after `now`, as UTC."""
    tz = timezone(timedelta(hours=offset))
    local = now.astimezone(tz)
    days = (weekday - local.weekday()) % 7
    if days == 0 and local.hour >= hour:
        days = 7
    day: date = local.date() + timedelta(days=days)
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


async def test_an_alert_in_quiet_hours_is_held_and_arrives_once_in_the_weekly_digest(
    tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(_noon())
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        await digests.set_zone(stack.deps, grant, "Etc/GMT-1")  # a fixed UTC+1 (ADR 0025)
        await rules.set_quiet_hours(stack.deps, grant, start="22", end="7")
        reply = await _say(stack, grant, thread_id, "weekly digest on monday at 9")
        assert reply == (
            "Done: Weekly digest on Mondays at 09:00 (UTC+1), covering the 7 days before. "
            "It arrives in your Ledgerlink thread."
        )
        clock.advance(timedelta(hours=9, minutes=30))  # 22:30 local: quiet
        purchase = await stack.bank.purchase("alice", merchant="Best Buy", amount="750.00")
        await stack.container.drain()
        await stack.bank.post(purchase)  # the same fact again: still held, never sent
        await stack.container.drain()
        assert await _large_alerts(stack, grant, thread_id) == []
        async with stack.deps.uow() as uow:
            held = await uow.digests.held_pending(grant.person_id, held_before=clock.now())
        assert len(held) == 1 and held[0].sealed is not None

        clock.advance(timedelta(hours=9))  # 07:30 local: quiet hours over, but a digest is set
        report = await digests.tick(stack.deps)
        assert (report.digests, report.away) == (0, 0)
        due = _next_local(clock.now(), weekday=0, hour=9, offset=1)
        clock.advance(due - clock.now() - timedelta(seconds=1))
        assert (await digests.tick(stack.deps)).digests == 0
        clock.advance(timedelta(seconds=31))
        assert (await digests.tick(stack.deps)).digests == 1

        [digest] = await _digests(stack, grant)
        assert digest.body["digest"] == "weekly"
        start, end = (
            date.fromisoformat(digest.body["period"]["start"]),
            date.fromisoformat(digest.body["period"]["end"]),
        )
        assert (end - start).days == 6 and end == due.astimezone(
            timezone(timedelta(hours=1))
        ).date() - timedelta(days=1)
        [item] = digest.body["held"]
        assert (
            "Large purchase" in item["text"] and "Best Buy" in item["text"] and item["bank"] == "Sandbox Bank"
        )
        assert _currency(digest.body, "USD")["largest"][0]["merchant"] == "Best Buy"
        assert await _large_alerts(stack, grant, thread_id) == []  # in the digest, not the thread
        async with stack.deps.uow() as uow:
            assert await uow.digests.held_pending(grant.person_id, held_before=clock.now()) == []

        # A restart (a second process on the same database) sends nothing again.
        again = await bootstrap(stack.container.settings, clock=clock, hasher=fast_hasher())
        try:
            assert await digests.send_digest(again.deps, grant.person_id) is False
            assert (await digests.tick(again.deps)).digests == 0
        finally:
            await again.stop()
        assert len(await _digests(stack, grant)) == 1

        clock.advance(timedelta(days=7))
        assert (await digests.tick(stack.deps)).digests == 1
        _, next_week = await _digests(stack, grant)
        assert next_week.body["held"] == []  # released once, into the first digest only


async def test_without_a_digest_held_alerts_arrive_when_quiet_hours_end(tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(_noon())
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        await rules.set_quiet_hours(stack.deps, grant, start="22", end="7")
        clock.advance(timedelta(hours=11))  # 23:00
        await stack.bank.purchase("alice", merchant="Best Buy", amount="640.00")
        await stack.container.drain()
        assert await _large_alerts(stack, grant, thread_id) == []
        clock.advance(timedelta(hours=2))  # 01:00: still quiet
        assert (await digests.tick(stack.deps)).away == 0
        assert await _digests(stack, grant) == []
        clock.advance(timedelta(hours=6, seconds=10))  # 07:00:10: over
        assert (await digests.tick(stack.deps)).away == 1
        assert (await digests.tick(stack.deps)).away == 0
        [note] = await _digests(stack, grant)
        assert note.body["digest"] == "away" and note.body["title"] == "While you were away"
        [item] = note.body["held"]
        assert "Best Buy" in item["text"] and "640.00" in item["text"]
        assert preview_text(CardKind.DIGEST, note.body, "merchant_hidden") == (
            "Alerts held during your quiet hours are ready"
        )
        assert await _large_alerts(stack, grant, thread_id) == []

        # Retention: a released alert goes with the messages' limit; one still held stays.
        clock.advance(timedelta(hours=16))  # 23:00 again: quiet
        await stack.bank.purchase("alice", merchant="The Home Depot", amount="900.00")
        await stack.container.drain()
        clock.advance(timedelta(days=2))
        policy = RetentionPolicy(messages_days=1, inbox_days=0, transactions_days=0, abandoned_links_days=0)
        assert await _held_rows(stack) == [True, False]  # Best Buy released, Home Depot held
        report = await purge(stack.deps, policy)
        assert report.deleted["digests"] >= 1
        assert await _held_rows(stack) == [False]  # the one released two days ago is gone


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_processes_at_the_same_moment_send_one_digest(tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(_noon())
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        await _say(stack, grant, thread_id, "daily digest at 13")
        clock.advance(timedelta(hours=1, seconds=5))
        other = await bootstrap(stack.container.settings, clock=clock, hasher=fast_hasher())
        try:
            results = await asyncio.gather(
                digests.send_digest(stack.deps, grant.person_id),
                digests.send_digest(other.deps, grant.person_id),
            )
        finally:
            await other.stop()
        assert sorted(results) == [False, True]
        assert len(await _digests(stack, grant)) == 1


async def test_digests_are_set_by_chat_with_clear_answers_to_bad_input(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    assert (await _say(stack, grant, thread_id, "my digest")).startswith("Digests are off.")
    for said, answer in [
        ("digest at 25", "The digest hour goes from 0 to 23; 25 is not an hour of the day."),
        ("weekly digest on funday", '"funday" is not a day of the week'),
        ("send me a digest at 8:30", "Digests go out on the hour"),
        ("daily digest on monday", 'A daily digest comes every day; say "weekly digest on monday"'),
        ("daily digest at 9 utc+15", "The UTC offset goes from -12 to 14; 15 is outside that."),
        ("digest please", 'Say, for example, "send me a daily digest at 8"'),
    ]:
        assert (await _say(stack, grant, thread_id, said)).startswith(answer), said
    assert (await _say(stack, grant, thread_id, "my digest")).startswith("Digests are off.")  # nothing saved
    assert await _say(stack, grant, thread_id, "send me a daily digest at 8pm utc-5") == (
        "Done: Daily digest at 20:00 (UTC-5), covering the day before. It arrives in your Ledgerlink thread."
    )
    assert (await _say(stack, grant, thread_id, "weekly digest on friday")).startswith(
        "Done: Weekly digest on Fridays at 20:00 (UTC-5)"  # what was not said stays
    )
    assert (await _say(stack, grant, thread_id, "stop digests")).startswith("Digests are off.")
    assert await digests.current(stack.deps, grant) is None


async def _sign_in(client: httpx.AsyncClient, handle: str) -> str:
    page = await client.get("/login")
    token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    resp = await client.post("/login", data={"csrf": token, "handle": handle, "password": "correct horse"})
    assert resp.status_code == 303, resp.text
    page = await client.get("/settings/alerts")
    return _CSRF.search(page.text).group(1)  # type: ignore[union-attr]


async def test_the_settings_page_sets_the_digest_and_refuses_bad_values(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url=stack.platform_url) as pat:
        token = await _sign_in(pat, "pat")
        page = await pat.get("/settings/alerts")
        assert 'data-testid="digest-now">Off.' in page.text
        form = {
            "csrf": token,
            "action": "digest",
            "frequency": "weekly",
            "hour": "9",
            "weekday": "friday",
            "browser_zone": "Europe/Berlin",  # settings.js: the browser's Intl zone
        }
        for field, value, words in [
            ("hour", "25", "The digest hour goes from 0 to 23; 25 is outside that."),
            ("hour", "nine", "The digest hour is a whole number from 0 to 23."),
            ("frequency", "hourly", "Choose off, daily or weekly."),
            ("weekday", "funday", "The weekday (0 is Monday) is a whole number from 0 to 6."),
        ]:
            bad = await pat.post("/settings/alerts", data={**form, field: value})
            assert bad.status_code == 422 and f'data-testid="error-digest-{field}"' in bad.text, field
            assert words in bad.text, field
        assert await digests.current(stack.deps, grant) is None  # nothing half-saved
        saved = await pat.post("/settings/alerts", data=form)
        assert saved.status_code == 303
        page = await pat.get("/settings/alerts")
        assert "Weekly digest on Fridays at 09:00 (Europe/Berlin, CE" in page.text
        expired = await pat.post("/settings/alerts", data={**form, "csrf": "nope", "frequency": "off"})
        assert expired.status_code == 400
        off = await pat.post("/settings/alerts", data={**form, "frequency": "off"})
        assert off.status_code == 303
    assert await digests.current(stack.deps, grant) is None


async def test_export_carries_the_digest_and_erasure_removes_settings_held_alerts_and_read_state(
    tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(_noon())
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        await _say(stack, grant, thread_id, "daily digest at 13")
        await rules.set_quiet_hours(stack.deps, grant, start="12", end="18")
        await stack.bank.purchase("alice", merchant="Best Buy", amount="700.00")  # held: quiet
        await stack.container.drain()
        clock.advance(timedelta(hours=1))
        assert (await digests.tick(stack.deps)).digests == 1
        await stack.bank.purchase("alice", merchant="Best Buy", amount="710.00")  # held for tomorrow
        await stack.container.drain()
        await read_state.mark_read(stack.deps, grant, thread_id, 1)

        export = await rights.export_person(stack.deps, grant)
        _validate(export, SCHEMA)  # the export schema knows the digest card
        kinds = [m["kind"] for t in export["threads"] for m in t["messages"]]
        assert kinds.count("digest") == 1

        report = await rights.erase_person(stack.deps, grant)
        for table in ("digest_settings", "digests_sent", "held_alerts", "thread_reads"):
            assert report.rows_deleted[table] >= 1, table
        async with stack.deps.uow() as uow:
            assert await uow.digests.settings(grant.person_id) is None
            assert await uow.digests.held_pending(grant.person_id, held_before=clock.now()) == []
            assert await uow.reads.for_person(grant.person_id) == {}
