"""Messenger and WhatsApp as channels, inbound (issue 15, ADR 0023).

The webhook route verifies the signature on the raw body, parses it (`platform_events`), hands
the events over here and answers 200 at once; a worker handles them after the answer, one at
a time. Each event key (message id, or a digest of what identifies the event) is recorded
before it is handled, so a redelivery is handled once. A PSID or number that is not linked
gets only the "link your account" answer (throttled), never data. From a linked one, a text
goes the same way as typing in the web messenger (the chat's text handler, given by the
composition root) into the thread the last update came from; a quick reply, reply button or
postback we made answers that prompt (`prompts.answer`, the bank dialogue's side). WhatsApp's
delivery statuses go into the delivery state of what was sent.

Between the 200 and the handling an event lives in process memory only (no unsealed personal
data is stored before we know whose it is): a crash in that moment loses it (ADR 0023).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from ledgerlink.domain.errors import DomainError, NotFound, TooManyRequests
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.kernel import throttle
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import RateRule
from ledgerlink.services.messaging import platform_links, platform_optin
from ledgerlink.services.messaging.messenger import ensure_system_thread
from ledgerlink.services.messaging.platform_channels import PlatformChannel, address_key
from ledgerlink.services.messaging.platform_ports import (
    MESSENGER,
    WHATSAPP,
    InboundEvent,
    PlatformBindingRecord,
)
from ledgerlink.services.messaging.platform_render import messenger_link_prompt, parse_reply_payload
from ledgerlink.services.messaging.platform_window import window_open

__all__ = ["PlatformInbound", "PromptAnswer"]

log = structlog.get_logger(__name__)

QUEUE_SIZE = 2000
RECENT = 5000  # unlinked senders whose last message time is remembered (for the window after linking)
KEEP_KEYS = timedelta(days=7)  # handled event keys kept this long (the platforms retry for hours)
LINK_PROMPTS = RateRule("platform_link_prompt", ((3, 600), (20, 86400)), "Too many messages.")
UNLINKED_WHATSAPP = (
    "This number is not linked to a Ledgerlink account, so it gets no account data. To "
    "link it: in Ledgerlink open Settings → Channels → WhatsApp, then send the code shown "
    "there from this number."
)
ONLY_TEXT = 'Only text and the buttons are read here: try "help".'
_STATUS_ORDER = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3}

TextHandler = Callable[[Deps, Grant, str, str], Awaitable[None]]


class PromptAnswer(Protocol):
    """How a tap answers a bank's question (`dialogue.prompts.answer`)."""

    async def __call__(
        self, deps: Deps, grant: Grant, *, message_id: str, reply_id: str, channel: str
    ) -> None: ...


