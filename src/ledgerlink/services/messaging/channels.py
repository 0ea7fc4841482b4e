"""Channels beyond the web messenger (outbound webhook, email): one delivery row per message
revision and channel, sent by `ChannelWorker` with backoff. The table is the queue, so a
restart loses nothing; a dead channel only delays its own rows."""

from __future__ import annotations

import asyncio
import base64
import functools
import random
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from ledgerlink.domain.cards import preview_text
from ledgerlink.domain.destinations import parse_destination, refused_by_name
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.events import ChannelDeliveriesQueued, ChannelRemoved
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.worker import TimedWorker
from ledgerlink.services.messaging.channel_ports import (
    Channel,
    ChannelDeliveryRecord,
    ChannelRecord,
    ClosableChat,
    OutboundMessage,
    RoomChannel,
    SendResult,
)
from ledgerlink.services.messaging.channel_receipts import channel_text, receipt_card
from ledgerlink.services.messaging.matrix_channel import parse_mxid  # Matrix channel
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text
from ledgerlink.services.messaging.ports import ThreadRecord

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "GIVE_UP_AFTER",
    "ChannelSummary",
    "ChannelWorker",
    "add_email",
    "add_matrix",
    "add_webhook",
    "next_attempt",
    "overview",
    "remove",
]

