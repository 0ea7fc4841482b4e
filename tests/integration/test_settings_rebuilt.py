"""Settings, rebuilt (issue 13): the person's time zone, real controls with visible state,
every form error at once, true channel delivery state, friendly error pages for browsers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.entrypoints.web.channels import delivery_state
from ledgerlink.services.alerts import digests
from ledgerlink.services.messaging.channel_ports import ChannelDeliveryRecord

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def stack(tmp_path: Path, db_url: str) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, db_url) as s:
        yield s


def _new(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app), base_url=stack.platform_url)


async def _login(http: httpx.AsyncClient, handle: str = "pat") -> str:
    page = await http.get("/login")
    token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    resp = await http.post("/login", data={"csrf": token, "handle": handle, "password": "correct horse"})
    assert resp.status_code == 303, resp.text
    page = await http.get("/settings/alerts")
    return _CSRF.search(page.text).group(1)  # type: ignore[union-attr]


async def test_the_zone_is_chosen_on_the_page_stored_on_the_person_and_moves_the_digest(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    async with _new(stack) as http:
        token = await _login(http)
        page = await http.get("/settings/alerts")
        assert 'data-testid="zone-now">Now: <strong>UTC</strong>' in page.text
        assert '<option value="Europe/Berlin">' in page.text  # the searchable list
        bad = await http.post(
            "/settings/alerts", data={"csrf": token, "action": "zone", "form": "zone", "zone": "Mars/Olympus"}
        )
        assert bad.status_code == 422 and 'data-testid="error-zone"' in bad.text
        assert "is not a time zone we know" in bad.text
        ok = await http.post(
            "/settings/alerts", data={"csrf": token, "action": "zone", "zone": "europe/berlin"}
        )
        assert ok.status_code == 303
        saved = await http.post(
            "/settings/alerts",
            data={"csrf": token, "action": "digest", "frequency": "daily", "hour": "8", "weekday": "monday"},
        )
        assert saved.status_code == 303
    async with stack.deps.uow(readonly=True) as uow:
        person = await uow.persons.get(grant.person_id)
        due = await uow.digests.settings(grant.person_id)
    assert person is not None and person.zone == "Europe/Berlin"
    schedule = await digests.current(stack.deps, grant)
    assert schedule is not None and schedule.zone == "Europe/Berlin"
    assert due is not None
    local = due.next_due_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (8, 0)


async def test_quiet_hours_and_digest_forms_show_every_error_at_once_and_save_nothing(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    async with _new(stack) as http:
        token = await _login(http)
        bad = await http.post(
            "/settings/alerts",
            data={
                "csrf": token,
                "action": "digest",
                "frequency": "weekly",
                "hour": "25",
                "weekday": "funday",
            },
        )
        assert bad.status_code == 422
        assert (
            'data-testid="error-digest-hour"' in bad.text and 'data-testid="error-digest-weekday"' in bad.text
        )
        assert 'data-testid="error-summary">2 things to fix' in bad.text
        quiet = await http.post(
            "/settings/alerts", data={"csrf": token, "action": "quiet", "start": "24", "end": "x"}
        )
        assert quiet.status_code == 422
        assert "The start hour goes from 0 to 23; 24 is not an hour." in quiet.text
        assert "The end hour is a whole hour from 0 to 23" in quiet.text
        page = await http.get("/settings/alerts")
        assert 'data-testid="quiet-now">Off.' in page.text and 'data-testid="digest-now">Off.' in page.text
        saved = await http.post(
            "/settings/alerts",
            data={
                "csrf": token,
                "action": "quiet",
                "start": "22",
                "end": "7",
                "browser_zone": "America/New_York",
            },
        )
        assert saved.status_code == 303
        page = await http.get("/settings/alerts")
        assert "On: 22:00 to 07:00 (America/New York, E" in page.text  # the browser's zone was kept
    assert await digests.effective_zone(stack.deps, grant) == "America/New_York"


async def test_toggles_show_their_state_and_accounts_are_named_with_their_bank(stack: Stack) -> None:
    await _linked(stack)
    async with _new(stack) as http:
        token = await _login(http)
        page = await http.get("/settings/alerts")
        assert re.search(r'data-testid="toggle-deposit" data-state="on">', page.text)
        assert re.search(r'data-testid="toggle-online" data-state="off">', page.text)
        assert 'aria-checked="true"' in page.text and "Sandbox Bank" in page.text
        off = await http.post(
            "/settings/alerts", data={"csrf": token, "action": "toggle", "kind": "deposit", "on": "0"}
        )
        assert off.status_code == 303
        page = await http.get("/settings/alerts")
        assert re.search(r'data-testid="toggle-deposit" data-state="off">', page.text)
        assert re.search(r'data-testid="low-bank-\d{4}">Sandbox Bank<', page.text)


async def test_registration_shows_every_error_at_once(stack: Stack) -> None:
    async with _new(stack) as http:
        token = _CSRF.search((await http.get("/register")).text).group(1)  # type: ignore[union-attr]
        resp = await http.post(
            "/register",
            data={"csrf": token, "handle": "A B", "password": "short", "password_confirm": "other"},
        )
    assert resp.status_code == 422
    for name in ("handle", "password", "password_confirm"):
        assert f'data-testid="error-{name}"' in resp.text, name
    assert 'data-testid="register-summary">' in resp.text and "3 things to fix" in resp.text


async def test_unknown_urls_are_a_friendly_page_for_browsers_and_problem_json_for_api_clients(
    stack: Stack,
) -> None:
    async with _new(stack) as http:
        accept = "text/html,application/xhtml+xml,*/*;q=0.8"  # what a browser sends
        browser = await http.get("/no/such/page", headers={"Accept": accept})
        api = await http.get("/no/such/page", headers={"Accept": "application/json"})
        bare = await http.get("/no/such/page")
    assert browser.status_code == 404 and browser.headers["content-type"].startswith("text/html")
    assert "Page not found" in browser.text and 'data-testid="error-page"' in browser.text
    assert "{" not in browser.text.split("<main", 1)[1].split("</main>", 1)[0]
    for resp in (api, bare):
        assert resp.status_code == 404 and resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["code"] == "not_found"


def _row(
    rev: int,
    status: str,
    attempts: int,
    *,
    error: str | None = None,
    code: int | None = None,
    next_at: datetime | None = None,
) -> ChannelDeliveryRecord:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    return ChannelDeliveryRecord(
        id=f"d{rev}",
        channel_id="c",
        person_id="p",
        message_id=f"m{rev}",
        rev=rev,
        status=status,
        attempts=attempts,
        next_attempt_at=next_at,
        created_at=now,
        updated_at=now,
        last_status_code=code,
        last_error=error,
    )


def test_channel_delivery_state_counts_every_attempt_not_the_newest_row_only() -> None:
    soon = datetime(2026, 12, 3, 12, 5, tzinfo=UTC)
    state = delivery_state(
        [
            _row(3, "pending", 0, next_at=datetime(2026, 12, 3, 12, tzinfo=UTC)),  # just queued
            _row(2, "pending", 3, code=503, error="server_error", next_at=soon),
            _row(1, "delivered", 2, code=200),
        ]
    )
    assert state["word"] == "Queued, not tried yet"
    assert state["attempts"] == 5 and state["messages"] == 3
    assert state["last_error"] == "503 server_error" and state["next_attempt_at"] == soon
    assert delivery_state([])["word"] == "Nothing sent yet"
    assert delivery_state([_row(1, "gave_up", 8, error="timeout")])["next_attempt_at"] is None
    assert timedelta(0) < soon - datetime(2026, 12, 3, 12, tzinfo=UTC)
