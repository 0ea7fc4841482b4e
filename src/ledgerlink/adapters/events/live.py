"""Live frames across processes (scale-out profile, issue 12, ADR 0032): the events the web
messenger's hub reacts to (`MessageStored`, `ThreadRead`, `LinkActivated`, `LinkRevoked`) reach
the gateway that holds the person's WebSocket, on a core NATS subject per person.

- **Publisher (worker role).** Each of those events reaches one worker through the outbox and
  a durable JetStream consumer (`live-fanout`); its handler `forward` publishes a notice on
  `<root>.live.<person id>`. The person id is the opaque random id (`per_` + 128 bits), never
  the handle or anything the person typed; the notice is the event's ids and counters, as in
  the outbox. A worker that dies before the ack only means the notice is sent twice.
- **Subscriber (gateway role).** `watch(person_id)` subscribes while the person has an open
  connection in this process, and waits until the server has the subscription (a PING/PONG
  round trip) before the connection's resume reads the database: a notice published before
  that was published after a commit that the resume then reads. Notices are decoded into the
  events and handed to the subscribers (the hub), which catch the connection up *from the
  database* past its per-thread marks: a notice is only a hint, so one arriving twice, out of
  order, or late sends nothing twice and skips nothing.
- **What core NATS does not keep.** A gateway disconnected from NATS misses notices. When its
  connection comes back (the client has re-sent its subscriptions and had them confirmed
  first), `resync` runs for every watched person: their threads are caught up from the
  database, as if a notice had come for each. So a connection never stays behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ledgerlink.domain.events import Event, LinkActivated, LinkRevoked, MessageStored, ThreadRead
from ledgerlink.services.kernel.bus import Handler
from ledgerlink.services.kernel.outbox import UnknownEvent, decode_event, encode_event

__all__ = ["LIVE_EVENTS", "LiveSubjects"]

_log = structlog.get_logger(__name__)
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")

LIVE_EVENTS: tuple[type[Event], ...] = (MessageStored, ThreadRead, LinkActivated, LinkRevoked)
ThreadsOf = Callable[[str], Awaitable[list[str]]]
SESSIONS_ENDED = "sessions_ended"  # a notice of its own: {"type", "session_id": id or null (all)}


class LiveSubjects:
    """The hub's event source on the scale-out profile (`subscribe` as on a bus), and the
    worker's publisher of per-person notices (`forward`)."""

    def __init__(self, *, root: str, flush_timeout: int = 2) -> None:
        self.prefix = f"{root}.live"
        self._flush_timeout = flush_timeout
        self._handlers: dict[type[Event], list[Handler]] = {}
        self._watched: dict[str, int] = {}  # person id -> open connections in this process
        self._subs: dict[str, Subscription] = {}
        self._confirmed: dict[str, asyncio.Event] = {}  # set once the person's subscription holds
        self._threads_of: ThreadsOf | None = None
        self._sessions_ended: Callable[[str, str | None], None] | None = None
        self._nc: Client | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.received = 0  # notices handed to the subscribers (tests, metrics)
        self.forwarded = 0  # notices this process published

    def subject(self, person_id: str) -> str:
        if not _SAFE_ID.fullmatch(person_id):
            raise ValueError("a person id is letters, digits, '_' or '-'")
        return f"{self.prefix}.{person_id}"

    # ---------------------------------------------------------------- the hub's side

    def subscribe(self, event_type: type[Event], handler: Handler) -> None:
        handlers = self._handlers.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)

    def on_resync(self, threads_of: ThreadsOf) -> None:
        """How to find a person's thread ids, to catch them up after missed notices."""
        self._threads_of = threads_of

    def on_sessions_ended(self, close: Callable[[str, str | None], None]) -> None:
        """How to close a person's connections here when a session ended in another process."""
        self._sessions_ended = close

    def announce_sessions_ended(self, person_id: str, session_id: str | None) -> None:
        """A sign-out or erasure here: every process closes that session's (or all the
        person's) connections. Sent at once, from a synchronous caller; never raises."""
        task = asyncio.create_task(self._announce(person_id, session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce(self, person_id: str, session_id: str | None) -> None:
        if self._nc is None:
            _log.warning("live_sessions_end_not_broadcast")
            return
        try:
            notice = {"type": SESSIONS_ENDED, "session_id": session_id}
            await self._nc.publish(self.subject(person_id), json.dumps(notice).encode())
        except Exception as exc:
            _log.warning("live_sessions_end_not_broadcast", error=type(exc).__name__)

    async def watch(self, person_id: str) -> None:
        """The person has one more open connection here; on the first, subscribe and wait
        until the server has the subscription. Never raises: without NATS the connection
        still resumes from the database, and `resync` follows when NATS returns."""
        self._watched[person_id] = self._watched.get(person_id, 0) + 1
        confirmed = self._confirmed.get(person_id)
        if confirmed is not None:  # a second tab: wait until the first one's subscription holds
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_timeout):
                    await confirmed.wait()
            return
        self._confirmed[person_id] = confirmed = asyncio.Event()
        try:
            await self._subscribe(person_id, confirm=True)
        finally:
            confirmed.set()

    async def unwatch(self, person_id: str) -> None:
        left = self._watched.get(person_id, 0) - 1
        if left > 0:
            self._watched[person_id] = left
            return
        self._watched.pop(person_id, None)
        self._confirmed.pop(person_id, None)
        sub = self._subs.pop(person_id, None)
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection is gone: so is the interest
                _log.debug("live_unsubscribe_failed", error=type(exc).__name__)

    def watching(self) -> int:
        return len(self._watched)

    async def attach(self, nc: Client) -> None:
        """The bus is connected: subscribe for everyone already watched, then catch them up."""
        self._nc = nc
        for person_id in list(self._watched):
            await self._subscribe(person_id, confirm=False)
        if self._watched:
            await self._confirm()
            self.reset()

    def detach(self) -> None:
        self._nc = None
        self._subs.clear()
        for task in list(self._tasks):
            task.cancel()

    def reset(self) -> None:
        """The connection came back (the client has re-sent and confirmed its subscriptions):
        notices may have been missed, so every watched person is caught up from the database."""
        if self._threads_of is None:
            return
        for person_id in list(self._watched):
            task = asyncio.create_task(self._run_resync(person_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_resync(self, person_id: str) -> None:
        """As if a notice had come for each of the person's threads: rev 0 announces nothing,
        so the hub reads every change past its connections' marks from the database."""
        assert self._threads_of is not None
        try:
            for thread_id in await self._threads_of(person_id):
                await self._dispatch(MessageStored(person_id=person_id, thread_id=thread_id,
                                                   message_id="", rev=0))
        except Exception as exc:
            _log.warning("live_resync_failed", error=type(exc).__name__)

    async def _subscribe(self, person_id: str, *, confirm: bool) -> None:
        if self._nc is None or person_id in self._subs:
            return
        try:
            self._subs[person_id] = await self._nc.subscribe(self.subject(person_id), cb=self._received)
            if confirm:
                await self._confirm()
        except Exception as exc:
            _log.warning("live_subscribe_failed", error=type(exc).__name__)

    async def _confirm(self) -> None:
        assert self._nc is not None
        await self._nc.flush(timeout=self._flush_timeout)  # PONG: the server has every SUB sent

    async def _received(self, msg: Msg) -> None:
        try:
            body: Any = json.loads(msg.data)
            if isinstance(body, dict) and body.get("type") == SESSIONS_ENDED:
                self._ended(msg.subject, body.get("session_id"))
                return
            type_name, payload = body["type"], body["event"]
            if not isinstance(type_name, str) or not isinstance(payload, dict):
                raise TypeError
            event = decode_event(type_name, json.dumps(payload).encode())
        except (ValueError, KeyError, TypeError, UnknownEvent):
            _log.warning("live_notice_malformed")
            return
        self.received += 1
        await self._dispatch(event)

    def _ended(self, subject: str, session_id: Any) -> None:
        person_id = subject[len(self.prefix) + 1:]
        if self._sessions_ended is None or person_id not in self._watched:
            return
        if session_id is not None and not isinstance(session_id, str):
            _log.warning("live_notice_malformed")
            return
        self._sessions_ended(person_id, session_id)

    async def _dispatch(self, event: Event) -> None:
        for handler in tuple(self._handlers.get(type(event), ())):
            try:
                await handler(event)
            except Exception as exc:  # one failure must not starve the other handlers
                _log.warning("live_notice_failed", event_type=type(event).__name__,
                             error=type(exc).__name__)

    # ---------------------------------------------------------------- the worker's side

    async def forward(self, event: Event) -> None:
        """Publish the event's notice to its person's subject (the `live-fanout` consumers).
        Raises while NATS is unreachable, so JetStream delivers the event again."""
        person_id = getattr(event, "person_id", None)
        if not isinstance(person_id, str):
            return
        if self._nc is None:
            raise ConnectionError("NATS is not connected")
        notice = {"type": type(event).__name__, "event": json.loads(encode_event(event))}
        await self._nc.publish(self.subject(person_id), json.dumps(notice, separators=(",", ":")).encode())
        self.forwarded += 1
