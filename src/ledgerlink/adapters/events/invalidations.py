"""What one process caches, every process forgets (scale-out profile, issue 12, ADR 0029).

Caches that must follow a state change made elsewhere: the vault's per-person data keys
(erasure destroys the key; rotation rewraps it) and ingest's account resolutions (a revoked
link). The process that changes the state publishes `{"kind": ..., "key": ...}` on the core
NATS subject `<root>.invalidate`; every process (all roles) subscribes and drops the entry.

Core NATS, not JetStream: an invalidation matters only to processes running now (a process
that starts has empty caches), every process must get it (fan-out, where a durable consumer
would hand it to one), and it must arrive in milliseconds. What core NATS cannot promise is
delivery to a process that is disconnected at that moment, so a process forgets *everything*
whenever its connection drops and again when it comes back: it misses no invalidation while
it keeps a cache. A publisher that is itself disconnected has its message buffered by the
client until it reconnects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from ledgerlink.services.access.ports import KeyStore

__all__ = ["BroadcastingKeyStore", "CacheInvalidations"]

_log = structlog.get_logger(__name__)

PERSON_KEY = "person_key"  # key: person id; the data key was destroyed or rewrapped
LINK_ENDED = "link_ended"  # key: link id; account resolutions through it are stale


class CacheInvalidations:
    def __init__(self, *, root: str) -> None:
        self.subject = f"{root}.invalidate"
        self._handlers: dict[str, list[Callable[[str], None]]] = {}
        self._resets: list[Callable[[], None]] = []
        self._nc: Client | None = None
        self.received = 0

    def on(self, kind: str, handler: Callable[[str], None]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def on_reset(self, handler: Callable[[], None]) -> None:
        """Called when this process may have missed invalidations: drop the whole cache."""
        self._resets.append(handler)

    async def attach(self, nc: Client) -> None:
        """The bus is connected: listen, and forget what was cached before listening."""
        self._nc = nc
        await nc.subscribe(self.subject, cb=self._received)
        self.reset()

    def detach(self) -> None:
        self._nc = None

    def reset(self) -> None:
        for handler in self._resets:
            handler()

    async def publish(self, kind: str, key: str) -> None:
        """Apply here at once, then tell every other process. Never raises: the state change
        it follows is done already."""
        self._apply(kind, key)
        if self._nc is None:
            _log.warning("invalidation_not_broadcast", kind=kind)  # others reset on reconnect
            return
        try:
            await self._nc.publish(self.subject, json.dumps({"kind": kind, "key": key}).encode())
        except Exception as exc:
            _log.warning("invalidation_not_broadcast", kind=kind, error=type(exc).__name__)

    async def _received(self, msg: Msg) -> None:
        try:
            body = json.loads(msg.data)
            kind, key = body["kind"], body["key"]
            if not isinstance(kind, str) or not isinstance(key, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            _log.warning("invalidation_malformed")
            return
        self.received += 1
        self._apply(kind, key)

    def _apply(self, kind: str, key: str) -> None:
        for handler in self._handlers.get(kind, ()):
            try:
                handler(key)
            except Exception as exc:  # one cache's failure must not keep the others stale
                _log.error("invalidation_failed", kind=kind, error=type(exc).__name__)


class BroadcastingKeyStore:
    """The key store, telling every process when a person's data key is destroyed or
    rewrapped: the place where the state changes is the place that says so."""

    def __init__(self, inner: KeyStore, invalidations: CacheInvalidations) -> None:
        self._inner = inner
        self._invalidations = invalidations

    def __getattr__(self, name: str) -> object:  # open, close, wrapped_under, count_by_master...
        return getattr(self._inner, name)

    async def put(self, person_id: str, wrapped_key: bytes, master_key_id: str, at: datetime) -> None:
        await self._inner.put(person_id, wrapped_key, master_key_id, at)

    async def get(self, person_id: str) -> bytes | None:
        return await self._inner.get(person_id)

    async def destroy(self, person_id: str) -> bool:
        destroyed = await self._inner.destroy(person_id)
        await self._invalidations.publish(PERSON_KEY, person_id)
        return destroyed

    async def replace(self, person_id: str, old: bytes, new: bytes, master_key_id: str) -> bool:
        replaced = bool(await self._inner.replace(person_id, old, new, master_key_id))  # type: ignore[attr-defined]
        if replaced:
            await self._invalidations.publish(PERSON_KEY, person_id)
        return replaced
