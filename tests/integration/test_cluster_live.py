"""Live frames across processes (issue 12, ADR 0032), with real processes on PostgreSQL + NATS.

The test process plays the api (it takes the bank's events and stores them in the inbox; it
applies nothing: its role is `api`). One `serve --role worker` process applies them and stores
the messages; two `serve --role gateway` processes hold WebSockets. A client on gateway A gets
the worker's messages live; A is killed with SIGKILL; the client reconnects to gateway B with
its last revision per thread and gets exactly the rest: every message's current revision once,
nothing twice, in per-thread order."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Stack, fresh_database, running_stack
from tests.integration._cluster import Proc, scaleout_env, serve
from tests.integration.test_bank_events import PATH, _signed, _txn_event
from tests.integration.test_cluster_invalidation import _port, nats_url, root  # noqa: F401  (fixtures)
from tests.integration.test_linking_flow import _linked
from tests.integration.test_realtime import PASSWORD, signed_in
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ledgerlink.adapters.db.migrate import upgrade_async
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.web.hub import CLOSE_UNAUTHORIZED
from ledgerlink.services.messaging import messenger

QUIET = {f"{job}_seconds": 0 for job in ("sync_interval", "prompt_check_interval", "consent_check_interval",
                                         "audit_sign_interval", "retention_interval", "digest_interval")}

EVENTS = 8  # bank events sent: 3 seen live on A, 3 around A's death, 2 live on B


@pytest.fixture
async def api_stack(tmp_path: Path, nats_url: str, root: str) -> AsyncIterator[tuple[Stack, str]]:  # noqa: F811
    async with fresh_database("postgres", tmp_path) as url:
        await upgrade_async(url)
        async with running_stack(tmp_path, url, nats_url=nats_url, nats_root=root, roles="api") as stack:
            await asyncio.wait_for(stack.container.deps.bus.wait_ready(), 30)  # type: ignore[attr-defined]
            yield stack, url


async def _healthy(proc: Proc, port: int) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        for _ in range(600):
            assert proc.alive(), proc.tail()
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{proc.name} never became healthy\n{proc.tail()}")


async def _bank_event(stack: Stack, account: str) -> None:
    body = json.dumps(_txn_event(account, f"txn_{secrets.token_hex(6)}", status="posted")).encode()
    async with stack.client() as partner:
        resp = await partner.post(PATH, content=body, headers=_signed(stack, body))
    assert resp.status_code == 202, resp.text


class Client:
    """What a browser tab keeps: every frame it got, and its high-water mark per thread."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.marks: dict[str, int] = {}

    def take(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "message":
            self.frames.append(frame)
            self.marks[frame["thread_id"]] = max(self.marks.get(frame["thread_id"], 0), frame["rev"])

    async def until_ready(self, ws: ClientConnection) -> None:
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 15)))["type"] != "ready":
            self.take(frame)

    async def until_frame(self, ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool],
                          seconds: float = 30.0) -> None:
        """Take frames until one is `wanted`: other frames may come first (the link's own cards
        are delivered by the worker too, some after the resume)."""
        async with asyncio.timeout(seconds):
            while not any(wanted(f) for f in self.frames):
                self.take(json.loads(await ws.recv()))

    async def rest(self, ws: ClientConnection) -> None:
        """Whatever the dead gateway had sent before it died."""
        try:
            while True:
                self.take(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        except (ConnectionClosed, TimeoutError):
            return


@pytest.mark.postgres  # and NATS
async def test_a_worker_stored_message_reaches_the_socket_on_gateway_a_and_resumes_on_b_after_a_kill(
    api_stack: tuple[Stack, str], nats_url: str, root: str, tmp_path: Path,  # noqa: F811
) -> None:
    stack, db_url = api_stack
    env = scaleout_env(database_url=db_url, nats_url=nats_url, root=root, sandbox_url=stack.bank_url,
                       public_url=stack.platform_url, **QUIET)
    ports = {"a": _port(), "b": _port()}
    worker = serve("worker", data_dir=tmp_path / "data", env=env, name="worker")
    gateways = {name: serve("gateway", data_dir=tmp_path / "data", port=port, env=env, name=f"gateway {name}")
                for name, port in ports.items()}
    procs = [worker, *gateways.values()]
    try:
        for name, port in ports.items():
            await _healthy(gateways[name], port)
        person_id, cookie = await signed_in(stack, "pat")
        grant, bank_thread = await _linked(stack, grant=Grant.for_person(person_id))  # the worker relays
        async with stack.deps.uow() as uow:
            account = (await uow.accounts.for_person(person_id))[0].bank_account_id
        client = Client()

        url_a = f"ws://127.0.0.1:{ports['a']}/ws"
        async with connect(url_a, additional_headers={"Cookie": cookie}, open_timeout=30) as ws:
            await ws.send(json.dumps({"type": "resume", "threads": {}, "all": True}))
            await client.until_ready(ws)
            before = len(client.frames)
            assert before >= 1  # the link's cards, replayed from the database
            for _ in range(3):
                await _bank_event(stack, account)
            # stored by the worker, pushed by gateway A
            await client.until_frame(
                ws, lambda f: f["thread_id"] == bank_thread and f["kind"] == "transaction")
            for _ in range(3):  # some of these may reach A before it dies, some not
                await _bank_event(stack, account)
            await asyncio.sleep(0.05)
            gateways["a"].kill()
            await client.rest(ws)
        killed_at = len(client.frames)

        url_b = f"ws://127.0.0.1:{ports['b']}/ws"
        async with connect(url_b, additional_headers={"Cookie": cookie}, open_timeout=30) as ws:
            await ws.send(json.dumps({"type": "resume", "threads": dict(client.marks)}))
            await client.until_ready(ws)
            for _ in range(2):  # and live on B from now on
                await _bank_event(stack, account)
            expected = await _current(stack, grant)
            deadline = asyncio.get_running_loop().time() + 30
            while _cards(client) < EVENTS or not _has_all(client, expected):
                assert asyncio.get_running_loop().time() < deadline, (
                    f"missing {sorted(set(expected.items()) - _latest(client))}\n{worker.tail()}")
                client.take(json.loads(await asyncio.wait_for(ws.recv(), 15)))
                expected = await _current(stack, grant)
    finally:
        for proc in procs:
            proc.stop()

    pairs = [(f["message_id"], f["rev"]) for f in client.frames]
    assert len(pairs) == len(set(pairs)), "a message revision was delivered twice"
    by_thread: dict[str, list[int]] = {}
    for frame in client.frames:
        by_thread.setdefault(frame["thread_id"], []).append(frame["rev"])
    for thread_id, revs in by_thread.items():
        assert revs == sorted(revs), f"out of order in {thread_id}: {revs}"
    assert _latest(client) >= set(expected.items())
    assert len(client.frames) > killed_at, "gateway B sent nothing"
    assert _cards(client) == EVENTS  # one card per bank event, each applied by the worker


async def _current(stack: Stack, grant: Grant) -> dict[str, int]:
    """Message id -> its current revision, over the person's threads (the database's word)."""
    out: dict[str, int] = {}
    for thread in await messenger.list_threads(stack.deps, grant):
        for view in await messenger.thread_messages(stack.deps, grant, thread.id):
            out[view.id] = view.rev
    return out


def _cards(client: Client) -> int:
    return len({f["message_id"] for f in client.frames if f["kind"] == "transaction"})


def _latest(client: Client) -> set[tuple[str, int]]:
    latest: dict[str, int] = {}
    for frame in client.frames:
        latest[frame["message_id"]] = max(latest.get(frame["message_id"], 0), frame["rev"])
    return set(latest.items())


def _has_all(client: Client, expected: dict[str, int]) -> bool:
    return _latest(client) >= set(expected.items())


@pytest.mark.postgres  # and NATS
async def test_signing_out_through_one_process_closes_the_sessions_socket_on_another_gateway(
    api_stack: tuple[Stack, str], nats_url: str, root: str, tmp_path: Path,  # noqa: F811
) -> None:
    stack, db_url = api_stack
    env = scaleout_env(database_url=db_url, nats_url=nats_url, root=root, sandbox_url=stack.bank_url,
                       public_url=stack.platform_url, **QUIET)
    port = _port()
    gateway = serve("gateway", data_dir=tmp_path / "data", port=port, env=env, name="gateway")
    try:
        await _healthy(gateway, port)
        person_id, cookie = await signed_in(stack, "pat")
        _, other_cookie = await _second_sign_in(stack, "pat")
        url = f"ws://127.0.0.1:{port}/ws"
        async with connect(url, additional_headers={"Cookie": cookie}, open_timeout=30) as ws, \
                connect(url, additional_headers={"Cookie": other_cookie}, open_timeout=30) as other:
            for socket_ in (ws, other):
                await socket_.send(json.dumps({"type": "resume", "threads": {}}))
                await Client().until_ready(socket_)
            hub = stack.app.state.hub
            hub.end_sessions(person_id)  # what sign-out everywhere does in the api process
            for socket_ in (ws, other):
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(socket_.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_UNAUTHORIZED
    finally:
        gateway.stop()


async def _second_sign_in(stack: Stack, handle: str) -> tuple[str, str]:
    async with stack.client() as http:
        page = await http.get("/login")
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        resp = await http.post("/login", data={"csrf": token, "handle": handle, "password": PASSWORD})
        assert resp.status_code == 303, resp.text
        return handle, f"ll_session={http.cookies['ll_session']}"

