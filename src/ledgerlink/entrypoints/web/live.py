"""The `/ws` endpoint of the web messenger: one browser tab's live connection.

Only pages of the platform's own origin may connect (the `Origin` header against the public
URL; anything else is refused before the handshake). The tab signs in with its session cookie
(a live server-side session, ADR 0019) and sends `resume` first (the highest rev it has seen
per thread); the hub (`hub.py`) replays what it missed and then streams every change. Later
frames from the tab: `ping` (answered `pong`) and `read` (the open thread was seen). Close
codes are the hub's `CLOSE_*`, and 1013 "try again later" (with `retry_after_ms` in the reason)
from the hub's admission control (`admission.py`): from the session lookup to the end of the
replay a new connection holds one of a bounded number of slots. Protocol: docs/messenger.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket

from ledgerlink.entrypoints.dependencies import current_session
from ledgerlink.entrypoints.web.hub import CLOSE_UNAUTHORIZED, Connection, Hub, get_hub
from ledgerlink.entrypoints.web.kit import same_origin
from ledgerlink.entrypoints.web.messaging_admission import CLOSE_TRY_AGAIN_LATER, Busy, Ticket

__all__ = ["RESUME_TIMEOUT", "router"]

_log = structlog.get_logger(__name__)

RESUME_TIMEOUT = 15.0
CLOSE_POLICY_VIOLATION = 1008  # RFC 6455: the Origin is not the platform's

router = APIRouter()


def _parse_resume(raw: str) -> tuple[dict[str, int], bool]:
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return {}, False
    if not isinstance(data, dict) or data.get("type") != "resume":
        return {}, False
    threads: dict[str, int] = {}
    given = data.get("threads")
    if isinstance(given, dict):
        for key, value in list(given.items())[:1000]:
            if isinstance(key, str) and isinstance(value, int) and not isinstance(value, bool):
                threads[key] = value
    return threads, data.get("all") is True


async def _writer(websocket: WebSocket, conn: Connection) -> None:
    while True:
        frame = await conn.queue.get()
        await websocket.send_text(frame)


async def _receive_text(websocket: WebSocket) -> str | None:
    """The next text frame; None once the client has gone. Binary frames are ignored."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if isinstance(text, str):
            return text


async def _reader(websocket: WebSocket, hub: Hub, conn: Connection) -> None:
    while (raw := await _receive_text(websocket)) is not None:
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if data == {"type": "ping"}:
            await websocket.send_text('{"type":"pong"}')
        elif isinstance(data, dict) and data.get("type") == "read":
            answer = await hub.mark_read(conn, data)
            if answer is not None:
                conn.offer(answer)


async def _wait_closed(conn: Connection) -> None:
    await conn.closed.wait()


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    if not same_origin(websocket):
        # A page of another origin (another port, a sibling site) must not read the feed with
        # the person's cookie: refused before the handshake (HTTP 403), nothing is sent.
        await websocket.close(code=CLOSE_POLICY_VIOLATION)
        return
    await websocket.accept()  # accept first: a close code cannot travel on a refused handshake
    hub = get_hub(websocket)
    try:
        ticket = await hub.admission.enter()
    except Busy as busy:
        _log.info("realtime_try_again_later", retry_after_ms=round(busy.retry_after * 1000))
        with contextlib.suppress(Exception):
            await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason=busy.reason)
        return
    try:
        await _admitted(websocket, hub, ticket)
    finally:
        ticket.release()


async def _admitted(websocket: WebSocket, hub: Hub, ticket: Ticket) -> None:
    """The connection from its session lookup on; `ticket` is released once it is live."""
    session = await current_session(websocket)
    if session is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="sign in first")
        return
    # Registered before the replay: nothing committed meanwhile is lost. Ending the session
    # (sign-out, erasure) closes this connection.
    conn = hub.register(session.person.id, session.id)
    # Scale-out (ADR 0032): the person's NATS subject is listened to, and the server has the
    # subscription, before the replay reads the database; notices from other processes follow.
    source = getattr(websocket.app.state, "live_source", None)
    tasks: list[asyncio.Task[None]] = []
    try:
        if source is not None:
            await source.watch(conn.person_id)
        try:
            async with asyncio.timeout(RESUME_TIMEOUT):
                first = await _receive_text(websocket)
        except TimeoutError:
            first = None
        if first is None:
            return
        threads, everything = _parse_resume(first)
        replay = asyncio.create_task(hub.replay(conn, threads, everything=everything))
        tasks = [replay, asyncio.create_task(_writer(websocket, conn)),
                 asyncio.create_task(_reader(websocket, hub, conn)), asyncio.create_task(_wait_closed(conn))]
        waiting: set[asyncio.Task[None]] = set(tasks)
        while True:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if done == {replay} and replay.exception() is None:
                ticket.release()  # live now: the next new connection may start
                continue  # the replay is over: stream live until something ends
            break
        if replay in done and replay.exception() is not None:
            _log.warning("realtime_replay_failed", error=type(replay.exception()).__name__)
            conn.close(1011)
        if conn.close_code is not None:
            with contextlib.suppress(Exception):
                await websocket.close(code=conn.close_code)
    finally:
        hub.unregister(conn)
        if source is not None:
            await source.unwatch(conn.person_id)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
