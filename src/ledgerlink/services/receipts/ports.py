"""Receipts (issue 11): the stored records and the repository Protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class MerchantLinkRecord:
    id: str
    person_id: str
    merchant_slug: str
    customer_ref: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ShopOrderRecord:
    id: str
    person_id: str
    merchant_slug: str
    order_ref: str
    transaction_id: str | None
    match_state: str  # waiting | matched | doubtful
    sealed: bytes  # the receipt and its match explanation
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BankRefundRecord:
    refund_transaction_id: str
    person_id: str
    original_transaction_id: str
    rule: str  # reference | merchant (domain/receipts.find_refunded_purchase)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MerchantAliasRecord:
    id: str
    person_id: str
    merchant_slug: str
    sealed: bytes  # JSON: {"descriptor": cleaned descriptor, "shop": the shop's name}
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReceiptAddressRecord:
    id: str
    person_id: str
    token_hash: str  # SHA-256 hex of the address's random local part: looked up, never shown
    sealed: bytes  # JSON: {"local": the local part}, to show the address again
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MailMarkup:
    """What a receipt email says in schema.org markup (adapters/receipts_markup.py)."""

    items: list[dict[str, Any]]  # Order / ParcelDelivery objects, JSON-LD and microdata alike
    sent_at: datetime | None  # the message's Date header
    broken: str | None = None  # why markup that is there could not be read


class ShopReceiptRepository(Protocol):
    async def lock_person(self, person_id: str) -> None:
        """Serialise the units of work that match this person's receipts to charges until the
        commit (PostgreSQL: a transaction-scoped advisory lock; SQLite's writer holds the
        database already). Taken before anything matching reads."""
        ...
    async def add_link(self, record: MerchantLinkRecord) -> None: ...
    async def link_for(self, merchant_slug: str, customer_ref: str) -> MerchantLinkRecord | None: ...
    async def links_of(self, person_id: str) -> list[MerchantLinkRecord]:
        """The person's shop links, oldest first (the export)."""
        ...
    async def seen(self, merchant_slug: str, event_id: str, person_id: str, at: datetime) -> bool:
        """Remember the event id; True when it was already there (a replay)."""
        ...
    async def order(self, merchant_slug: str, order_ref: str) -> ShopOrderRecord | None: ...
    async def order_by_id(self, order_id: str) -> ShopOrderRecord | None: ...
    async def put_order(self, record: ShopOrderRecord) -> None: ...
    async def waiting(self, person_id: str) -> list[ShopOrderRecord]: ...
    async def orders_of(self, person_id: str) -> list[ShopOrderRecord]:
        """Every order of the person, whatever its state, oldest first (questions, export)."""
        ...
    async def concerns(self, person_id: str, transaction_id: str) -> bool:
        """True when the person has a waiting order or an order paid (first or further charge)
        by this charge: False means `waiting` is empty and `for_transaction` is None."""
        ...
    async def has_extras(self, transaction_id: str) -> bool:
        """True when the bank refunded some of this charge or it paid an order: False means
        `refunds_of` is empty and `for_transaction` is None."""
        ...
    async def for_transaction(self, transaction_id: str) -> ShopOrderRecord | None: ...
    async def claims(self, transaction_ids: Sequence[str]) -> dict[str, set[str]]:
        """Of these charges, those that paid an order (first charge or a further one): charge
        id -> the ids of the orders it paid. One statement pair, whatever the count."""
        ...
    async def orders_for_transaction(self, transaction_id: str) -> list[ShopOrderRecord]:
        """Every order whose (first) charge this is: several when one charge paid a basket."""
        ...
    async def set_charges(self, order_id: str, person_id: str, transaction_ids: Sequence[str]) -> None: ...
    async def charges_of(self, order_id: str) -> list[str]: ...
    async def add_refund(self, record: BankRefundRecord) -> None: ...
    async def refund(self, refund_transaction_id: str) -> BankRefundRecord | None: ...
    async def refunds_of(self, original_transaction_id: str) -> list[BankRefundRecord]: ...
    async def question_of(self, person_id: str, message_id: str) -> str | None:
        """The order id the person's message `message_id` asks about (a receipt question card),
        None for any other message or someone else's."""
        ...
    async def open_question(self, person_id: str, thread_id: str) -> tuple[str, datetime] | None:
        """The thread's newest receipt question still open (its order doubtful): (order id, the
        card's created_at); None when none is open."""
        ...
    async def add_alias(self, record: MerchantAliasRecord) -> None: ...
    async def aliases(self, person_id: str) -> list[MerchantAliasRecord]: ...
    async def add_address(self, record: ReceiptAddressRecord) -> None: ...
    async def address_of(self, person_id: str) -> ReceiptAddressRecord | None: ...
    async def address_by_hash(self, token_hash: str) -> ReceiptAddressRecord | None: ...


# --------------------------------------------------------------------------- parcels (issue 11)


@dataclass(frozen=True, slots=True)
class ParcelRecord:
    """A parcel followed from a number pasted into a thread. `sealed` (the person's key) holds
    the number; the rest says nothing about it. `notified`: the steps already told, comma-joined."""

    id: str
    person_id: str
    thread_id: str
    carrier: str
    sealed: bytes
    status: str
    notified: str
    active: int  # 1 while the parcel moves, 0 once delivered or gone back
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ParcelStatus:
    """What a carrier says about a shipment: its status, ETA and the steps so far (oldest first)."""

    status: str
    eta: datetime | None
    events: list[tuple[str, datetime]]


class CarrierClient(Protocol):
    async def track(self, number: str) -> ParcelStatus:
        """The shipment's status; InvalidInput (code `unknown_shipment`) when the carrier has
        none, ConnectionError when it cannot be reached. Never logs the number."""
        ...
    async def watch(self, number: str, *, reference: str) -> bool:
        """Ask the carrier to push this shipment's updates (signed webhooks naming `reference`,
        our parcel id, never the number); False when this client has no webhook subscription
        (the parcel is polled only); ConnectionError / InvalidInput as `track`."""
        ...


class ParcelRepository(Protocol):
    async def put(self, record: ParcelRecord) -> None: ...
    async def get(self, parcel_id: str) -> ParcelRecord | None: ...
    async def for_person(self, person_id: str) -> list[ParcelRecord]: ...
    async def active(self, limit: int) -> list[ParcelRecord]:
        """Parcels still moving, least recently polled first."""
        ...
