""""refresh" in a bank thread (issue 10, section 3): an attended refresh of that thread's accounts
now, answered "Refreshing…" and then the freshness line; under PSD2 the person's presence goes
with it, so it is not one of the four unattended reads a day. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Stack, running_stack
from tests.integration.test_provider_linking import _csrf, _linked

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pstack(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Stack, FrozenClock]]:
    clock = FrozenClock(START)
    async with running_stack(tmp_path, db_url, clock=clock) as s:
        yield s, clock


async def _say(stack: Stack, http: httpx.AsyncClient, thread_id: str, words: str) -> None:
    page = await http.get(f"/threads/{thread_id}")
    sent = await http.post(f"/threads/{thread_id}/messages", data={"csrf": _csrf(page.text), "text": words})
    assert sent.status_code == 303, sent.text
    await stack.container.drain()


async def _texts(stack: Stack, grant: Grant, thread_id: str) -> list[str]:
    return [str(m.body.get("text", "")) for m in await messenger.thread_messages(stack.deps, grant, thread_id)
            if m.kind is CardKind.TEXT]


async def _attempts(stack: Stack) -> list[tuple[bool, str]]:
    async with stack.container.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT attended, result FROM refresh_attempts WHERE at > :t ORDER BY at"), {"t": START})
        return [(bool(r[0]), str(r[1])) for r in rows]


async def test_refresh_in_a_bank_thread_answers_refreshing_then_the_freshness_line(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    stack, clock = pstack
    http, grant, thread_id = await _linked(stack, "enablebanking")
    before = len(await _attempts(stack))
    clock.advance(timedelta(minutes=10))
    await _say(stack, http, thread_id, "Refresh")
    await http.aclose()
    said = await _texts(stack, grant, thread_id)
    assert said[-3:-1] == ["Refresh", "Refreshing…"]
    assert "refreshed, updated" in said[-1] and "next refresh about" in said[-1], said[-1]
    attempts = (await _attempts(stack))[before:]
    assert attempts == [(True, "ok")] * 2  # PSD2 counts per account: both of the thread's accounts
    assert "2 accounts refreshed" in said[-1]


async def test_refresh_from_chat_goes_past_the_four_unattended_psd2_reads_a_day(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    # The Enable Banking simulator answers 429 after four reads a UTC day without PSU headers:
    # six refreshes from chat in one day all succeed only if the person's presence goes with them.
    stack, clock = pstack
    http, grant, thread_id = await _linked(stack, "enablebanking")
    for _ in range(6):
        clock.advance(timedelta(minutes=10))
        await _say(stack, http, thread_id, "refresh now")
    await http.aclose()
    answers = [t for t in await _texts(stack, grant, thread_id) if "refreshed, updated" in t]
    assert len(answers) == 6
    attended = [result for was_attended, result in await _attempts(stack) if was_attended]
    assert attended[-12:] == ["ok"] * 12  # six refreshes of two accounts, none refused


async def test_a_second_refresh_within_the_minute_is_refused_with_the_wait_and_sends_nothing(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    stack, clock = pstack
    http, grant, thread_id = await _linked(stack, "simplefin")
    clock.advance(timedelta(minutes=10))
    await _say(stack, http, thread_id, "refresh")
    sent = len(await _attempts(stack))
    clock.advance(timedelta(seconds=20))
    await _say(stack, http, thread_id, "refresh")
    await http.aclose()
    last = (await _texts(stack, grant, thread_id))[-1]
    assert last.startswith("Not refreshed yet: "), last
    assert len(await _attempts(stack)) == sent


async def test_the_pinned_header_has_a_refresh_button_that_says_refresh_in_the_thread(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    stack, clock = pstack
    http, grant, thread_id = await _linked(stack, "gocardless")
    page = await http.get(f"/threads/{thread_id}")
    assert 'data-testid="refresh"' in page.text
    form = page.text.split('class="refresh-form"', 1)[1].split("</form>", 1)[0]
    assert f'action="/threads/{thread_id}/messages"' in page.text.split('class="refresh-form"', 1)[0][-120:]
    assert 'name="text" value="refresh"' in form
    clock.advance(timedelta(minutes=10))
    await _say(stack, http, thread_id, "refresh")
    await http.aclose()
    assert "refreshed, updated" in (await _texts(stack, grant, thread_id))[-1]


async def test_refresh_outside_a_bank_thread_says_where_to_ask(pstack: tuple[Stack, FrozenClock]) -> None:
    stack, _clock = pstack
    http, grant, _thread_id = await _linked(stack, "simplefin")
    home = (await http.get("/", follow_redirects=True))
    threads = await messenger.list_threads(stack.deps, grant)
    system = next(t for t in threads if t.kind.value == "system")
    assert home.status_code == 200
    await _say(stack, http, system.id, "refresh")
    await http.aclose()
    assert "Open a bank's thread" in (await _texts(stack, grant, system.id))[-1]
