"""The hub: live updates fanned out to the web messenger's open tabs, resumable from
per-thread revisions.

Every message change has a thread-wide revision (`rev`). A connection remembers, per thread,
the highest rev it has sent (its high-water mark). Whatever triggers a send — the resume
after connecting, or a `MessageStored` event — the connection is *caught up*: every change
after its mark is sent in rev order, and the mark moves. So events that arrive out of order
(the bus does not order them), twice, or for an edit that was superseded meanwhile never
cause a gap or a duplicate: anything at or below the mark is dropped.

Where the changes come from: messages this process has just committed are handed to the hub
with their views (`LiveFeed.written`, right after the commit) and pushed as they are, when
they cover every rev after the connections' marks; anything else (a gap, another process's
writes, a resume) is read from the database under `deliver_update` (ADR 0015).

The hub builds the frames the server sends and owns the close codes; the `/ws` endpoint (the
socket's reader and writer, the frames the browser sends) is `live.py`. Protocol:
docs/messenger.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import HTTPConnection

from ledgerlink.domain.cards import preview_text
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.events import LinkActivated, LinkRevoked, MessageStored, ThreadRead
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.web.messaging_admission import Admission
from ledgerlink.entrypoints.web.rendering import render_message
from ledgerlink.services.kernel.bus import Handler
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging import messenger, read_state
from ledgerlink.services.messaging.messenger import ThreadSummary
from ledgerlink.services.messaging.ports import MessageView

__all__ = ["CLOSE_GOING_AWAY", "CLOSE_SLOW_CONSUMER", "CLOSE_UNAUTHORIZED", "Connection", "Hub",
           "get_hub"]

CLOSE_UNAUTHORIZED = 4401
CLOSE_SLOW_CONSUMER = 4408
CLOSE_GOING_AWAY = 1001
PAGE = 200  # changes read per query while catching up
MAX_HINTS = 256  # just-written views kept per thread until its catch-up takes them


def message_frame(view: MessageView, level: str = "full") -> str:
    """`text` is the notification preview, cut to the person's disclosure level; `html` is
    the card itself, shown only inside the open thread."""
    return json.dumps({
        "type": "message", "thread_id": view.thread_id, "message_id": view.id, "seq": view.seq,
        "rev": view.rev, "kind": view.kind.value, "html": render_message(view),
        "text": preview_text(view.kind, view.body, level), "edited": view.edited_at is not None,
    }, separators=(",", ":"))


def read_frame(thread_id: str, last_read_seq: int, unread: int) -> str:
    """Read state, for the badges of every tab: ids and counters only."""
    return json.dumps({"type": "read", "thread_id": thread_id, "last_read_seq": last_read_seq,
                       "unread": unread}, separators=(",", ":"))


def thread_frame(thread: ThreadSummary) -> str:
    return json.dumps({"type": "thread", "thread_id": thread.id, "title": thread.title,
                       "kind": thread.kind.value, "active": thread.active,
                       "last_rev": thread.last_rev}, separators=(",", ":"))


class EventSource(Protocol):
    """Where the hub hears of changes: the bus (embedded default), or the per-person NATS
    subjects of the scale-out profile (`adapters/events/live.py`, ADR 0032)."""

    def subscribe(self, event_type: type[Any], handler: Handler) -> None: ...


@dataclass(eq=False)
class Connection:
    """One browser tab. Frames wait in a bounded queue; a writer task sends them."""

    person_id: str
    queue: asyncio.Queue[str]
    session_id: str | None = None  # the sign-in session it was opened with (ADR 0019)
    marks: dict[str, int] = field(default_factory=dict)  # thread id -> highest rev sent
    ready: bool = False  # the resume replay is done; live catch-ups now go through the hub
    dirty: set[str] = field(default_factory=set)  # threads that changed during the replay
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    disclosure: str = "full"  # the person's preview level, read once when the replay starts

    def close(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
        self.closed.set()

    def offer(self, frame: str) -> bool:
        """Enqueue without waiting; a full queue closes the connection (the client resumes)."""
        if self.closed.is_set():
            return False
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.close(CLOSE_SLOW_CONSUMER)
            return False
        return True

    def fresh(self, views: Iterable[MessageView]) -> list[MessageView]:
        """The views above this connection's marks, marks moved: each change is sent once."""
        out = []
        for view in views:
            if view.rev > self.marks.get(view.thread_id, 0):
                self.marks[view.thread_id] = view.rev
                out.append(view)
        return out