class PlatformInbound:
    """`accept()` queues parsed events (never blocks, never raises); a task handles them."""

    def __init__(
        self,
        deps: Deps,
        channels: Mapping[str, PlatformChannel],
        *,
        handle_text: TextHandler,
        answer: PromptAnswer,
        phone_number_id: str | None = None,
    ) -> None:
        self._deps = deps
        self._channels = dict(channels)
        self._handle_text = handle_text
        self._answer = answer
        self._phone_number_id = phone_number_id
        self._queue: asyncio.Queue[InboundEvent] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self._recent: OrderedDict[str, datetime] = OrderedDict()
        self._purged_at: datetime | None = None
        self.dropped = 0

    # ------------------------------------------------------------------ lifecycle

    def accept(self, events: list[InboundEvent]) -> int:
        """Queue the events worth handling; returns how many were queued."""
        queued = 0
        for event in events:
            if event.kind == "ignored" and not event.opens_window:
                log.debug("platform_event_ignored", platform=event.platform, reason=event.reason)
                continue
            try:
                self._queue.put_nowait(event)
                queued += 1
            except asyncio.QueueFull:
                self.dropped += 1
                log.warning("platform_event_dropped", platform=event.platform, reason="queue_full")
        if queued and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run())
        return queued

    async def _run(self) -> None:
        while not self._queue.empty():
            event = self._queue.get_nowait()
            try:
                await self._handle(event)
            except Exception:
                log.exception("platform_event_failed", platform=event.platform, kind=event.kind)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        await self._queue.join()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ------------------------------------------------------------------ one event

    async def _handle(self, event: InboundEvent) -> None:
        deps = self._deps
        channel = self._channels.get(event.platform)
        if channel is None:
            return
        if (
            event.platform == WHATSAPP
            and self._phone_number_id
            and event.account
            and event.account != self._phone_number_id
        ):
            log.info("platform_event_ignored", platform=event.platform, reason="other_business_number")
            return
        now = deps.clock.now()
        async with deps.uow() as uow:
            if event.key and await uow.platforms.seen(event.platform, event.key, at=now):
                return  # a redelivery
            await uow.commit()
        await self._purge(now)
        if event.kind == "status":
            await self._status(channel, event, now)
            return
        key = address_key(channel.setup, event.sender)
        async with deps.uow(readonly=True) as uow:
            binding = await uow.platforms.binding_by_address(event.platform, key)
            record = None if binding is None else await uow.channels.get(binding.channel_id)
        if record is None or record.status != "active":
            binding = None  # a channel turned off (the page was blocked) links again like a new one
        if event.kind == "account_linked":
            await platform_links.messenger_linked(
                deps, channel, psid=event.sender, code=event.code, last_inbound_at=self._recent.get(key)
            )
            return
        if event.kind == "account_unlinked":
            await platform_links.platform_unlinked(deps, channel, address=event.sender)
            return
        if binding is None:
            await self._unlinked(channel, event, key, now)
            return
        if event.opens_window:
            async with deps.uow() as uow:
                await uow.platforms.touch_inbound(binding.channel_id, at=now)
                await uow.commit()
        if event.kind == "ignored":
            return
        await self._tell_what_waited(channel, event, binding, now)
        await self._linked(channel, event, binding)

    async def _unlinked(self, channel: PlatformChannel, event: InboundEvent, key: str, now: datetime) -> None:
        if event.opens_window:
            self._recent[key] = now
            self._recent.move_to_end(key)
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)
        if event.kind not in ("text", "quick_reply", "postback", "attachment"):
            return
        if (
            event.platform == WHATSAPP
            and event.kind == "text"
            and await platform_optin.optin_message(
                self._deps, channel, wa_id=event.sender, text=event.text, last_inbound_at=now
            )
        ):
            return
        try:
            await throttle.check(self._deps.limiter, LINK_PROMPTS, f"{LINK_PROMPTS.name}:{key}")
        except TooManyRequests:
            return
        if event.platform == MESSENGER:
            await channel.send_raw(messenger_link_prompt(event.sender, channel.setup.link_url))
        else:
            await channel.say(event.sender, UNLINKED_WHATSAPP)

    async def _tell_what_waited(
        self, channel: PlatformChannel, event: InboundEvent, binding: PlatformBindingRecord, now: datetime
    ) -> None:
        """The window was closed: say once how many updates did not come here meanwhile."""
        if window_open(binding.last_inbound_at, now):
            return
        async with self._deps.uow(readonly=True) as uow:
            held = await uow.platforms.held_since(binding.channel_id, binding.last_inbound_at)
        if held:
            await channel.say(
                event.sender,
                f"{held} update{'s' if held != 1 else ''} waited while this chat was quiet for "
                f"over 24 hours ({channel.setup.name}'s rule). They are in Ledgerlink: "
                f"{self._deps.public_url}/",
            )

    async def _linked(
        self, channel: PlatformChannel, event: InboundEvent, binding: PlatformBindingRecord
    ) -> None:
        deps = self._deps
        grant = Grant.for_component(binding.person_id, channel.platform)
        try:
            if event.kind in ("quick_reply", "postback") and (reply := parse_reply_payload(event.payload)):
                await self._answer(
                    deps, grant, message_id=reply[0], reply_id=reply[1], channel=channel.platform
                )
                return
            if event.kind == "postback" or (event.kind == "quick_reply" and not event.text):
                await self._text(grant, binding, "help")  # "Get started" and other buttons of ours
                return
            if event.kind == "attachment":
                await channel.say(event.sender, ONLY_TEXT)
                return
            await self._text(grant, binding, event.text)
        except DomainError as exc:
            await channel.say(event.sender, f"Not taken: {exc.detail.rstrip('.')}.")

    async def _text(self, grant: Grant, binding: PlatformBindingRecord, text: str) -> None:
        deps = self._deps
        thread_id = binding.current_thread_id
        if thread_id is not None:
            try:
                await self._handle_text(deps, grant, thread_id, text)
                return
            except NotFound:
                pass  # the thread is gone: the system thread takes it
        async with deps.uow() as uow:
            thread = await ensure_system_thread(deps, uow, binding.person_id)
            await uow.commit()
        await self._handle_text(deps, grant, thread.id, text)

    async def _status(self, channel: PlatformChannel, event: InboundEvent, now: datetime) -> None:
        """A WhatsApp delivery status: forward only (sent < delivered < read); `failed` marks the
        delivery row failed with the error code (e.g. 131047: the window had closed)."""
        async with self._deps.uow() as uow:
            sent = await uow.platforms.send_by_mid(event.message_id)
            if sent is None:
                return
            if event.status == "failed":
                code = f"wa_{event.errors[0]}" if event.errors else "wa_failed"
                await uow.platforms.set_send_status(sent.mid, "failed", error_code=code, at=now)
                await uow.platforms.fail_delivery(sent.delivery_id, error=code, at=now)
                channel.health.counts[code] = channel.health.counts.get(code, 0) + 1
            elif _STATUS_ORDER.get(event.status, -1) > _STATUS_ORDER.get(sent.status, 99):
                await uow.platforms.set_send_status(sent.mid, event.status, error_code=None, at=now)
            await uow.commit()

    async def _purge(self, now: datetime) -> None:
        if self._purged_at is not None and now - self._purged_at < timedelta(hours=1):
            return
        self._purged_at = now
        async with self._deps.uow() as uow:
            await uow.platforms.purge(before=now - KEEP_KEYS)
            await uow.commit()