log = structlog.get_logger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
GIVE_UP_AFTER = timedelta(hours=72)
ROUND_WAIT = 0.5  # s a round waits for its channels before leaving slow ones to finish alone
GONE_NOTICE = "Your webhook endpoint answered 410 Gone, so it was turned off."
_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def next_attempt(
    *, attempts: int, first_try: datetime, now: datetime, retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after `attempts` failed tries, or None to give up: exponential
    backoff with full jitter (base 30 s, cap 6 h); a receiver's Retry-After wins (capped);
    the attempt that passes 72 hours since the first try is the last."""
    if now - first_try >= GIVE_UP_AFTER:
        return None
    if retry_after is not None:
        delay = min(max(retry_after, 0.0), BACKOFF_CAP.total_seconds())
    else:
        ceiling = min(BACKOFF_CAP.total_seconds(), BACKOFF_BASE.total_seconds() * 2 ** min(attempts - 1, 30))
        delay = (rng or random.Random()).uniform(0, ceiling)
    return now + timedelta(seconds=delay)


# --------------------------------------------------------------------------- sending


class ChannelWorker(TimedWorker):
    """Sends due deliveries, each channel in (created_at, rev) order and concurrently with the
    others. Woken by new rows; a timer wakes it for the next due retry."""

    def __init__(self, deps: Deps, adapters: Mapping[str, Channel], *, rng: random.Random | None = None,
                 max_sleep: float = 60.0) -> None:
        self._deps = deps
        self._adapters = dict(adapters)
        self._rng = rng or random.Random()
        # channel id -> its sending task: each channel sends on its own, so a slow or dead
        # one (a homeserver timing out) never holds back another's rows.
        self._sending: dict[str, asyncio.Task[datetime | None]] = {}
        self._left: set[str] = set()  # channels still sending when their round ended
        super().__init__(deps.clock, max_sleep=max_sleep)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._adapters)

    async def on_queued(self, event: ChannelDeliveriesQueued) -> None:
        """Rows were committed with a message (`outgoing.put_message`): send them."""
        self.poke()

    async def run_once(self) -> datetime | None:
        """Start sending the due rows of every channel not sending already (each channel on
        its own task, which wakes the worker when it ends); returns when the next waiting row
        of the channels started here is due."""
        async with self._deps.uow(readonly=True) as uow:
            rows = await uow.channels.pending()
        by_channel: dict[str, list[ChannelDeliveryRecord]] = {}
        for row in rows:
            if row.channel_id not in self._sending:  # a sending channel is read again after
                by_channel.setdefault(row.channel_id, []).append(row)
        started = []
        for channel_id, channel_rows in by_channel.items():
            task = asyncio.create_task(self._channel(channel_rows))
            self._sending[channel_id] = task
            task.add_done_callback(functools.partial(self._sent, channel_id))
            started.append(task)
        if not started:
            return None
        # Quick channels finish within the round and their next due time counts; a slow one
        # goes on alone and wakes the worker when it is done.
        done, slow = await asyncio.wait(started, timeout=ROUND_WAIT)
        self._left.update(cid for cid, task in self._sending.items() if task in slow)
        waits: list[datetime] = []
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                log.error("channel_failed", error=type(error).__name__)
            elif not task.cancelled() and (due := task.result()) is not None:
                waits.append(due)
        return min(waits, default=None)

    async def on_removed(self, event: ChannelRemoved) -> None:
        """A removed Matrix channel: the bot says goodbye in its rooms and leaves them. A
        Messenger or WhatsApp chat erased with its person: a goodbye, and the platform told."""
        adapter = self._adapters.get(event.kind)
        if event.address is not None and isinstance(adapter, ClosableChat):
            await adapter.close_chat(event.address)
            log.info("channel_chat_closed", channel_id=event.channel_id, kind=event.kind)
        if event.rooms and isinstance(adapter, RoomChannel):
            left = await adapter.close_rooms(event.rooms)
            log.info("channel_rooms_closed", channel_id=event.channel_id, rooms=len(event.rooms), left=left)

    def _sent(self, channel_id: str, _task: object = None) -> None:
        self._sending.pop(channel_id, None)
        if channel_id in self._left:  # it outlived its round: look at its rows again
            self._left.discard(channel_id)
            self.poke()

    async def drain(self) -> None:
        """Idle and no channel sending."""
        while True:
            await super().drain()
            if not self._sending:
                return
            await asyncio.gather(*list(self._sending.values()), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._sending.values()):
            task.cancel()
        await asyncio.gather(*list(self._sending.values()), return_exceptions=True)
        self._sending.clear()
        self._left.clear()
        await super().stop()

    async def _channel(self, rows: list[ChannelDeliveryRecord]) -> datetime | None:
        """One channel's rows in order: a thread whose earlier row is waiting holds its later
        rows back; other threads go on."""
        held: set[str | None] = set()
        waits: list[datetime] = []
        for row in rows:
            if row.thread_id in held:
                continue
            if row.next_attempt_at is not None and row.next_attempt_at > self._deps.clock.now():
                held.add(row.thread_id)
                waits.append(row.next_attempt_at)
                continue
            result = await self._send(row)
            if result == "gone":
                break
            if result == "wait":
                held.add(row.thread_id)
                if row.next_attempt_at is not None:
                    waits.append(row.next_attempt_at)
        return min(waits, default=None)

    async def _send(self, row: ChannelDeliveryRecord) -> str:
        deps = self._deps
        now = deps.clock.now()
        grant = Grant.for_component(row.person_id, "channels")
        async with deps.uow() as uow:
            channel = await uow.channels.get(row.channel_id)
            person = await uow.persons.get(row.person_id)
            if channel is None or channel.status != "active":
                return "done"
            # Matrix channel: the thread's title names its room.
            thread = None if row.thread_id is None else await uow.threads.get(row.thread_id)
            if person is None or row.thread_id is None:
                views = []
            else:
                config = (await access.open_channel_configs(
                    deps.vault, uow, grant, Purpose.DELIVER_UPDATE, [channel], at=now))[channel.id]
                try:
                    views = await access.read_messages(
                        deps.vault, uow, grant, Purpose.DELIVER_UPDATE, row.thread_id,
                        at=now, after_rev=row.rev - 1, limit=1)
                except NotFound:
                    views = []
            await uow.commit()  # the audit entries
        view = views[0] if views and views[0].id == row.message_id and views[0].rev == row.rev else None
        if view is None or person is None:
            # Edited again before we got to it (the newer row carries it), or deleted.
            await self._record(row, SendResult.superseded(), now=now)
            return "done"
        message = OutboundMessage(
            delivery_id=row.id,
            type="message.created" if view.edited_at is None else "message.updated",
            thread_id=view.thread_id, message_id=view.id, seq=view.seq, rev=view.rev,
            kind=view.kind.value, text=channel_text(  # + a receipt question's charge line
                view.kind, view.body, preview_text(view.kind, view.body, person.disclosure),
                level=person.disclosure),
            thread_url=f"{deps.public_url}/threads/{view.thread_id}", at=now,
            **_chat_fields(view.body, channel, thread),  # Matrix channel
            receipt=receipt_card(view.kind, view.body, level=person.disclosure,
                                 recipient_name=person.display_name),  # issue 11
        )
        try:
            result = await self._adapters[channel.kind].send(config=config, message=message)
        except Exception as exc:  # an adapter bug must not stop the queue
            log.exception("channel_send_crashed", channel_id=channel.id)
            result = SendResult.retry(error=type(exc).__name__[:64])
        return await self._record(row, result, now=deps.clock.now(), channel=channel)

    async def _record(self, row: ChannelDeliveryRecord, result: SendResult, *, now: datetime,
                      channel: ChannelRecord | None = None) -> str:
        deps = self._deps
        if result.outcome not in ("superseded", "skipped"):
            row.attempts += 1  # a superseded (or deliberately skipped) revision was never tried
        row.updated_at = now
        row.last_status_code = result.status_code
        row.last_error = None if result.error is None else result.error[:64]
        outcome = "done"
        if result.outcome == "delivered":
            row.status, row.next_attempt_at = "delivered", None
        elif result.outcome == "retry":
            due = next_attempt(attempts=row.attempts, first_try=row.created_at, now=now,
                               retry_after=result.retry_after, rng=self._rng)
            row.status, row.next_attempt_at = ("pending", due) if due else ("gave_up", None)
            outcome = "wait" if due else "done"
        elif result.outcome in ("superseded", "skipped"):
            row.status, row.next_attempt_at = result.outcome, None
        else:
            row.status, row.next_attempt_at = "failed", None
            outcome = "gone" if result.outcome == "gone" else "done"
        async with deps.uow() as uow:
            await uow.channels.update_delivery(row)
            if outcome == "gone" and channel is not None:
                await uow.channels.disable(channel.id, reason="gone", at=now)
                thread = await ensure_system_thread(deps, uow, channel.person_id)
                await post_text(deps, uow, thread, GONE_NOTICE, tone="warning",
                                actions=[{"label": "Channels", "href": "/settings/channels"}])
            await deps.commit_and_publish(uow)
        log.info("channel_delivery", delivery_id=row.id, status=row.status, attempts=row.attempts,
                 code=row.last_status_code)
        return outcome


# --------------------------------------------------------------------------- the person's settings


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    id: str
    kind: str
    target: str  # the URL or the address
    status: str
    disabled_reason: str | None
    deliveries: list[ChannelDeliveryRecord]


async def _webhook_url(deps: Deps, url: str) -> str:
    """An https endpoint on a public address (ADR 0018): checked by its form here and by the
    addresses its host resolves to now; the channel adapter checks again at every send."""
    guard = deps.outbound
    destination = parse_destination(url, allow_loopback=guard is not None and guard.allow_loopback)
    if destination.literal is None and guard is not None \
            and not await guard.public(destination.host, destination.port):
        raise refused_by_name(destination.host)
    return destination.url


async def _add(deps: Deps, grant: Grant, kind: str, config: dict[str, str]) -> str:
    now = deps.clock.now()
    channel_id = new_id("chn")
    sealed = await access.seal_channel_config(deps.vault, person_id=grant.person_id,
                                              channel_id=channel_id, config=config)
    async with deps.uow() as uow:
        if len(await uow.channels.for_person(grant.person_id)) >= 10:
            raise InvalidInput("at most 10 channels", code="too_many_channels")
        await uow.channels.add(ChannelRecord(id=channel_id, person_id=grant.person_id, kind=kind,
                                             sealed=sealed, status="active", created_at=now, updated_at=now))
        await access.audit(uow, grant, Purpose.SHOW_TO_PERSON, action="add_channel",
                           subject=f"channel:{channel_id}", at=now)
        await uow.commit()
    return channel_id


async def add_webhook(deps: Deps, grant: Grant, *, url: str) -> tuple[str, str]:
    """Register an endpoint; returns (channel id, signing secret). The secret is shown once."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    channel_id = await _add(deps, grant, "webhook", {"url": await _webhook_url(deps, url), "secret": secret})
    return channel_id, secret


async def add_email(deps: Deps, grant: Grant, *, address: str, enabled: bool) -> str:
    if not enabled:
        raise InvalidInput("email is not set up on this server", code="email_unavailable")
    address = address.strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise InvalidInput("that is not an email address", code="bad_email")
    return await _add(deps, grant, "email", {"address": address})


async def remove(deps: Deps, grant: Grant, channel_id: str) -> None:
    async with deps.uow() as uow:
        channel = await uow.channels.get(channel_id)
        if channel is None or channel.person_id != grant.person_id:
            raise NotFound("channel not found")
        rooms = tuple(r.room_id for r in await uow.matrix.rooms_of_person(grant.person_id)
                      if r.channel_id == channel_id)
        await uow.channels.remove(channel_id)
        await access.audit(uow, grant, Purpose.SHOW_TO_PERSON, action="remove_channel",
                           subject=f"channel:{channel_id}", at=deps.clock.now())
        uow.events.append(ChannelRemoved(person_id=grant.person_id, channel_id=channel_id,
                                         kind=channel.kind, rooms=rooms))
        await deps.commit_and_publish(uow)


async def overview(deps: Deps, grant: Grant) -> list[ChannelSummary]:
    async with deps.uow() as uow:
        channels = await uow.channels.for_person(grant.person_id)
        configs = await access.open_channel_configs(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON,
                                                    channels, at=deps.clock.now())
        summaries = [
            ChannelSummary(id=c.id, kind=c.kind,
                           target=access.channel_target(configs[c.id]),
                           status=c.status, disabled_reason=c.disabled_reason,
                           deliveries=await uow.channels.recent_deliveries(c.id, limit=5))
            for c in channels
        ]
        await uow.commit()
    return summaries


# --------------------------------------------------------------------------- Matrix channel


def _chat_fields(body: dict[str, Any], channel: ChannelRecord, thread: ThreadRecord | None) -> dict[str, Any]:
    """What a chat channel (Matrix) shows besides the preview: who wrote it, whether a bank's
    signature was checked, and the quick replies of a prompt that is still open."""
    status = body.get("prompt_status")
    replies = body.get("quick_replies") if status in (None, "open") else None
    return {
        "channel_id": channel.id,
        "person_id": channel.person_id,
        "thread_title": "" if thread is None else thread.title,
        "author": str(body.get("from") or ""),
        "verified": body.get("verified") is True,
        "quick_replies": tuple(
            (str(r["id"]), str(r["label"])) for r in (replies or [])
            if isinstance(r, dict) and "id" in r and "label" in r
        ),
        "prompt_status": status if isinstance(status, str) else None,
    }


async def add_matrix(deps: Deps, grant: Grant, *, mxid: str, enabled: bool, bot: str | None = None) -> str:
    """A Matrix ID to receive updates in direct rooms from the bot (one room per thread)."""
    if not enabled:
        raise InvalidInput("Matrix is not set up on this server", code="matrix_unavailable")
    user_id = parse_mxid(mxid)
    if bot is not None and user_id == bot:
        raise InvalidInput("that is the bot's own Matrix ID: give yours", code="bad_matrix_id")
    return await _add(deps, grant, "matrix", {"mxid": user_id})
