"""Issue 14, defect 5: sessions are server-side and revocable. Sign-out ends that session (a
copied cookie stops working), "sign out everywhere" and erasure end every session, sessions
expire by the injected clock, and erase, export and adding a channel ask for the password."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tests.conftest import Stack, running_stack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.entrypoints.web.hub import CLOSE_UNAUTHORIZED
from ledgerlink.services.messaging import messenger

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))


@pytest.fixture
async def stack(tmp_path: Path, db_url: str, clock: FrozenClock) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, db_url, clock=clock) as s:
        yield s


@asynccontextmanager
async def browser(stack: Stack, cookie: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the ASGI app; `cookie`: start with this session cookie (a copy)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app),
                                 base_url=stack.platform_url) as client:
        if cookie is not None:
            client.cookies.set("ll_session", cookie)
        yield client


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    match = _CSRF.search((await client.get(path)).text)
    assert match is not None, path
    return match.group(1)


async def sign_up(client: httpx.AsyncClient, handle: str = "pat") -> None:
    token = await csrf(client, "/register")
    resp = await client.post("/register", data={"csrf": token, "handle": handle, "display_name": "",
                                                "password": PASSWORD, "password_confirm": PASSWORD})
    assert resp.status_code == 303, resp.text


async def log_in(client: httpx.AsyncClient, handle: str = "pat") -> None:
    token = await csrf(client, "/login")
    resp = await client.post("/login", data={"csrf": token, "handle": handle, "password": PASSWORD})
    assert resp.status_code == 303, resp.text


async def signed_in(client: httpx.AsyncClient) -> bool:
    resp = await client.get("/settings")
    return resp.status_code == 200


async def test_a_copied_cookie_stops_working_after_sign_out(stack: Stack) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        copy = pat.cookies["ll_session"]
        async with browser(stack, copy) as thief:
            assert await signed_in(thief)
            token = await csrf(pat, "/")
            assert (await pat.post("/logout", data={"csrf": token})).headers["location"] == "/login"
            assert not await signed_in(pat)
            assert not await signed_in(thief)  # the copy names a session that has ended
            assert (await thief.get("/")).headers["location"] == "/login"


async def test_signing_out_one_device_keeps_the_others(stack: Stack) -> None:
    async with browser(stack) as laptop, browser(stack) as phone:
        await sign_up(laptop)
        await log_in(phone)
        token = await csrf(laptop, "/")
        await laptop.post("/logout", data={"csrf": token})
        assert not await signed_in(laptop)
        assert await signed_in(phone)


async def test_sign_out_everywhere_ends_every_session(stack: Stack) -> None:
    async with browser(stack) as laptop, browser(stack) as phone:
        await sign_up(laptop)
        await log_in(phone)
        token = await csrf(phone, "/settings")
        resp = await phone.post("/logout/everywhere", data={"csrf": token})
        assert resp.status_code == 303 and resp.headers["location"] == "/login"
        assert not await signed_in(phone)
        assert not await signed_in(laptop)


async def test_a_session_ends_after_fourteen_days_by_the_platform_clock(
        stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        clock.advance(timedelta(days=13, hours=23))
        assert await signed_in(pat)
        clock.advance(timedelta(hours=2))
        assert not await signed_in(pat)


async def test_erasure_asks_for_the_password_and_ends_every_session(stack: Stack) -> None:
    async with browser(stack) as pat, browser(stack) as other_device:
        await sign_up(pat)
        await log_in(other_device)
        copy = pat.cookies["ll_session"]
        token = await csrf(pat, "/settings/erase")
        handle_only = await pat.post("/settings/erase", data={"csrf": token, "handle": "pat"})
        assert handle_only.status_code in (401, 422) and "password" in handle_only.text
        wrong = await pat.post("/settings/erase", data={"csrf": token, "handle": "pat",
                                                        "password": "not my password at all"})
        assert wrong.status_code == 401 and "Nothing was erased" in wrong.text
        assert await messenger.authenticate(stack.deps, handle="pat", password=PASSWORD)
        done = await pat.post("/settings/erase", data={"csrf": token, "handle": "pat",
                                                       "password": PASSWORD})
        assert done.status_code == 200 and "goodbye" in done.text.lower()
        assert not await signed_in(other_device)
        async with browser(stack, copy) as thief:
            assert not await signed_in(thief)


async def test_export_asks_for_the_password_again_after_five_minutes(
        stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        assert (await pat.get("/settings/export.json")).status_code == 200  # just signed in
        clock.advance(timedelta(minutes=6))
        settings = await pat.get("/settings")
        assert 'data-testid="export-confirm-form"' in settings.text
        assert 'data-testid="export-json"' not in settings.text  # no link that would save a page
        resp = await pat.get("/settings/export.json")
        assert resp.status_code == 303
        assert resp.headers["location"] == "/confirm?next=%2Fsettings%2Fexport.json"
        page = await pat.get(resp.headers["location"])
        assert page.status_code == 200 and 'data-testid="confirm-password"' in page.text
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        wrong = await pat.post("/confirm", data={"csrf": token, "password": "nope, not this one",
                                                 "next": "/settings/export.json"})
        assert wrong.status_code == 401
        assert (await pat.get("/settings/export.json")).status_code == 303
        evil = await pat.post("/confirm", data={"csrf": token, "password": PASSWORD,
                                                "next": "https://evil.example/steal"})
        assert evil.headers["location"] == "/settings"  # never off-site
        ok = await pat.post("/confirm", data={"csrf": token, "password": PASSWORD,
                                              "next": "/settings/export.json"})
        assert ok.status_code == 303 and ok.headers["location"] == "/settings/export.json"
        download = await pat.get("/settings/export.json")
        assert download.status_code == 200 and download.json()["person"]["handle"] == "pat"
        csv = await pat.get("/settings/export.csv")
        assert csv.status_code == 200
        assert 'data-testid="export-json"' in (await pat.get("/settings")).text


async def test_adding_a_channel_asks_for_the_password_again_after_five_minutes(
        stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        clock.advance(timedelta(minutes=6))
        page = await pat.get("/settings/channels")
        assert 'name="confirm_password"' in page.text
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        url = "https://hooks.example.com/ledgerlink"
        refused = await pat.post("/settings/channels/webhook", data={"csrf": token, "url": url})
        assert refused.status_code == 401 and "password" in refused.text
        assert "whsec_" not in refused.text
        added = await pat.post("/settings/channels/webhook",
                               data={"csrf": token, "url": url, "confirm_password": PASSWORD})
        assert added.status_code == 200 and "whsec_" in added.text
        # confirmed just now: the next one within five minutes needs no password
        again = await pat.post("/settings/channels/webhook",
                               data={"csrf": token, "url": url + "/two"})
        assert again.status_code == 200 and "whsec_" in again.text


async def test_signing_out_closes_that_sessions_live_connection(stack: Stack) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        cookie = f"ll_session={pat.cookies['ll_session']}"
        url = stack.platform_url.replace("http://", "ws://") + "/ws"
        async with connect(url, additional_headers={"Cookie": cookie}, open_timeout=30) as ws:
            await ws.send('{"type":"resume","threads":{}}')
            token = await csrf(pat, "/")
            await pat.post("/logout", data={"csrf": token})
            with pytest.raises(ConnectionClosed) as closed:
                await _until_closed(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_UNAUTHORIZED
        async with connect(url, additional_headers={"Cookie": cookie}, open_timeout=30) as ws:
            with pytest.raises(ConnectionClosed) as refused:
                await _until_closed(ws)
        assert refused.value.rcvd is not None and refused.value.rcvd.code == CLOSE_UNAUTHORIZED


async def _until_closed(ws: ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 5)
