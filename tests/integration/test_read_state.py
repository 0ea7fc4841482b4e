"""Read state in the web messenger: unread counts, marking read by page, POST and WebSocket."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from tests.conftest import Stack
from tests.integration.test_realtime import (
    PASSWORD,
    frames_until_ready,
    live,
    next_frame,
    post,
    signed_in,
    silence,
    system_thread,
)

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import read_state

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _badge(html: str, thread_id: str) -> int:
    """The unread count the thread list shows for a thread."""
    link = re.search(rf'<a class="thread-link[^>]*data-thread-id="{thread_id}"[^>]*>', html)
    assert link is not None
    unread = re.search(r'data-unread="(\d+)"', link.group(0))
    assert unread is not None
    return int(unread.group(1))


@asynccontextmanager
async def _browser(stack: Stack, handle: str) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.client() as client:
        page = await client.get("/login")
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        resp = await client.post("/login", data={"csrf": token, "handle": handle, "password": PASSWORD})
        assert resp.status_code == 303
        yield client


async def _mark(client: httpx.AsyncClient, thread_id: str, seq: str) -> httpx.Response:
    page = await client.get(f"/threads/{thread_id}?peek=1")
    token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    return await client.post(
        f"/threads/{thread_id}/read", data={"csrf": token, "seq": seq}, headers={"Accept": "application/json"}
    )


async def test_opening_a_thread_reads_it_and_a_new_message_shows_as_unread(stack: Stack) -> None:
    person, _ = await signed_in(stack, "pat")
    thread = await system_thread(stack, person)
    async with _browser(stack, "pat") as browser:
        peek = await browser.get(f"/threads/{thread}?peek=1")
        assert _badge(peek.text, thread) == 1  # the welcome message, not yet seen
        assert await read_state.unread_counts(stack.deps, Grant.for_person(person)) == {thread: 1}
        opened = await browser.get(f"/threads/{thread}")
        assert opened.status_code == 200 and _badge(opened.text, thread) == 0
        await post(stack, person, "a new notice")
        await stack.container.drain()
        assert _badge((await browser.get(f"/threads/{thread}?peek=1")).text, thread) == 1
        assert await read_state.unread_counts(stack.deps, Grant.for_person(person)) == {thread: 1}


async def test_marking_read_by_post_never_goes_backwards(stack: Stack) -> None:
    person, _ = await signed_in(stack, "pat")
    thread = await system_thread(stack, person)
    for text in ("two", "three"):
        await post(stack, person, text)
    async with _browser(stack, "pat") as browser:
        resp = await _mark(browser, thread, "2")
        assert resp.status_code == 200
        assert resp.json() == {"thread_id": thread, "last_read_seq": 2, "unread": 1}
        back = await _mark(browser, thread, "1")
        assert back.json() == {"thread_id": thread, "last_read_seq": 2, "unread": 1}
        beyond = await _mark(browser, thread, "999")
        assert beyond.json() == {"thread_id": thread, "last_read_seq": 3, "unread": 0}  # capped at the last
        for bad in ("-1", "two", ""):
            refused = await _mark(browser, thread, bad)
            assert refused.status_code == 422 and refused.json()["code"] == "bad_seq", bad
        assert (await _mark(browser, thread, "0")).json()["last_read_seq"] == 3


async def test_someone_elses_thread_is_not_found_by_post_nor_by_frame(stack: Stack) -> None:
    owner, _ = await signed_in(stack, "pat")
    theirs = await system_thread(stack, owner)
    _, cookie = await signed_in(stack, "mal")
    async with _browser(stack, "mal") as browser:
        page = await browser.get("/")
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        resp = await browser.post(
            f"/threads/{theirs}/read",
            data={"csrf": token, "seq": "1"},
            headers={"Accept": "application/json"},
        )
        assert resp.status_code == 404 and resp.json() == {"code": "not_found"}
        assert (await browser.get(f"/threads/{theirs}")).status_code == 404
        unknown = await browser.post(
            "/threads/thr_nope/read", data={"csrf": token, "seq": "1"}, headers={"Accept": "application/json"}
        )
        assert unknown.status_code == 404 and unknown.json() == resp.json()  # the same answer
    async with live(stack, cookie, {"threads": {}, "all": True}) as ws:
        await frames_until_ready(ws)
        await ws.send(json.dumps({"type": "read", "thread_id": theirs, "seq": 1}))
        frame = await next_frame(ws)
        assert frame["type"] == "error" and frame["code"] == "not_found"
    assert await read_state.unread_counts(stack.deps, Grant.for_person(owner)) == {theirs: 1}


async def test_reading_in_one_tab_updates_the_badges_of_the_others_live(stack: Stack) -> None:
    person, cookie = await signed_in(stack, "pat")
    thread = await system_thread(stack, person)
    async with (
        live(stack, cookie, {"threads": {thread: 1}}) as tab_a,
        live(stack, cookie, {"threads": {thread: 1}}) as tab_b,
    ):
        await frames_until_ready(tab_a)
        await frames_until_ready(tab_b)
        await post(stack, person, "new")
        await stack.container.drain()
        for tab in (tab_a, tab_b):
            message = await next_frame(tab)
            assert message["type"] == "message" and message["seq"] == 2
        await tab_a.send(json.dumps({"type": "read", "thread_id": thread, "seq": 2}))
        expected = {"type": "read", "thread_id": thread, "last_read_seq": 2, "unread": 0}
        assert await next_frame(tab_b) == expected
        assert await next_frame(tab_a) == expected
        await tab_a.send(json.dumps({"type": "read", "thread_id": thread, "seq": 1}))
        await silence(tab_b)  # going back is no change: nothing to tell
        await tab_a.send(json.dumps({"type": "read", "thread_id": thread, "seq": "x"}))
        bad = await next_frame(tab_a)
        assert bad["type"] == "error" and bad["code"] == "bad_seq"
        await tab_a.send(json.dumps({"type": "read", "seq": 2}))
        assert (await next_frame(tab_a))["code"] == "bad_read"

        await post(stack, person, "newer")
        await stack.container.drain()
        assert (await next_frame(tab_b))["seq"] == 3
        assert (await next_frame(tab_a))["seq"] == 3
        async with _browser(stack, "pat") as browser:  # another device opens the thread
            assert (await browser.get(f"/threads/{thread}")).status_code == 200
        expected = {"type": "read", "thread_id": thread, "last_read_seq": 3, "unread": 0}
        assert await next_frame(tab_b) == expected
        assert await next_frame(tab_a) == expected
    assert await read_state.unread_counts(stack.deps, Grant.for_person(person)) == {thread: 0}
