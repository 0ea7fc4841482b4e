"""The Matrix bot's client (matrix-nio) behind the `MatrixClient` port (ADR 0012).

The bot logs in once with its password (fixed device id, so the homeserver's transaction-id
dedupe holds across restarts) and keeps the session in a 0600 file; an operator may write
that file instead of configuring a password. nio's own retry loops are off: every problem
comes back at once as a `MatrixError`, and the channel worker retries with its backoff.
Tokens and passwords are never logged nor put in an error.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import structlog
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    LoginResponse,
    MessageDirection,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomSendResponse,
    RoomVisibility,
    SyncResponse,
)

from ledgerlink.services.messaging.channel_ports import MatrixError, MatrixInboundEvent, MatrixSyncBatch

__all__ = ["DEVICE_ID", "NioMatrixClient"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

DEVICE_ID = "LEDGERLINKBOT"
INBOUND_TYPES = ["m.room.message", "m.reaction"]
TIMELINE_LIMIT = 100
GAP_PAGES = 20  # at most this many /messages pages to fill a gap in a limited timeline

# Only what the bot reads: messages and reactions, no presence, no account data.
SYNC_FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "timeline": {"types": INBOUND_TYPES, "limit": TIMELINE_LIMIT},
        "state": {"lazy_load_members": True, "types": []},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}


def _status(resp: Any) -> int | None:
    transport = getattr(resp, "transport_response", None)
    status = getattr(transport, "status", None)
    return status if isinstance(status, int) else None


class NioMatrixClient:
    """One bot session. Thread-safe within one event loop: login happens once, under a lock."""

    def __init__(self, homeserver: str, user_id: str, *, password: str | None, session_file: Path,
                 request_timeout: float = 10.0) -> None:
        self._homeserver = homeserver.rstrip("/")
        self._user_id = user_id
        self._password = password
        self._session_file = session_file
        self._config = AsyncClientConfig(
            max_limit_exceeded=0, max_timeouts=0, request_timeout=request_timeout,
            encryption_enabled=False, store_sync_tokens=False,
        )
        self._client: AsyncClient | None = None
        self._login_lock = asyncio.Lock()

    @property
    def user_id(self) -> str:
        return self._user_id

    # ------------------------------------------------------------------ session

    def _load_session(self) -> dict[str, str] | None:
        try:
            data = json.loads(self._session_file.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("user_id") != self._user_id:
            return None
        if not isinstance(data.get("access_token"), str) or not isinstance(data.get("device_id"), str):
            return None
        return {k: str(data[k]) for k in ("user_id", "device_id", "access_token")}

    def _save_session(self, device_id: str, access_token: str) -> None:
        self._session_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._session_file.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"user_id": self._user_id, "device_id": device_id, "access_token": access_token}, fh)
        os.replace(tmp, self._session_file)

    async def _logged_in(self) -> AsyncClient:
        if self._client is not None and self._client.access_token:
            return self._client
        async with self._login_lock:
            if self._client is not None and self._client.access_token:
                return self._client
            client = self._client or AsyncClient(self._homeserver, self._user_id, device_id=DEVICE_ID,
                                                 config=self._config)
            self._client = client
            session = self._load_session()
            if session is not None:
                client.restore_login(session["user_id"], session["device_id"], session["access_token"])
                return client
            if self._password is None:
                raise MatrixError("no_session", retryable=False)
            login = functools.partial(client.login, self._password, device_name="ledgerlink")
            resp = await self._guard(login)
            if not isinstance(resp, LoginResponse):
                raise self._error(resp, what="login")
            self._save_session(resp.device_id, resp.access_token)
            log.info("matrix_logged_in", user=self._user_id, device=resp.device_id)
            return client

    def _drop_session(self) -> None:
        """The token was refused: forget it, log in again next time (when we can)."""
        if self._client is not None:
            self._client.access_token = ""
        if self._password is not None:
            self._session_file.unlink(missing_ok=True)

    # ------------------------------------------------------------------ errors

    async def _guard(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise MatrixError(type(exc).__name__[:64], retryable=True) from None

    def _error(self, resp: Any, *, what: str) -> MatrixError:
        status = _status(resp)
        if isinstance(resp, ErrorResponse):
            code = str(resp.status_code or f"http_{status}")
            if code == "M_UNKNOWN_TOKEN":
                self._drop_session()
                return MatrixError(code, retryable=self._password is not None, status=status)
            if code == "M_LIMIT_EXCEEDED" or status == 429:
                after = None if resp.retry_after_ms is None else resp.retry_after_ms / 1000
                return MatrixError(code, retryable=True, retry_after=after, status=status)
            retryable = status is None or status >= 500
            log.warning("matrix_error", what=what, code=code, status=status)
            return MatrixError(code, retryable=retryable, status=status)
        return MatrixError(f"unexpected_{what}_answer", retryable=True, status=status)

    # ------------------------------------------------------------------ the port

    async def create_direct_room(self, *, name: str, invite: str) -> str:
        client = await self._logged_in()
        resp = await self._guard(lambda: client.room_create(
            visibility=RoomVisibility.private, name=name, is_direct=True,
            preset=RoomPreset.private_chat, invite=[invite],
        ))
        if not isinstance(resp, RoomCreateResponse):
            raise self._error(resp, what="room_create")
        return str(resp.room_id)

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], *, txn_id: str) -> str:
        client = await self._logged_in()
        resp = await self._guard(lambda: client.room_send(room_id, event_type, content, tx_id=txn_id))
        if not isinstance(resp, RoomSendResponse):
            raise self._error(resp, what="room_send")
        return str(resp.event_id)

    async def sync(self, *, since: str | None, timeout_ms: int) -> MatrixSyncBatch:
        client = await self._logged_in()
        resp = await self._guard(lambda: client.sync(
            timeout=timeout_ms, sync_filter=SYNC_FILTER, since=since, full_state=False,
        ))
        if not isinstance(resp, SyncResponse):
            raise self._error(resp, what="sync")
        events: list[MatrixInboundEvent] = []
        for room_id, info in resp.rooms.join.items():
            raw = [e.source for e in info.timeline.events]
            if info.timeline.limited and since is not None and info.timeline.prev_batch:
                raw = await self._gap(client, room_id, info.timeline.prev_batch, since) + raw
            events.extend(self._event(room_id, source) for source in raw if self._wanted(source))
        return MatrixSyncBatch(next_batch=str(resp.next_batch), events=events)

    async def _gap(self, client: AsyncClient, room_id: str, start: str, until: str) -> list[dict[str, Any]]:
        """Events a limited timeline left out, between the last sync and `start`, oldest first."""
        pages: list[list[dict[str, Any]]] = []
        token: str | None = start
        for _ in range(GAP_PAGES):
            if token is None:
                break
            resp = await self._guard(functools.partial(
                client.room_messages, room_id, start=token, end=until, direction=MessageDirection.back,
                limit=TIMELINE_LIMIT, message_filter={"types": INBOUND_TYPES},
            ))
            if not isinstance(resp, RoomMessagesResponse):
                raise self._error(resp, what="room_messages")
            if not resp.chunk:
                break
            pages.append([e.source for e in reversed(resp.chunk)])
            token = resp.end
        else:
            log.warning("matrix_gap_truncated", pages=GAP_PAGES)
        return [e for page in reversed(pages) for e in page]

    @staticmethod
    def _wanted(source: Any) -> bool:
        return (isinstance(source, dict) and source.get("type") in INBOUND_TYPES
                and isinstance(source.get("event_id"), str) and isinstance(source.get("sender"), str)
                and isinstance(source.get("content"), dict))

    @staticmethod
    def _event(room_id: str, source: dict[str, Any]) -> MatrixInboundEvent:
        return MatrixInboundEvent(room_id=room_id, event_id=source["event_id"], sender=source["sender"],
                                  type=source["type"], content=dict(source["content"]))

    async def leave(self, room_id: str) -> None:
        client = await self._logged_in()
        resp = await self._guard(lambda: client.room_leave(room_id))
        if isinstance(resp, ErrorResponse):
            raise self._error(resp, what="room_leave")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
