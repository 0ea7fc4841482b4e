"""The WebSocket stream against the real server: resume without gap or duplicate, isolation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from tests.conftest import Stack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.web.hub import CLOSE_SLOW_CONSUMER, CLOSE_UNAUTHORIZED, Hub
from ledgerlink.services.messaging import messenger
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text

PASSWORD = "correct horse battery"


async def signed_in(stack: Stack, handle: str) -> tuple[str, str]:
    """Register through the pages; returns (person id, Cookie header for the WebSocket)."""
    async with stack.client() as http:
        page = await http.get("/register")
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        resp = await http.post("/register", data={"csrf": token, "handle": handle,
                                                  "display_name": handle, "password": PASSWORD,
                                                  "password_confirm": PASSWORD})
        assert resp.status_code == 303
        cookie = f"ll_session={http.cookies['ll_session']}"
    return await messenger.authenticate(stack.deps, handle=handle, password=PASSWORD), cookie


async def post(stack: Stack, person_id: str, text: str, *, subject: str | None = None) -> None:
    """A message in the person's system thread; the same `subject` edits it in place."""
    deps = stack.deps
    async with deps.uow() as uow:
        thread = await ensure_system_thread(deps, uow, person_id)
        await post_text(deps, uow, thread, text, subject_key=subject)
        await deps.commit_and_publish(uow)


async def system_thread(stack: Stack, person_id: str) -> str:
    [thread] = await messenger.list_threads(stack.deps, Grant.for_person(person_id))
    return thread.id


@asynccontextmanager
async def live(stack: Stack, cookie: str | None, resume: dict[str, Any] | None
               ) -> AsyncIterator[ClientConnection]:
    url = stack.platform_url.replace("http://", "ws://") + "/ws"
    headers = {"Cookie": cookie} if cookie else {}
    async with connect(url, additional_headers=headers, open_timeout=30) as ws:
        if resume is not None:
            await ws.send(json.dumps({"type": "resume", **resume}))
        yield ws


async def frames_until_ready(ws: ClientConnection) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == "ready":
            return out
        out.append(frame)


async def next_frame(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))  # type: ignore[no-any-return]


