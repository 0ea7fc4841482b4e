"""Messenger and WhatsApp as channels, outbound (issue 15, ADR 0023): the `Channel` port for
kinds "messenger" and "whatsapp".

The channel worker hands each message revision over (already cut to the person's disclosure
level, ADR 0010). Here the platform's rules pick how, or whether, it goes out
(`platform_window`), `platform_render` shapes it, and the Graph API (`MessengerApi` /
`WhatsAppApi`) sends it. The platforms cannot edit a message: the first revision shown is
remembered (`platform_messages`), and a later one that changes what the person sees is a
short follow-up quoting it; one that changes nothing there is `skipped`. Graph errors map to
the worker's backoff (a rate limit pauses the whole platform channel), a person who blocked
the page turns the channel off, and a refused token is shown to the operator in settings.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.channel_ports import OutboundMessage, SendResult
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text
from ledgerlink.services.messaging.platform_ports import (
    MESSENGER,
    WHATSAPP,
    GraphError,
    MessengerApi,
    PlatformBindingRecord,
    PlatformHealth,
    PlatformMessageRecord,
    PlatformSendRecord,
    WhatsAppApi,
)
from ledgerlink.services.messaging.platform_render import (
    Outgoing,
    TemplateSpec,
    messenger_payload,
    messenger_plain,
    purchase_category,
    receipt_is_new,
    same_view,
    state_key,
    whatsapp_payload,
    whatsapp_plain,
)
from ledgerlink.services.messaging.platform_window import (
    Category,
    Decision,
    categorize,
    messenger_decision,
    whatsapp_decision,
    window_open,
)

__all__ = ["NAMES", "PlatformChannel", "PlatformSetup", "address_key"]

log = structlog.get_logger(__name__)

NAMES = {MESSENGER: "Messenger", WHATSAPP: "WhatsApp"}
RATE_PAUSE = timedelta(seconds=60)  # a rate limit without a stated wait pauses the platform this long
TOKEN_RETRY = 600.0  # s: a refused token is retried this late (the operator must act)
QUOTED_KINDS = ("transaction", "balance", "fraud")  # what a Messenger follow-up may quote


@dataclass(frozen=True)
class PlatformSetup:
    """One platform channel as configured. `id_key` keys the digests of PSIDs and numbers."""

    platform: str
    mode: str  # live | simulator
    id_key: bytes = field(repr=False)
    public_url: str
    business_number: str | None = None  # WhatsApp: the number people write to (digits)
    conversation_url: str | None = None  # the simulator's conversation page (demo only)
    templates: Mapping[str, TemplateSpec] = field(default_factory=dict)
    redirect_origins: tuple[str, ...] = ()  # Messenger: where account linking may send the browser

    @property
    def name(self) -> str:
        return NAMES[self.platform]

    @property
    def link_url(self) -> str:
        """Messenger: the page the Log in button opens (the platform appends its parameters)."""
        return f"{self.public_url}/channels/messenger/link"


def address_key(setup: PlatformSetup, address: str) -> str:
    """The keyed digest a PSID or WhatsApp number is found by (never stored in the clear)."""
    return hmac.new(setup.id_key, f"{setup.platform}:{address}".encode(), hashlib.sha256).hexdigest()


def chat_address(platform: str, config: Mapping[str, Any]) -> str:
    """The chat a channel's sealed config names: the Messenger PSID or the WhatsApp id."""
    return str(config["psid" if platform == MESSENGER else "wa_id"])


