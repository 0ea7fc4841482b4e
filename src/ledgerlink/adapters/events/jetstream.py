"""The scale-out profile's event bus: NATS JetStream behind the transactional outbox (issue 12,
ADR 0027).

- `publish` writes the event to the outbox table (units of work already do so in their own
  transaction); the `Relay` of a worker process publishes outbox rows to the stream
  `<ROOT>_EVENTS` (subjects `<root>.events.<EventType>`) with `Nats-Msg-Id` = the event id.
- Each subscribed handler is a durable pull consumer shared by every process that runs it
  (work is spread over the workers), with explicit ack. A handler that raises gets the message
  again after a growing delay; after `max_deliver` attempts, or at once for a message that is
  not an event this code knows, the message goes to the dead-letter stream `<ROOT>_DEAD`
  (`<root>.dead.<EventType>`) and is terminated, so it never blocks the consumer. The
  consumer's server-side limit is one more delivery than ours; that last delivery is still
  handled, with its dead letter written first and deleted when it succeeds, so a message that
  kills its process every time reaches the dead letters and one whose deliveries were used up
  by kills of other work does not (ADR 0035). Handlers are idempotent (inbox ids, subject
  keys): a crash before the ack only means the event is handled again.
- A process fetches only what it will start on soon (about `FETCH_BUDGET` of handling, one
  message while the consumer is idle or its speed unknown): JetStream counts a delivery when
  it sends a message, so every message fetched by a process that is then killed is charged a
  delivery, attempted or not.
- NATS down at start: `start` returns at once and connects in the background; `ready` says
  when the bus is usable (the api answers partners 503 until then). Down while running: the
  client reconnects, the outbox keeps the events and the relay catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from ledgerlink.adapters.events.inprocess import handler_name
from ledgerlink.adapters.events.jetstream_consumer import Consumer, durable_name
from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.domain.events import Event
from ledgerlink.services.kernel.bus import Handler
from ledgerlink.services.kernel.outbox import (
    Lease,
    OutboxStore,
    Relay,
    UnknownEvent,
    decode_event,
    to_records,
)

__all__ = ["JetStreamBus"]

_log = structlog.get_logger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class JetStreamBus:
    """`EventBus` over JetStream. `consume`: run this process's consumers (worker role);
    `relay`: run the outbox relay (needs `outbox` and `lease`)."""

    def __init__(
        self, url: str, *, outbox: OutboxStore | None = None, lease: Lease | None = None,
        root: str = "ledgerlink", consume: bool = True, relay: bool = True, max_deliver: int = 5,
        ack_wait: float = 30.0, backoff: float = 0.5, duplicate_window: float = 600.0,
        fetch_batch: int = 64, relay_poll: float = 0.2, clock: Clock | None = None,
    ) -> None:
        if max_deliver < 1 or ack_wait <= 0 or backoff < 0:
            raise ValueError("max_deliver >= 1, ack_wait > 0 and backoff >= 0 required")
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,40}", root):
            raise ValueError("root: lower-case letters, digits, '_' or '-', at most 41 characters")
        self._url = url
        self._clock = clock or SystemClock()
        self._outbox = outbox
        self.root = root
        self.stream = f"{root.upper().replace('-', '_')}_EVENTS"
        self.dead_stream = f"{root.upper().replace('-', '_')}_DEAD"
        self.prefix = f"{root}.events"
        self._consume = consume
        self._max_deliver = max_deliver
        self._ack_wait = ack_wait
        self._backoff = backoff
        self._duplicate_window = duplicate_window
        self._fetch_batch = fetch_batch
        self._consumers: dict[str, Consumer] = {}
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()
        self._connector: asyncio.Task[None] | None = None
        self._busy = 0  # handler calls running in this process
        self.relay: Relay | None = None
        if relay:
            if outbox is None or lease is None:
                raise ValueError("the relay needs the outbox store and a lease")
            self.relay = Relay(outbox, lease, self._publish_one, poll=relay_poll)
        self.dead_lettered = 0  # messages this process moved to the dead letters
        self.invalidations: Any = None  # CacheInvalidations on this connection (ADR 0029)
        self.live: Any = None  # LiveSubjects on this connection (live frames, ADR 0032)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def subscribe(self, event_type: type[Event], handler: Handler, *, name: str | None = None) -> None:
        """One durable consumer per (event type, handler), named after the handler unless `name`
        says otherwise; the same name in several processes shares the work."""
        durable = durable_name(event_type, name or handler_name(handler))
        self._consumers.setdefault(durable, Consumer(event_type, handler, durable))

    async def publish(self, event: Event) -> None:
        """Into the outbox (durable at once); the relay takes it to the stream. Never raises:
        the events published outside a unit of work (ingest's `BankEventsReceived`) name rows
        that are durable already and are replayed by the inbox worker."""
        if self._outbox is None:
            raise RuntimeError("this bus has no outbox to publish through")
        try:
            await self._outbox.add(to_records([event], now=self._clock.now(), prefix=self.prefix))
        except Exception as exc:
            _log.error("outbox_write_failed", event_type=type(event).__name__, error=type(exc).__name__)
            return
        if self.relay is not None:
            self.relay.wake()

    async def start(self) -> None:
        if self._connector is None:
            self._connector = asyncio.create_task(self._connect(), name="ledgerlink-nats-connect")

    async def wait_ready(self) -> None:
        """Until connected and the streams exist (wrap in `asyncio.timeout`)."""
        await self._ready.wait()

    async def stop(self, *, grace: float | None = None) -> None:
        tasks = [c.task for c in self._consumers.values() if c.task is not None]
        if self._connector is not None:
            tasks.append(self._connector)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for consumer in self._consumers.values():
            consumer.task = consumer.sub = None
        self._connector = None
        if self.relay is not None:
            await self.relay.stop()
        if self._nc is not None:  # every ack was awaited: nothing to flush, so close (drain waits
            with contextlib.suppress(Exception):  # up to 30 s on the pull subscriptions)
                await self._nc.close()
        self._nc = self._js = None
        if self.invalidations is not None:
            self.invalidations.detach()
        if self.live is not None:
            self.live.detach()
        self._ready.clear()

    async def drain(self) -> None:
        """Until the outbox is empty and no consumer has anything pending (tests, shutdown)."""
        if not self.ready:
            return
        for _ in range(1500):  # the broker's state is polled: it sends no "idle" signal
            if await self._idle():
                return
            await asyncio.sleep(0.02)
        _log.warning("event_bus_drain_timed_out")

    async def pending(self) -> dict[str, int]:
        """Per consumer: messages not yet delivered plus delivered but not acknowledged."""
        assert self._js is not None
        counts: dict[str, int] = {}
        for durable in self._consumers:
            info = await self._js.consumer_info(self.stream, durable)
            counts[durable] = info.num_pending + info.num_ack_pending
        return counts

    @property
    def connected(self) -> bool:
        """Connected to NATS now (False before the first connection and during an outage)."""
        return self._nc is not None and self._nc.is_connected

    async def lag(self) -> dict[str, int]:
        """Per durable consumer of the events stream, across all processes: messages not yet
        delivered plus delivered and not acknowledged (/metrics). Raises while disconnected."""
        if self._js is None or not self.connected:
            raise ConnectionError("NATS is not connected")
        return {info.name: (info.num_pending or 0) + (info.num_ack_pending or 0)
                for info in await self._js.consumers_info(self.stream)}

    async def dead_letters(self) -> int:
        """Messages in the dead-letter stream (/metrics). Raises while disconnected."""
        if self._js is None or not self.connected:
            raise ConnectionError("NATS is not connected")
        return int((await self._js.stream_info(self.dead_stream)).state.messages)

    async def outbox_depth(self) -> int:
        """Events committed and not yet published (/metrics); 0 without an outbox."""
        return 0 if self._outbox is None else await self._outbox.depth()

    async def _idle(self) -> bool:
        if self._busy:
            return False
        if self._outbox is not None and await self._outbox.depth():
            if self.relay is not None:
                self.relay.wake()
            return False
        return not self._consume or not any((await self.pending()).values())

    # ---------------------------------------------------------------- connection and streams

    async def _connect(self) -> None:
        while True:
            try:
                nc = await nats.connect(
                    self._url, connect_timeout=2, allow_reconnect=True, max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5, name="ledgerlink", error_cb=_on_error,
                    disconnected_cb=self._link_changed, reconnected_cb=self._link_changed,
                )
            except Exception as exc:
                _log.warning("nats_unreachable", error=type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            try:
                await self._setup(nc)
            except Exception as exc:
                _log.warning("jetstream_setup_failed", error=type(exc).__name__)
                with contextlib.suppress(Exception):
                    await nc.close()
                await asyncio.sleep(1.0)
                continue
            return

    async def _setup(self, nc: Client) -> None:
        js = nc.jetstream()
        await _ensure_stream(js, StreamConfig(
            name=self.stream, subjects=[f"{self.prefix}.>"], storage=StorageType.FILE,
            duplicate_window=self._duplicate_window,
        ))
        await _ensure_stream(js, StreamConfig(
            name=self.dead_stream, subjects=[f"{self.root}.dead.>"], storage=StorageType.FILE,
            duplicate_window=self._duplicate_window,
        ))
        self._nc, self._js = nc, js
        if self.invalidations is not None:
            await self.invalidations.attach(nc)
        if self.live is not None:
            await self.live.attach(nc)
        if self._consume:
            for consumer in self._consumers.values():
                consumer.sub = await js.pull_subscribe(
                    f"{self.prefix}.{consumer.event_type.__name__}", durable=consumer.durable,
                    stream=self.stream,
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                        max_deliver=self._max_deliver + 1, ack_wait=self._ack_wait,
                    ),
                )
                consumer.task = asyncio.create_task(self._run(consumer), name=f"consume-{consumer.durable}")
        self._ready.set()
        if self.relay is not None:
            self.relay.start()
        _log.info("jetstream_ready", stream=self.stream, consumers=len(self._consumers) * self._consume)

    async def _publish_one(self, subject: str, payload: bytes, msg_id: str) -> None:
        if self._js is None:
            raise ConnectionError("NATS is not connected yet")
        await self._js.publish(subject, payload, timeout=5, stream=self.stream,
                               headers={"Nats-Msg-Id": msg_id})

    # ---------------------------------------------------------------- consuming

    async def _run(self, consumer: Consumer) -> None:
        while True:
            try:
                messages = await consumer.sub.fetch(consumer.batch(self._fetch_batch), timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):
                consumer.backlog = False
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # disconnected: the client reconnects, we try again
                _log.warning("jetstream_fetch_failed", consumer=consumer.durable, error=type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            consumer.backlog = bool(messages) and bool(messages[-1].metadata.num_pending)
            waiting = list(messages)  # fetched, not yet acked: kept in progress meanwhile
            keeper = asyncio.create_task(self._keep_in_progress(waiting))
            try:
                for message in messages:
                    self._busy += 1
                    try:
                        await self._handle(consumer, message)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # acking failed (connection lost): redelivered later
                        _log.warning("jetstream_ack_failed", consumer=consumer.durable,
                                     error=type(exc).__name__)
                    finally:
                        self._busy -= 1
                        waiting.remove(message)
            finally:
                keeper.cancel()

    async def _keep_in_progress(self, waiting: list[Msg]) -> None:
        """A fetched batch is handled one message at a time, and a slow batch would outlast
        `ack_wait`: its tail redelivered to another worker while this one still works on it
        (handled twice at once, and the delivery count climbing to the dead letters with no
        crash at all). Every third of `ack_wait` the messages not yet acked say "in progress",
        so only a process that stopped (died) has its messages redelivered."""
        while True:
            await asyncio.sleep(self._ack_wait / 3)
            for message in list(waiting):
                with contextlib.suppress(Exception):  # disconnected: redelivered after ack_wait
                    await message.in_progress()

    async def _handle(self, consumer: Consumer, message: Msg) -> None:
        attempt = message.metadata.num_delivered
        type_name = message.subject.rsplit(".", 1)[-1]
        try:
            event = decode_event(type_name, message.data)
        except UnknownEvent:
            await self._dead_letter(consumer, message, "unknown_event")
            return
        last: int | None = None
        if attempt > self._max_deliver:
            # The server's last delivery: each earlier one ended with its process gone, but
            # not each was an attempt (a kill charges everything the process had fetched, and
            # a delivery it was waiting to acknowledge). So this one is tried too; its dead
            # letter is written first, and stays only if this attempt kills the process again.
            last = await self._dead_letter(consumer, message, "gave_up_after_crashes", final=False)
        started = time.monotonic()
        try:
            await consumer.handler(event)
        except Exception as exc:
            context = {"event_type": type_name, "consumer": consumer.durable,
                       "error": type(exc).__name__, "attempt": attempt}
            if attempt >= self._max_deliver:
                _log.error("event_handler_gave_up", **context)
                await self._withdraw(last)
                await self._dead_letter(consumer, message, type(exc).__name__)
            else:
                _log.warning("event_handler_failed", **context)
                await message.nak(delay=self._backoff * 2 ** (attempt - 1))
            return
        finally:
            consumer.observe(time.monotonic() - started)
        await message.ack()
        if last is not None:
            await self._withdraw(last)
            _log.info("event_handled_on_last_delivery", consumer=consumer.durable, deliveries=attempt)

    async def _dead_letter(self, consumer: Consumer, message: Msg, reason: str, *,
                           final: bool = True) -> int:
        """Copies the message to the dead letters; `final`: and terminates it (not `final`: a
        provisional copy, withdrawn if the message is handled after all). Its sequence there."""
        assert self._js is not None
        msg_id = (message.headers or {}).get("Nats-Msg-Id", f"seq{message.metadata.sequence.stream}")
        ack = await self._js.publish(
            f"{self.root}.dead.{_UNSAFE.sub('_', message.subject.rsplit('.', 1)[-1])[:80]}",
            message.data, timeout=5, stream=self.dead_stream,
            headers={"Nats-Msg-Id": f"{msg_id}:{consumer.durable}{'' if final else ':last'}",
                     "Ledgerlink-Consumer": consumer.durable,
                     "Ledgerlink-Reason": reason[:80], "Ledgerlink-Subject": message.subject[:200],
                     "Ledgerlink-Event-Id": msg_id[:80],
                     "Ledgerlink-Deliveries": str(message.metadata.num_delivered)},
        )
        if final:
            await message.term()
            self.dead_lettered += 1
            _log.error("event_dead_lettered", consumer=consumer.durable, reason=reason)
        return int(ack.seq)

    async def _withdraw(self, seq: int | None) -> None:
        """Deletes a provisional dead letter (the message was handled, or has a final one)."""
        if seq is not None and self._js is not None:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self._js.delete_msg(self.dead_stream, seq)

    async def _link_changed(self) -> None:
        """Disconnected or back: invalidations and live notices may have been missed, so caches
        start over and live connections catch up from the database."""
        if self.invalidations is not None:
            self.invalidations.reset()
        if self.live is not None:
            self.live.reset()


async def _on_error(exc: Exception) -> None:
    _log.warning("nats_error", error=type(exc).__name__)  # the client reconnects by itself


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:  # exists with other settings: bring it in line
        await js.update_stream(config)