async def silence(ws: ClientConnection, seconds: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


def summary(frames: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(f["message_id"], f["rev"]) for f in frames if f["type"] == "message"]


async def test_without_a_session_the_socket_closes_with_4401(stack: Stack) -> None:
    async with live(stack, None, None) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == CLOSE_UNAUTHORIZED


async def test_resume_sends_exactly_the_changes_missed_in_rev_order_then_live_ones(
        stack: Stack) -> None:
    person, cookie = await signed_in(stack, "pat")
    thread = await system_thread(stack, person)
    await post(stack, person, "first version", subject="topic")
    await stack.container.drain()

    async with live(stack, cookie, {"threads": {thread: 0}}) as ws:
        first = await frames_until_ready(ws)
    assert [f["rev"] for f in first] == [1, 2]
    topic_id = first[1]["message_id"]
    assert first[1]["html"].startswith('<div class="msg') and first[1]["text"] == "first version"
    last_seen = first[-1]["rev"]

    for text in ("two", "three", "four"):
        await post(stack, person, text)
    await post(stack, person, "second version", subject="topic")
    await stack.container.drain()

    async with live(stack, cookie, {"threads": {thread: last_seen}}) as ws:
        missed = await frames_until_ready(ws)
        assert [f["rev"] for f in missed] == [3, 4, 5, 6]
        assert len({f["message_id"] for f in missed}) == 4
        assert [f["text"] for f in missed] == ["two", "three", "four", "second version"]
        edit = missed[-1]
        assert edit["message_id"] == topic_id and edit["seq"] == 2 and edit["edited"] is True
        assert [f["seq"] for f in missed[:3]] == [3, 4, 5]
        await silence(ws)

        await post(stack, person, "five")
        frame = await next_frame(ws)
        assert (frame["type"], frame["rev"], frame["seq"], frame["text"]) == ("message", 7, 6, "five")
        await post(stack, person, "third version", subject="topic")
        frame = await next_frame(ws)
        assert (frame["message_id"], frame["rev"], frame["edited"]) == (topic_id, 8, True)
        await silence(ws)


async def test_changes_during_the_replay_arrive_once_and_without_gaps(stack: Stack) -> None:
    person, cookie = await signed_in(stack, "pat")
    thread = await system_thread(stack, person)
    for i in range(30):
        await post(stack, person, f"old {i}")
    await stack.container.drain()

    async def burst() -> None:
        for i in range(40):
            await post(stack, person, f"new {i}", subject=f"s{i % 7}")  # adds and edits

    async with live(stack, cookie, {"threads": {thread: 0}}) as ws:
        writer = asyncio.create_task(burst())
        seen: list[dict[str, Any]] = []
        ready = False
        while True:
            frame = await next_frame(ws)
            if frame["type"] == "ready":
                ready = True
            elif frame["type"] == "message":
                seen.append(frame)
            if writer.done() and ready and seen:
                await stack.container.drain()
                [t] = await messenger.list_threads(stack.deps, Grant.for_person(person))
                if seen[-1]["rev"] == t.last_rev:
                    break
        await writer
        await silence(ws)
    revs = [f["rev"] for f in seen]
    assert revs == sorted(set(revs)), "strictly increasing: no duplicate, no reordering"
    final = {f["message_id"]: f for f in seen}  # the client's view after applying every frame
    current = await messenger.thread_messages(stack.deps, Grant.for_person(person), thread,
                                              limit=1000)
    assert {m.id: m.rev for m in current} == {k: f["rev"] for k, f in final.items()}


async def test_someone_elses_thread_never_appears_in_the_stream(stack: Stack) -> None:
    alice, _ = await signed_in(stack, "alice")
    bob, bob_cookie = await signed_in(stack, "bob")
    alice_thread = await system_thread(stack, alice)
    bob_thread = await system_thread(stack, bob)
    async with live(stack, bob_cookie, {"threads": {alice_thread: 0}, "all": True}) as ws:
        frames = await frames_until_ready(ws)
        assert {f["thread_id"] for f in frames} == {bob_thread}
        await post(stack, alice, "for alice only")
        await stack.container.drain()
        await silence(ws)
        await post(stack, bob, "for bob")
        frame = await next_frame(ws)
        assert (frame["thread_id"], frame["text"]) == (bob_thread, "for bob")


async def test_threads_not_listed_are_skipped_unless_all_is_asked(stack: Stack) -> None:
    _, cookie = await signed_in(stack, "pat")
    async with live(stack, cookie, {"threads": {}}) as ws:
        frames = await frames_until_ready(ws)
    assert [f["type"] for f in frames] == ["thread"]  # announced, but its history is skipped
    async with live(stack, cookie, {"threads": {}, "all": True}) as ws:
        frames = await frames_until_ready(ws)
    assert [f["type"] for f in frames] == ["thread", "message"]


async def test_every_tab_of_the_person_gets_the_update(stack: Stack) -> None:
    person, cookie = await signed_in(stack, "pat")
    thread = await system_thread(stack, person)
    async with live(stack, cookie, {"threads": {thread: 1}}) as one, \
            live(stack, cookie, {"threads": {thread: 1}}) as two:
        assert await frames_until_ready(one) == [] and await frames_until_ready(two) == []
        await post(stack, person, "hello")
        a, b = await next_frame(one), await next_frame(two)
        assert a == b and a["rev"] == 2


async def test_a_slow_connection_that_overflows_is_closed_for_a_resume(stack: Stack) -> None:
    person, _ = await signed_in(stack, "pat")
    thread = await system_thread(stack, person)
    hub = Hub(stack.deps, queue_size=3)
    await hub.start()
    conn = hub.register(person)
    await hub.replay(conn, {thread: 1}, everything=False)  # queues "ready": 1 of 3
    for i in range(4):
        await post(stack, person, f"m{i}")
        await stack.container.drain()
    assert conn.close_code == CLOSE_SLOW_CONSUMER and conn.closed.is_set()
    hub.unregister(conn)
    await hub.stop()


async def test_a_new_bank_thread_is_announced_live_and_unlink_marks_it_inactive(stack: Stack) -> None:
    from tests.integration.test_web_messenger import link_sandbox_bank

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app),
                                 base_url=stack.platform_url) as http:
        page = await http.get("/register")
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        await http.post("/register", data={"csrf": token, "handle": "pat", "display_name": "Pat",
                                           "password": PASSWORD, "password_confirm": PASSWORD})
        cookie = f"ll_session={http.cookies['ll_session']}"
        person = await messenger.authenticate(stack.deps, handle="pat", password=PASSWORD)
        thread = await system_thread(stack, person)
        async with live(stack, cookie, {"threads": {thread: 1}, "all": True}) as ws:
            assert await frames_until_ready(ws) == []
            thread_path = await link_sandbox_bank(stack, http)
            bank_thread = thread_path.rsplit("/", 1)[1]
            announced = await next_frame(ws)
            assert announced["type"] == "thread" and announced["thread_id"] == bank_thread
            assert announced["title"] == "Sandbox Bank" and announced["active"] is True
            kinds: list[str] = []
            while len([k for k in kinds if k == "balance"]) < len(stack.bank.accounts_of("alice")):
                frame = await next_frame(ws)
                if frame["type"] == "message":
                    kinds.append(frame["kind"])
            assert kinds[0] == "text"

            link_id = next(t.link_id for t in await messenger.list_threads(
                stack.deps, Grant.for_person(person)) if t.id == bank_thread)
            page = await http.get(thread_path)
            token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            await http.post(f"/links/{link_id}/unlink", data={"csrf": token})
            got: dict[str, dict[str, Any]] = {}
            while "thread" not in got or "message" not in got:
                frame = await next_frame(ws)
                # Balance edits from the first sync (and a repeated announcement of the new
                # thread) may still be in flight: wait for the frames the unlink causes.
                if (frame["type"] == "thread" and frame["active"] is False) or (
                    "You unlinked this bank" in frame.get("text", "")
                ):
                    got[frame["type"]] = frame
            assert got["thread"]["active"] is False