class PlatformChannel:
    """The `Channel` port for one platform. config: {"psid": ...} or {"wa_id": ...}."""

    def __init__(self, deps: Deps, setup: PlatformSetup, api: MessengerApi | WhatsAppApi) -> None:
        self._deps = deps
        self.setup = setup
        self._api = api
        self.health = PlatformHealth()

    @property
    def platform(self) -> str:
        return self.setup.platform

    def address_of(self, config: Mapping[str, Any]) -> str:
        return chat_address(self.platform, config)

    async def close_chat(self, address: str) -> None:
        """The person was erased (ClosableChat): a goodbye where the rules allow, and Messenger
        told the link ended. Best effort: nothing of the person is left to retry with."""
        await self.say(address, "Your Ledgerlink account was erased: this chat gets no more updates.",
                       category=Category.ACCOUNT_ALERT, responding=False)
        await self.unlink_at_platform(address)

    # ------------------------------------------------------------------ the Channel port

    async def send(self, *, config: dict[str, Any], message: OutboundMessage) -> SendResult:
        deps = self._deps
        now = deps.clock.now()
        if message.author == "person":
            return SendResult.skipped("own_message")
        if self.health.paused_until is not None and now < self.health.paused_until:
            return SendResult.retry((self.health.paused_until - now).total_seconds(), error="graph_paused")
        async with deps.uow(readonly=True) as uow:
            done = await uow.platforms.send_for_delivery(message.delivery_id)
            binding = await uow.platforms.binding(message.channel_id)
            meta = await uow.platforms.message_meta(message.message_id)
            first = await uow.platforms.message(message.channel_id, message.message_id)
            person = await uow.persons.get(message.person_id)
        if done is not None:
            return SendResult.delivered()  # sent before a crash kept us from recording it
        if binding is None or person is None:
            return SendResult.failed(error="not_linked")
        state = state_key(self.setup.id_key, message)
        if first is not None and same_view(first.state_key, state):
            return SendResult.skipped("unchanged")
        receipt = receipt_is_new(None if first is None else first.state_key, state, message)  # issue 11
        decision = await self._decide(
            message, binding, meta.subject_key if meta else None, follow_up=first is not None, now=now,
            receipt=receipt,
        )
        if not decision.send:
            return SendResult.skipped(decision.reason)
        grant = Grant.for_component(message.person_id, "channels")
        quote = None
        if first is not None and self.platform == MESSENGER and first.level == person.disclosure:
            async with deps.uow() as uow:
                quote = await access.open_platform_quote(
                    deps.vault,
                    uow,
                    grant,
                    person_id=first.person_id,
                    channel_id=first.channel_id,
                    message_id=first.message_id,
                    sealed=first.sealed,
                    at=now,
                )
                await uow.commit()
        out = Outgoing(
            message,
            decision,
            follow_up=first is not None,
            quote=quote,
            reply_to=None if first is None else first.first_mid,
            receipt=receipt and self.platform == MESSENGER,
        )
        address = self.address_of(config)
        payload = (
            messenger_payload(address, out)
            if self.platform == MESSENGER
            else whatsapp_payload(address, out, dict(self.setup.templates))
        )
        try:
            mid = await self._api.send(payload)
        except GraphError as exc:
            return await self._refused(exc, message.channel_id, message.person_id)
        self._healthy()
        sealed = None
        if first is None and self.platform == MESSENGER and message.kind in QUOTED_KINDS:
            sealed = await access.seal_platform_quote(
                deps.vault,
                grant,
                channel_id=message.channel_id,
                message_id=message.message_id,
                text=message.text,
            )
        at = deps.clock.now()
        async with deps.uow() as uow:
            await uow.platforms.add_send(
                PlatformSendRecord(
                    mid=mid,
                    channel_id=message.channel_id,
                    person_id=message.person_id,
                    platform=self.platform,
                    delivery_id=message.delivery_id,
                    message_id=message.message_id,
                    status="accepted",
                    created_at=at,
                    updated_at=at,
                )
            )
            await uow.platforms.put_message(
                PlatformMessageRecord(
                    channel_id=message.channel_id,
                    message_id=message.message_id,
                    person_id=message.person_id,
                    first_mid=mid if first is None else first.first_mid,
                    state_key=state,
                    created_at=at,
                    updated_at=at,
                    sealed=sealed if first is None else first.sealed,
                    level=person.disclosure if first is None else first.level,
                )
            )
            if first is None:
                await uow.platforms.set_current_thread(message.channel_id, message.thread_id, at=at)
            await uow.commit()
        return SendResult.delivered(200)

    async def _decide(
        self,
        message: OutboundMessage,
        binding: PlatformBindingRecord,
        subject_key: str | None,
        *,
        follow_up: bool,
        now: datetime,
        receipt: bool = False,
    ) -> Decision:
        category = categorize(kind=message.kind, subject_key=subject_key, author=message.author)
        category = purchase_category(category, message, receipt_new=receipt)
        if category is Category.CUSTOMER_SERVICE and not window_open(binding.last_inbound_at, now):
            # Outside the window a bank's own message needs its kind (an agent's reply, or the
            # outcome of a fraud answer): only in the sealed body, read for this (audited).
            category = categorize(
                kind=message.kind,
                subject_key=subject_key,
                author=message.author,
                bank_kind=await self._bank_kind(message, now),
            )
        if self.platform == MESSENGER:
            return messenger_decision(category, last_inbound_at=binding.last_inbound_at, now=now)
        return whatsapp_decision(
            category, last_inbound_at=binding.last_inbound_at, now=now, follow_up=follow_up
        )

    async def _bank_kind(self, message: OutboundMessage, now: datetime) -> str | None:
        deps = self._deps
        grant = Grant.for_component(message.person_id, "channels")
        async with deps.uow() as uow:
            try:
                views = await access.read_messages(
                    deps.vault,
                    uow,
                    grant,
                    Purpose.DELIVER_UPDATE,
                    message.thread_id,
                    at=now,
                    after_rev=message.rev - 1,
                    limit=1,
                )
            except NotFound:
                views = []
            await uow.commit()
        body = views[0].body if views and views[0].id == message.message_id else {}
        kind = body.get("bank_kind")
        return kind if isinstance(kind, str) else None

    # ------------------------------------------------------------------ errors and health

    def _healthy(self) -> None:
        if self.health.state != "ok":
            log.info("platform_channel_recovered", platform=self.platform, was=self.health.state)
        self.health.state, self.health.since, self.health.paused_until = "ok", None, None

    def _unhealthy(self, state: str, exc: GraphError, *, paused_until: datetime | None = None) -> None:
        if self.health.state != state:
            log.warning("platform_channel_degraded", platform=self.platform, state=state, error=exc.label)
            self.health.since = self._deps.clock.now()
        self.health.state, self.health.last_error = state, exc.label
        self.health.paused_until = paused_until
        self.health.counts[exc.label] = self.health.counts.get(exc.label, 0) + 1

    async def _refused(self, exc: GraphError, channel_id: str, person_id: str) -> SendResult:
        now = self._deps.clock.now()
        if exc.kind == "rate_limited":
            pause = timedelta(seconds=exc.retry_after) if exc.retry_after else RATE_PAUSE
            self._unhealthy("rate_limited", exc, paused_until=now + pause)
            return SendResult.retry(pause.total_seconds(), status_code=exc.status, error=exc.label)
        if exc.kind == "unavailable":
            self._unhealthy("unreachable", exc)
            return SendResult.retry(exc.retry_after, status_code=exc.status, error=exc.label)
        if exc.kind == "token":
            self._unhealthy("token_refused", exc)
            return SendResult.retry(TOKEN_RETRY, status_code=exc.status, error=exc.label)
        if exc.kind == "blocked":
            await self.turn_off(channel_id, person_id, reason="blocked")
        return SendResult.failed(status_code=exc.status, error=exc.label)

    async def turn_off(self, channel_id: str, person_id: str, *, reason: str) -> None:
        """The person cannot be reached there (blocked the page, left): the channel stops and
        the person is told in their Ledgerlink thread."""
        deps = self._deps
        async with deps.uow() as uow:
            channel = await uow.channels.get(channel_id)
            if channel is None or channel.status != "active":
                return
            await uow.channels.disable(channel_id, reason=reason, at=deps.clock.now())
            thread = await ensure_system_thread(deps, uow, person_id)
            await post_text(
                deps,
                uow,
                thread,
                f"{self.setup.name} says this chat cannot be reached any more (the page may be "
                f"blocked, or the account closed), so updates stopped going there.",
                tone="warning",
                actions=[{"label": "Channels", "href": "/settings/channels"}],
            )
            await deps.commit_and_publish(uow)
        log.info("platform_channel_turned_off", platform=self.platform, channel_id=channel_id, reason=reason)

    # ------------------------------------------------------------------ words outside threads

    async def say(
        self,
        address: str,
        text: str,
        *,
        category: Category = Category.REPLY,
        last_inbound_at: datetime | None = None,
        responding: bool = True,
    ) -> str | None:
        """A short text that belongs to no thread (a link prompt, "linked", "not taken"). When
        `responding` it answers what the person just sent (inside the window by definition);
        else the window rules apply. Never raises: returns the message id or None."""
        now = self._deps.clock.now()
        try:
            if self.platform == MESSENGER:
                decision = (
                    Decision(True, "in_window", messaging_type="RESPONSE")
                    if responding
                    else messenger_decision(category, last_inbound_at=last_inbound_at, now=now)
                )
                if not decision.send:
                    return None
                return await self._api.send(
                    messenger_plain(
                        address, text, messaging_type=decision.messaging_type or "RESPONSE", tag=decision.tag
                    )
                )
            if not responding and not window_open(last_inbound_at, now):
                return None  # free text outside the window is refused by WhatsApp
            return await self._api.send(whatsapp_plain(address, text))
        except GraphError as exc:
            log.info("platform_say_failed", platform=self.platform, error=exc.label)
            return None

    async def psid_for(self, account_linking_token: str) -> str:
        """Messenger: the PSID that started account linking. Raises `GraphError`."""
        lookup = getattr(self._api, "psid_for", None)
        if self.platform != MESSENGER or lookup is None:
            raise GraphError("refused")
        psid = await lookup(account_linking_token)
        return str(psid)

    async def unlink_at_platform(self, address: str) -> None:
        """Messenger: tell the platform the link ended (best effort; our side ends anyway)."""
        unlink = getattr(self._api, "unlink", None)
        if self.platform != MESSENGER or unlink is None:
            return
        try:
            await unlink(address)
        except GraphError as exc:
            log.info("messenger_unlink_failed", error=exc.label)

    async def send_raw(self, payload: dict[str, Any]) -> str | None:
        """A ready-made payload (the Messenger link prompt). Never raises."""
        try:
            return await self._api.send(payload)
        except GraphError as exc:
            log.info("platform_say_failed", platform=self.platform, error=exc.label)
            return None
