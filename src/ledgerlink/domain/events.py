"""Domain events (past tense). They cross the bus, so they hold ids, never personal data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class BankEventsReceived(Event):
    """Bank events were stored in the inbox (one per group commit, not one per event)."""

    partner_ids: tuple[str, ...]
    inbox_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LinkActivated(Event):
    person_id: str
    link_id: str


@dataclass(frozen=True, slots=True)
class LinkRevoked(Event):
    person_id: str
    link_id: str
    by: str  # "person" | "bank"


@dataclass(frozen=True, slots=True)
class AccountSyncRequested(Event):
    account_id: str


@dataclass(frozen=True, slots=True)
class TransactionChanged(Event):
    person_id: str
    transaction_id: str
    created: bool
    delivered: bool = False  # its message was already written in the same unit of work


@dataclass(frozen=True, slots=True)
class BalanceChanged(Event):
    person_id: str
    account_id: str
    delivered: bool = False


@dataclass(frozen=True, slots=True)
class MessageStored(Event):
    """A message was added or edited; `rev` is its thread revision."""

    person_id: str
    thread_id: str
    message_id: str
    rev: int


@dataclass(frozen=True, slots=True)
class ChannelRemoved(Event):
    """A person's extra channel is gone (removed by them, or with their erasure). `rooms`:
    the Matrix rooms the bot had opened for it (room ids only), which it now leaves. `address`:
    with an erasure, the Messenger or WhatsApp chat (PSID, WhatsApp id), read before the
    person's key is destroyed so the platform can still be told (ADR 0023); never logged."""

    person_id: str
    channel_id: str
    kind: str
    rooms: tuple[str, ...] = ()
    address: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelDeliveriesQueued(Event):
    """Delivery rows for the person's extra channels were committed with a message."""

    person_id: str


@dataclass(frozen=True, slots=True)
class BankRequestQueued(Event):
    """A signed request to a bank (fraud answer, customer-service message) is in the outbox."""

    outbox_id: str


@dataclass(frozen=True, slots=True)
class ThreadRead(Event):
    """The person read a thread up to `last_read_seq` (of `last_seq` messages so far)."""

    person_id: str
    thread_id: str
    last_read_seq: int
    last_seq: int