class Hub:
    """Fans `MessageStored` out to the person's open connections (this process only)."""

    def __init__(self, deps: Deps, *, queue_size: int = 1000, events: EventSource | None = None,
                 admission: Admission | None = None) -> None:
        self._deps = deps
        self.admission = admission or Admission()  # new connections: lookup, subscribe, replay
        self._events: EventSource = events if events is not None else deps.bus
        self._queue_size = queue_size
        self._by_person: dict[str, set[Connection]] = {}
        self._running: set[tuple[str, str]] = set()
        self._again: set[tuple[str, str]] = set()
        self._wanted: dict[tuple[str, str], int] = {}  # highest rev announced, per catch-up key
        # thread id -> rev -> view of a message this process has just written (LiveFeed):
        # taken by the thread's next catch-up; kept only while the person has a live tab.
        self._hints: dict[str, dict[int, MessageView]] = {}
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._started:
            return
        self._deps.live = self  # handed what this process writes, after each commit
        self._events.subscribe(MessageStored, self._on_message_stored)
        self._events.subscribe(LinkActivated, self._on_link_changed)
        self._events.subscribe(LinkRevoked, self._on_link_changed)
        self._events.subscribe(ThreadRead, self._on_thread_read)
        if hasattr(self._events, "on_sessions_ended"):  # ended in another process (ADR 0032)
            self._events.on_sessions_ended(self.close_sessions)
        self._started = True

    async def stop(self) -> None:
        """Close every connection (the bus has no unsubscribe: handlers see no connections)."""
        if self._deps.live is self:
            self._deps.live = None
        for conns in list(self._by_person.values()):
            for conn in list(conns):
                conn.close(CLOSE_GOING_AWAY)
        self._by_person.clear()
        self._hints.clear()

    # ------------------------------------------------------------------ LiveFeed

    def written(self, fresh: Sequence[tuple[str, MessageView]]) -> None:
        """Views of messages just committed by this process. Kept (briefly, in memory) only for
        people with a live connection; the `MessageStored` events that follow take them."""
        for person_id, view in fresh:
            if not any(c.ready for c in self._by_person.get(person_id, ())):
                continue
            hints = self._hints.setdefault(view.thread_id, {})
            if len(hints) >= MAX_HINTS:
                hints.clear()  # nobody took them: the catch-up reads the database instead
            hints[view.rev] = view

    def connections(self, person_id: str) -> int:
        return len(self._by_person.get(person_id, ()))

    def register(self, person_id: str, session_id: str | None = None) -> Connection:
        conn = Connection(person_id=person_id, queue=asyncio.Queue(self._queue_size),
                          session_id=session_id)
        self._by_person.setdefault(person_id, set()).add(conn)
        return conn

    def end_sessions(self, person_id: str, session_id: str | None = None) -> None:
        """A session was ended (sign-out), or all of the person's (sign out everywhere,
        erasure): close their live connections (`CLOSE_UNAUTHORIZED`) here, and on the
        scale-out profile in every other process too (ADR 0032)."""
        self.close_sessions(person_id, session_id)
        announce = getattr(self._events, "announce_sessions_ended", None)
        if announce is not None:
            announce(person_id, session_id)

    def close_sessions(self, person_id: str, session_id: str | None = None) -> None:
        """`end_sessions` in this process only."""
        for conn in list(self._by_person.get(person_id, ())):
            if session_id is None or conn.session_id == session_id:
                conn.close(CLOSE_UNAUTHORIZED)

    def unregister(self, conn: Connection) -> None:
        conns = self._by_person.get(conn.person_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_person[conn.person_id]

    # ------------------------------------------------------------------ resume

    async def replay(self, conn: Connection, threads: dict[str, int], *, everything: bool) -> None:
        """Send every change after the client's revs, then `ready`. `conn` is registered
        already, so changes committed meanwhile mark their thread dirty and are read here."""
        grant = Grant.for_person(conn.person_id)
        try:
            conn.disclosure = (await messenger.get_person(self._deps, conn.person_id)).disclosure
        except NotFound:  # erased meanwhile: the session is stale
            conn.close(CLOSE_UNAUTHORIZED)
            return
        summaries = await messenger.list_threads(self._deps, grant)
        for t in summaries:
            if t.id in threads:
                conn.marks[t.id] = max(0, threads[t.id])
            else:
                conn.marks[t.id] = 0 if everything else t.last_rev
                await conn.queue.put(thread_frame(t))  # the client may not know this thread
        todo = [t.id for t in summaries]
        while todo:
            if any(thread_id not in conn.marks for thread_id in todo):  # created meanwhile
                for t in await messenger.list_threads(self._deps, grant):
                    if t.id in todo and t.id not in conn.marks:
                        conn.marks[t.id] = 0
                        await conn.queue.put(thread_frame(t))
            for thread_id in todo:
                conn.dirty.discard(thread_id)
                if thread_id in conn.marks:
                    await self._replay_thread(conn, grant, thread_id)
            todo = list(conn.dirty)
        conn.ready = True  # no await since the last dirty check: nothing slips between
        await conn.queue.put(json.dumps({"type": "ready"}))

    async def _replay_thread(self, conn: Connection, grant: Grant, thread_id: str) -> None:
        while True:
            views = await messenger.thread_messages(self._deps, grant, thread_id,
                                                    after_rev=conn.marks.get(thread_id, 0),
                                                    limit=PAGE)
            for view in conn.fresh(views):
                await conn.queue.put(message_frame(view, conn.disclosure))  # backpressure, not overflow, here
            if len(views) < PAGE:
                return

    # ------------------------------------------------------------------ live

    async def _on_message_stored(self, event: MessageStored) -> None:
        key = (event.person_id, event.thread_id)
        self._wanted[key] = max(self._wanted.get(key, 0), event.rev)
        if key in self._running:  # one catch-up per thread at a time; it runs once more
            self._again.add(key)
            return
        self._running.add(key)
        try:
            while True:
                self._again.discard(key)
                await self._catch_up(event.person_id, event.thread_id, self._wanted.pop(key, 0))
                if key not in self._again:
                    return
        finally:
            self._running.discard(key)
            self._again.discard(key)
            self._wanted.pop(key, None)

    async def _catch_up(self, person_id: str, thread_id: str, wanted: int = 0) -> None:
        """Send every change after the live connections' marks (up to at least `wanted`, the
        highest rev announced), from the just-written views when they cover it all."""
        hints = self._hints.pop(thread_id, None)
        conns = list(self._by_person.get(person_id, ()))
        live = []
        for conn in conns:
            if conn.ready:
                live.append(conn)
            else:
                conn.dirty.add(thread_id)
        if not live:
            return
        if any(thread_id not in c.marks for c in live):
            await self._announce_new_thread(person_id, thread_id, live)
        grant = Grant.for_component(person_id, "realtime")
        frames: dict[tuple[str, int, str], str] = {}  # rendered once, whatever the connection count
        while live:
            after = min(c.marks.get(thread_id, 0) for c in live)
            if hints is None and 0 < wanted <= after:
                return  # an earlier catch-up already sent every change announced so far
            covered = _covering(hints, after, wanted)
            hints = None  # one use: a second page comes from the database
            views = covered if covered is not None else await self._changes(grant, thread_id, after)
            for conn in live:
                for view in conn.fresh(views):
                    key = (view.id, view.rev, conn.disclosure)
                    if key not in frames:
                        frames[key] = message_frame(view, conn.disclosure)
                    conn.offer(frames[key])
            if len(views) < PAGE:
                return
            live = [c for c in live if not c.closed.is_set()]

    async def _changes(self, grant: Grant, thread_id: str, after_rev: int) -> list[MessageView]:
        # One indexed query for the changes after `after_rev`, read for delivery.
        return await messenger.changes_for_delivery(self._deps, grant, thread_id,
                                                    after_rev=after_rev, limit=PAGE)

    async def _announce_new_thread(self, person_id: str, thread_id: str,
                                   conns: list[Connection]) -> None:
        summaries = await messenger.list_threads(self._deps, Grant.for_person(person_id))
        thread = next((t for t in summaries if t.id == thread_id), None)
        if thread is None:
            return
        frame = thread_frame(thread)
        for conn in conns:
            if thread_id not in conn.marks:
                conn.marks[thread_id] = 0
                conn.offer(frame)

    async def _on_link_changed(self, event: LinkActivated | LinkRevoked) -> None:
        conns = list(self._by_person.get(event.person_id, ()))
        if not conns:
            return
        summaries = await messenger.list_threads(self._deps, Grant.for_person(event.person_id))
        for thread in summaries:
            if thread.link_id == event.link_id:
                frame = thread_frame(thread)
                for conn in conns:
                    conn.offer(frame)


    # ------------------------------------------------------------------ read state

    async def _on_thread_read(self, event: ThreadRead) -> None:
        frame = read_frame(event.thread_id, event.last_read_seq, max(0, event.last_seq - event.last_read_seq))
        for conn in list(self._by_person.get(event.person_id, ())):
            conn.offer(frame)

    async def mark_read(self, conn: Connection, data: dict[str, Any]) -> str | None:
        """A `read` frame from the client; an `error` frame to answer, or None (the `read`
        frame then reaches every tab through `ThreadRead`)."""
        thread_id = data.get("thread_id")
        seq = data.get("seq")
        if not isinstance(thread_id, str) or not thread_id or not isinstance(seq, int | str):
            return _error_frame("bad_read", 'a read frame is {"type": "read", "thread_id": …, "seq": …}')
        try:
            await read_state.mark_read(self._deps, Grant.for_person(conn.person_id), thread_id, seq)
        except NotFound:
            return _error_frame("not_found", "no such thread", thread_id=thread_id)
        except InvalidInput as exc:
            return _error_frame(exc.code, exc.detail, thread_id=thread_id)
        return None


def get_hub(conn: HTTPConnection) -> Hub:
    """This app's hub (`create_app` keeps it in `app.state`)."""
    return conn.app.state.hub  # type: ignore[no-any-return]


def _covering(hints: dict[int, MessageView] | None, after: int, wanted: int) -> list[MessageView] | None:
    """The hinted views after `after` in rev order, if they leave no gap up to `wanted` (or
    their own highest rev); None when the database must be read instead."""
    if not hints:
        return None
    top = max(max(hints), wanted)
    if top <= after:
        return []
    if any(rev not in hints for rev in range(after + 1, top + 1)):
        return None
    return [hints[rev] for rev in range(after + 1, top + 1)]


def _error_frame(code: str, detail: str, **extra: str) -> str:
    return json.dumps({"type": "error", "code": code, "detail": detail, **extra}, separators=(",", ":"))