async def _realtime_reads(stack: Stack, person_id: str) -> int:
    async with stack.deps.uow() as uow:
        entries = await uow.audit.for_person(person_id, limit=1000)
    return sum(e.actor == "component:realtime" and e.action == "read_messages" for e in entries)


async def test_what_this_process_writes_is_pushed_as_written_and_a_gap_is_read_back(
        stack: Stack) -> None:
    """ADR 0015: a message committed here reaches the live tab from the view it was written
    from (no read, so no audit entry); when the views leave a gap (here: a message committed
    without being handed over), the hub reads the changes back, audited, and still sends each
    change once, in rev order."""
    person, cookie = await signed_in(stack, "quinn")
    thread = await system_thread(stack, person)
    async with live(stack, cookie, {"threads": {thread: 0}}) as ws:
        await frames_until_ready(ws)
        before = await _realtime_reads(stack, person)
        await post(stack, person, "pushed as written")
        frame = await next_frame(ws)
        assert frame["text"] == "pushed as written"
        await stack.container.drain()
        assert await _realtime_reads(stack, person) == before

        deps = stack.deps
        async with deps.uow() as uow:  # committed, not handed to the hub, no event
            record = await ensure_system_thread(deps, uow, person)
            await post_text(deps, uow, record, "committed quietly")
            await uow.commit()
        await post(stack, person, "after the gap")
        frames = [await next_frame(ws), await next_frame(ws)]
        assert [f["text"] for f in frames] == ["committed quietly", "after the gap"]
        assert frames[0]["rev"] + 1 == frames[1]["rev"] == frame["rev"] + 2
        await silence(ws)
        await stack.container.drain()
        assert await _realtime_reads(stack, person) == before + 1
