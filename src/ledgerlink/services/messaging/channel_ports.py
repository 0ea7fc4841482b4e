"""Delivery channels beyond the browser: the Channel protocol, delivery rows per message
revision (ADR 0010), and the Matrix client and room records (ADR 0012).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(slots=True)
class ChannelRecord:
    id: str
    person_id: str
    kind: str  # webhook | email
    sealed: bytes  # JSON config: {url, secret} or {address}
    status: str  # active | disabled
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None


@dataclass(slots=True)
class ChannelDeliveryRecord:
    id: str
    channel_id: str
    person_id: str
    message_id: str
    rev: int
    status: str  # pending | delivered | failed | gave_up
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    thread_id: str | None = None  # read with the row (from its message), never stored


@dataclass(frozen=True, slots=True)
class ReceiptCard:
    """The merchant receipt on a purchase card (issue 11), as the chat channels show it: the
    Messenger receipt template, Matrix's formatted body. Taken from the card's `receipt` section
    (domain/receipts.receipt_section) and only at the `full` disclosure level. Money stays the
    decimal strings of the section, in `currency`."""

    order_number: str
    currency: str
    payment_method: str  # "Card ••2760": the last four only
    recipient_name: str
    merchant_name: str
    lines: tuple[tuple[str, int, str], ...]  # (title, quantity, unit price as a decimal string)
    total: str
    subtotal: str | None = None
    shipping: str | None = None
    tax: str | None = None
    order_url: str | None = None
    parcel: str | None = None  # "Parcel: in transit (UPS 1Z…), arrives 2026-12-09"
    refund: str | None = None  # "Refunded 19.99 of 48.17 USD"

    @property
    def key(self) -> str:
        """What makes it a different receipt (items and totals): a parcel or refund line does not."""
        return "\x1f".join([self.order_number, self.currency, self.total, self.subtotal or "",
                             self.shipping or "", self.tax or "",
                             *(f"{t}\x1e{q}\x1e{p}" for t, q, p in self.lines)])


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message revision as a channel sends it: ids and the preview text only."""

    delivery_id: str  # stable across retries: the receiver's idempotency key
    type: str  # message.created | message.updated
    thread_id: str
    message_id: str
    seq: int
    rev: int
    kind: str
    text: str  # already cut to the person's disclosure level
    thread_url: str
    at: datetime
    # Matrix channel (ADR 0012): what a chat channel needs besides the preview text.
    channel_id: str = ""
    person_id: str = ""
    thread_title: str = ""  # the room's name: "Sandbox Bank", "Ledgerlink"
    author: str = ""  # the card's "from": person | bank | "" (ledgerlink)
    verified: bool = False  # a bank message whose signature was checked
    quick_replies: tuple[tuple[str, str], ...] = ()  # (reply id, label), while the prompt is open
    prompt_status: str | None = None  # open | answered | expired, for prompt cards
    receipt: ReceiptCard | None = None  # issue 11: a purchase card's receipt, at the full level


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: str  # delivered | retry | gone | failed | superseded
    retry_after: float | None = None  # seconds the receiver asked us to wait (retry only)
    status_code: int | None = None
    error: str | None = None

    @classmethod
    def delivered(cls, status_code: int | None = None) -> SendResult:
        return cls("delivered", status_code=status_code)

    @classmethod
    def retry(cls, after: float | None = None, *, status_code: int | None = None,
              error: str | None = None) -> SendResult:
        return cls("retry", retry_after=after, status_code=status_code, error=error)

    @classmethod
    def gone(cls, status_code: int | None = None) -> SendResult:
        return cls("gone", status_code=status_code, error="gone")

    @classmethod
    def failed(cls, *, status_code: int | None = None, error: str | None = None) -> SendResult:
        return cls("failed", status_code=status_code, error=error)

    @classmethod
    def superseded(cls) -> SendResult:
        """Not sent: the message was edited again before this revision went out."""
        return cls("superseded")

    @classmethod
    def skipped(cls, reason: str) -> SendResult:
        """Not sent, on purpose: e.g. the person's own words are not echoed to Matrix."""
        return cls("skipped", error=reason)


class OutboundGuard(Protocol):
    """Where the platform may connect on a person's behalf (ADR 0018): the save-time check of
    a webhook host (the channel adapter checks again at every connection)."""

    @property
    def allow_loopback(self) -> bool: ...  # the operator's test-only switch

    async def public(self, host: str, port: int) -> bool:
        """False when `host` resolves to any non-public address."""
        ...


