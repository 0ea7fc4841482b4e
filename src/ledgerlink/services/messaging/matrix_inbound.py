"""The Matrix channel, inbound (ADR 0012): the bot's sync loop.

Only events in rooms the bot opened for a channel, and only from the Matrix ID registered for
that channel, are read; the bot's own events and anyone else's are ignored. A text goes the
same way as typing in the web messenger (the chat's text handler, given by the composition
root); a bare number while the thread has an open prompt, or a keycap reaction on a prompt's
event, answers the prompt (through `PromptReplies`, the bank dialogue's side).

The sync token is stored after each batch is handled, so a restart does not handle old events
again; each handled event id is recorded too, so a batch replayed after a crash skips what it
had done. The one event being handled at the crash may be handled twice (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog

from ledgerlink.domain.errors import DomainError
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.channel_ports import (
    MatrixClient,
    MatrixError,
    MatrixInboundEvent,
    MatrixRoomRecord,
)
from ledgerlink.services.messaging.matrix_channel import KEYCAPS

__all__ = ["MatrixInbound"]

log = structlog.get_logger(__name__)

COMPONENT = "matrix"
MAX_FAILURES = 3  # an event that keeps failing is set aside after this many tries
_NUMBER = re.compile(r"\s*([1-9])\s*[.)]?\s*")

TextHandler = Callable[[Deps, Grant, str, str], Awaitable[None]]


class PromptReplies(Protocol):
    """How a number or a keycap reaction answers a bank's question (`dialogue.prompts`)."""

    async def answer_open(self, deps: Deps, grant: Grant, thread_id: str, index: int, *,
                          channel: str) -> bool:
        """Answer the thread's open prompt with option `index`; False if none is open."""
        ...

    async def answer_message(self, deps: Deps, grant: Grant, message_id: str, index: int, *,
                             channel: str) -> bool:
        """Answer the prompt that message shows with option `index`; False if it shows none."""
        ...


def _strip_reply_fallback(body: str) -> str:
    """A Matrix reply quotes the message it answers ("> ..." lines, then a blank line)."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    return "\n".join(lines[i:]).strip()


class MatrixInbound:
    """`start()` runs the sync loop until `stop()`; `run_once()` is one sync (tests)."""

    def __init__(self, deps: Deps, client: MatrixClient, *, handle_text: TextHandler,
                 replies: PromptReplies, timeout_seconds: float = 30.0,
                 rng: random.Random | None = None) -> None:
        self._deps = deps
        self._client = client
        self._timeout_ms = int(timeout_seconds * 1000)
        self._handle_text = handle_text
        self._replies = replies
        self._rng = rng or random.Random()
        self._failures: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self.run_once()
                failures = 0
                continue
            except MatrixError as exc:
                failures += 1
                delay = exc.retry_after if exc.retry_after is not None else self._backoff(failures)
                log.warning("matrix_sync_failed", code=exc.code, retry_in=round(delay, 1))
            except Exception:
                failures += 1
                delay = self._backoff(failures)
                log.exception("matrix_sync_crashed")
            await asyncio.sleep(delay)

    def _backoff(self, failures: int) -> float:
        return self._rng.uniform(0.5, min(60.0, 0.5 * 2 ** min(failures, 10)))

    async def run_once(self, *, timeout_ms: int | None = None) -> int:
        """One sync: handle what came, then store the new token. Returns the events handled.
        The very first sync (no token yet) only takes the token: history is not replayed."""
        deps = self._deps
        bot = self._client.user_id
        async with deps.uow(readonly=True) as uow:
            since = await uow.matrix.sync_token(bot)
        wait = self._timeout_ms if timeout_ms is None else timeout_ms
        batch = await self._client.sync(since=since, timeout_ms=wait if since is not None else 0)
        handled = 0
        if since is not None:
            for event in batch.events:
                handled += await self._event(event)
        async with deps.uow() as uow:
            await uow.matrix.save_sync_token(bot, batch.next_batch, at=deps.clock.now())
            await uow.commit()
        return handled

    async def _event(self, event: MatrixInboundEvent) -> int:
        if event.sender == self._client.user_id:
            return 0
        deps = self._deps
        async with deps.uow(readonly=True) as uow:
            room = await uow.matrix.room(event.room_id)
            if room is None or await uow.matrix.handled(event.event_id):
                return 0
        grant = Grant.for_component(room.person_id, COMPONENT)
        async with deps.uow() as uow:
            channel = await uow.channels.get(room.channel_id)
            if channel is None or channel.status != "active":
                return 0
            config = (await access.open_channel_configs(
                deps.vault, uow, grant, Purpose.DELIVER_UPDATE, [channel], at=deps.clock.now()))
            await uow.commit()  # the audit entry
        if config.get(channel.id, {}).get("mxid") != event.sender:
            log.info("matrix_event_ignored", reason="not_the_channel_owner", channel_id=channel.id)
            return 0
        try:
            await self._dispatch(grant, room, event)
        except DomainError as exc:
            await self._tell(room, event, exc.detail)
        except MatrixError:
            raise
        except Exception:
            count = self._failures[event.event_id] = self._failures.get(event.event_id, 0) + 1
            if count < MAX_FAILURES:
                raise
            log.exception("matrix_event_set_aside", channel_id=channel.id, tries=count)
        self._failures.pop(event.event_id, None)
        async with deps.uow() as uow:
            await uow.matrix.mark_handled(event.event_id, person_id=room.person_id, room_id=room.room_id,
                                          at=deps.clock.now())
            await uow.commit()
        return 1

    async def _dispatch(self, grant: Grant, room: MatrixRoomRecord, event: MatrixInboundEvent) -> None:
        content = event.content
        relates = content.get("m.relates_to")
        relation = relates if isinstance(relates, dict) else {}
        if event.type == "m.reaction":
            if relation.get("rel_type") == "m.annotation":
                await self._reaction(grant, room, str(relation.get("event_id", "")),
                                     str(relation.get("key", "")))
            return
        if content.get("msgtype") != "m.text" or relation.get("rel_type") == "m.replace":
            return  # notices, emotes, files, and edits of earlier messages are not commands
        body = content.get("body")
        if not isinstance(body, str):
            return
        text = _strip_reply_fallback(body)
        number = _NUMBER.fullmatch(text)
        if number is not None and await self._replies.answer_open(
                self._deps, grant, room.thread_id, int(number[1]) - 1, channel=COMPONENT):
            return
        await self._handle_text(self._deps, grant, room.thread_id, text)

    async def _reaction(self, grant: Grant, room: MatrixRoomRecord, event_id: str, key: str) -> None:
        if key not in KEYCAPS:
            return  # any other emoji is just a reaction
        async with self._deps.uow(readonly=True) as uow:
            sent = await uow.matrix.event_by_id(room.room_id, event_id)
        if sent is not None:
            await self._replies.answer_message(self._deps, grant, sent.message_id, KEYCAPS.index(key),
                                               channel=COMPONENT)

    async def _tell(self, room: MatrixRoomRecord, event: MatrixInboundEvent, detail: str) -> None:
        """Answer a message that could not be taken, in the room (not stored in the thread)."""
        txn = "err-" + hashlib.sha256(event.event_id.encode()).hexdigest()[:32]
        content: dict[str, Any] = {"msgtype": "m.notice", "body": f"Not taken: {detail.rstrip('.')}."}
        try:
            await self._client.send(room.room_id, "m.room.message", content, txn_id=txn)
        except MatrixError as exc:
            log.warning("matrix_notice_failed", code=exc.code)

