"""A real Synapse for the Matrix channel's tests: users registered with the shared secret, a
person's matrix-nio client, and a loopback TCP relay that can be cut to make the homeserver
unreachable for the platform only.

`./scripts/test` starts Synapse (scripts/synapse) and exports LEDGERLINK_TEST_SYNAPSE_URL and
LEDGERLINK_TEST_SYNAPSE_SECRET. Without them the tests skip locally and fail under CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from nio import AsyncClient, AsyncClientConfig, JoinResponse, LoginResponse, RoomSendResponse, SyncResponse

URL_ENV = "LEDGERLINK_TEST_SYNAPSE_URL"
SECRET_ENV = "LEDGERLINK_TEST_SYNAPSE_SECRET"


@dataclass(frozen=True)
class Synapse:
    url: str
    secret: str


@dataclass(frozen=True)
class MatrixUser:
    mxid: str
    password: str


@pytest.fixture
def synapse() -> Synapse:
    url, secret = os.environ.get(URL_ENV), os.environ.get(SECRET_ENV)
    if not url or not secret:
        if os.environ.get("CI"):
            pytest.fail(f"{URL_ENV} / {SECRET_ENV} are not set: scripts/test starts Synapse and sets them")
        pytest.skip(f"{URL_ENV} not set (run through ./scripts/test)")
    return Synapse(url=url.rstrip("/"), secret=secret)


async def register(synapse: Synapse, name: str) -> MatrixUser:
    """A new (non-admin) user through Synapse's shared-secret registration API, with a random
    suffix so tests never collide on the shared server."""
    localpart = f"{name}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    async with httpx.AsyncClient(base_url=synapse.url, timeout=10.0) as http:
        nonce = (await http.get("/_synapse/admin/v1/register")).json()["nonce"]
        mac = hmac.new(synapse.secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), b"notadmin"]))
        resp = await http.post("/_synapse/admin/v1/register", json={
            "nonce": nonce, "username": localpart, "password": password, "admin": False,
            "mac": mac.hexdigest(),
        })
        resp.raise_for_status()
        return MatrixUser(mxid=resp.json()["user_id"], password=password)


@dataclass
class Person:
    """A Matrix user's own client (matrix-nio): joins invites, sends, and keeps every timeline
    event it has seen, per room, in order."""

    client: AsyncClient
    user: MatrixUser
    timeline: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    invites: dict[str, str] = field(default_factory=dict)  # room id -> inviter

    async def sync(self, timeout_ms: int = 200) -> None:
        resp = await self.client.sync(timeout=timeout_ms)
        assert isinstance(resp, SyncResponse), resp
        for room_id, info in resp.rooms.invite.items():
            for event in info.invite_state:
                source = getattr(event, "source", None) or {}
                if source.get("type") == "m.room.member" and source.get("state_key") == self.user.mxid:
                    self.invites[room_id] = str(source.get("sender"))
        for room_id, info in resp.rooms.join.items():
            self.timeline.setdefault(room_id, []).extend(e.source for e in info.timeline.events)

    async def join(self, room_id: str) -> None:
        resp = await self.client.join(room_id)
        assert isinstance(resp, JoinResponse), resp

    async def say(self, room_id: str, text: str) -> str:
        resp = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text})
        assert isinstance(resp, RoomSendResponse), resp
        return str(resp.event_id)

    async def react(self, room_id: str, event_id: str, key: str) -> None:
        resp = await self.client.room_send(room_id, "m.reaction", {
            "m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}})
        assert isinstance(resp, RoomSendResponse), resp

    async def invite(self, room_id: str, mxid: str) -> None:
        await self.client.room_invite(room_id, mxid)

    def messages(self, room_id: str, sender: str | None = None) -> list[dict[str, Any]]:
        """m.room.message events of the room (edits included), oldest first."""
        return [e for e in self.timeline.get(room_id, [])
                if e.get("type") == "m.room.message" and (sender is None or e.get("sender") == sender)]

    def originals(self, room_id: str, sender: str) -> list[dict[str, Any]]:
        """The sender's messages that are not edits of another one."""
        return [e for e in self.messages(room_id, sender)
                if (e["content"].get("m.relates_to") or {}).get("rel_type") != "m.replace"]

    def edits_of(self, room_id: str, event_id: str) -> list[dict[str, Any]]:
        return [e for e in self.messages(room_id)
                if (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.replace"
                and e["content"]["m.relates_to"].get("event_id") == event_id]

    def reactions(self, room_id: str, event_id: str) -> list[dict[str, Any]]:
        return [e for e in self.timeline.get(room_id, [])
                if e.get("type") == "m.reaction"
                and e["content"].get("m.relates_to", {}).get("event_id") == event_id]


@contextlib.asynccontextmanager
async def person_client(synapse: Synapse, user: MatrixUser) -> AsyncIterator[Person]:
    client = AsyncClient(synapse.url, user.mxid, config=AsyncClientConfig(encryption_enabled=False))
    try:
        resp = await client.login(user.password)
        assert isinstance(resp, LoginResponse), resp
        person = Person(client=client, user=user)
        await person.sync(timeout_ms=0)
        yield person
    finally:
        await client.close()


async def until(check: Callable[[], bool], step: Callable[[], Any], seconds: float = 20.0) -> None:
    """Run `step` (a sync, a drain) until `check()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:  # a step that never returns (a sync or a drain stuck under load) is a failure too
            async with asyncio.timeout_at(deadline + 5.0):
                await step()
        except TimeoutError:
            raise AssertionError("timed out in a step while waiting for the condition") from None
        if check():
            return
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the condition")
        await asyncio.sleep(0.05)


class Relay:
    """A TCP relay on 127.0.0.1 in front of Synapse. `cut()` closes the listener and every
    open connection, so the platform sees a homeserver that refuses connections; `restore()`
    listens again on the same port."""

    def __init__(self, target_url: str) -> None:
        target = httpx.URL(target_url)
        self._host, self._port = target.host, target.port or 80
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None