class Channel(Protocol):
    """One outside channel (webhook, email). Never raises for a delivery problem: the
    result says whether to retry."""

    async def send(self, *, config: dict[str, Any], message: OutboundMessage) -> SendResult: ...


@runtime_checkable
class ClosableChat(Protocol):
    """A channel bound to one chat on a platform (Messenger, WhatsApp): when the person is
    erased, it says goodbye there and tells the platform the link ended (best effort)."""

    async def close_chat(self, address: str) -> None: ...


@runtime_checkable
class RoomChannel(Protocol):
    """A channel that opens rooms on the far side (Matrix): when the channel goes, it closes
    them (best effort; returns how many it left)."""

    async def close_rooms(self, rooms: Sequence[str]) -> int: ...


class ChannelRepository(Protocol):
    """Channels beyond the web messenger and their delivery rows (owner: the channels feature)."""

    async def add(self, channel: ChannelRecord) -> None: ...
    async def get(self, channel_id: str) -> ChannelRecord | None: ...
    async def for_person(self, person_id: str) -> list[ChannelRecord]: ...
    async def disable(self, channel_id: str, *, reason: str, at: datetime) -> None: ...
    async def remove(self, channel_id: str) -> None:
        """Delete the channel and its delivery rows."""
        ...

    async def add_delivery(self, delivery: ChannelDeliveryRecord) -> bool:
        """Insert; False (nothing written) if (channel, message, rev) is already there."""
        ...

    async def pending(self, *, limit: int = 1000) -> list[ChannelDeliveryRecord]:
        """Pending rows of active channels with their thread id, by channel, then
        (created_at, rev)."""
        ...

    async def update_delivery(self, delivery: ChannelDeliveryRecord) -> None: ...
    async def recent_deliveries(self, channel_id: str, *, limit: int = 10) -> list[ChannelDeliveryRecord]:
        """Newest first."""
        ...


class MatrixError(Exception):
    """A homeserver problem. `retryable`: unreachable, 5xx, rate limited (with the wait the
    server asked for); else refused (4xx). `code` is the Matrix errcode or the error's kind,
    never anything the person wrote."""

    def __init__(self, code: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


@dataclass(frozen=True, slots=True)
class MatrixInboundEvent:
    """A timeline event of a room the bot is in: `content` is the raw event content."""

    room_id: str
    event_id: str
    sender: str
    type: str  # m.room.message | m.reaction | ...
    content: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MatrixSyncBatch:
    next_batch: str
    events: list[MatrixInboundEvent]


class MatrixClient(Protocol):
    """The bot's side of the client-server API. Every method raises `MatrixError`."""

    @property
    def user_id(self) -> str: ...

    async def create_direct_room(self, *, name: str, invite: str) -> str:
        """A new private direct room named `name` with `invite` invited; its room id."""
        ...

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], *, txn_id: str) -> str:
        """Send an event; the same `txn_id` again returns the first event's id (the homeserver
        dedupes it), so a retry after a crash never posts twice."""
        ...

    async def sync(self, *, since: str | None, timeout_ms: int) -> MatrixSyncBatch:
        """Timeline events (messages, reactions) of joined rooms after `since`, oldest first."""
        ...

    async def leave(self, room_id: str) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MatrixRoomRecord:
    room_id: str
    channel_id: str
    person_id: str
    thread_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MatrixEventRecord:
    """The first Matrix event of a message in a channel: later revisions edit it."""

    channel_id: str
    message_id: str
    person_id: str
    room_id: str
    event_id: str
    delivery_id: str
    created_at: datetime


class MatrixRepository(Protocol):
    async def room_for(self, channel_id: str, thread_id: str) -> MatrixRoomRecord | None: ...
    async def room(self, room_id: str) -> MatrixRoomRecord | None: ...
    async def rooms_of_person(self, person_id: str) -> list[MatrixRoomRecord]: ...
    async def add_room(self, room: MatrixRoomRecord) -> None: ...
    async def first_event(self, channel_id: str, message_id: str) -> MatrixEventRecord | None: ...
    async def event_by_id(self, room_id: str, event_id: str) -> MatrixEventRecord | None: ...
    async def add_event(self, event: MatrixEventRecord) -> None: ...
    async def handled(self, event_id: str) -> bool:
        """Whether this inbound event was handled already."""
        ...

    async def mark_handled(self, event_id: str, *, person_id: str, room_id: str, at: datetime) -> bool:
        """Record an inbound event as handled; False (nothing written) if it was already."""
        ...

    async def sync_token(self, user_id: str) -> str | None: ...
    async def save_sync_token(self, user_id: str, token: str, *, at: datetime) -> None: ...
