"""The sandbox bank's records. Everything lives in memory; the full account number never leaves."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")


def iso(at: datetime) -> str:
    """An instant as the wire writes it: whole seconds, UTC as `Z`."""
    return at.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Problem(Exception):
    """An RFC 9457 problem: `code` is stable, `detail` is for people."""

    def __init__(self, status: int, code: str, detail: str, *, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or code.replace("_", " ").capitalize()


class TxnKind(enum.StrEnum):
    PURCHASE = "purchase"
    DEPOSIT = "deposit"
    FEE = "fee"
    REFUND = "refund"


@dataclass(frozen=True, slots=True)
class Customer:
    login: str
    password: str
    name: str
    currency: str


@dataclass(slots=True)
class Account:
    account_id: str
    login: str
    name: str
    type: str  # checking | savings | credit_card
    currency: str
    number: str  # full number: stays inside the sandbox
    opening_balance: Decimal
    credit_limit: Decimal | None = None
    frozen: bool = False  # the card is frozen (fraud, lost card, or the customer asked)

    @property
    def mask(self) -> str:
        return self.number[-4:]

    def wire(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "name": self.name, "type": self.type,
                "currency": self.currency, "mask": self.mask}


@dataclass(slots=True)
class Txn:
    transaction_id: str
    account_id: str
    kind: TxnKind
    status: str  # pending | posted
    amount: Decimal  # negative = money out
    currency: str
    booking_date: date | None
    value_date: date | None
    merchant_name: str | None
    descriptor: str
    mcc: str | None
    created_at: datetime
    pending_transaction_id: str | None = None
    removed: bool = False  # a pending that posted or was voided
    posted_as: str | None = None
    refunded: Decimal = Decimal(0)
    preauth: bool = False  # a fuel pre-authorisation still waiting for its real amount
    merchant_country: str | None = None  # card purchases: ISO 3166-1 alpha-2 of the merchant
    card_present: bool | None = None  # card purchases: False when bought online

    def wire(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "account_id": self.account_id,
            "status": self.status,
            "pending_transaction_id": self.pending_transaction_id,
            "amount": str(self.amount),
            "currency": self.currency,
            "booking_date": self.booking_date.isoformat() if self.booking_date else None,
            "value_date": self.value_date.isoformat() if self.value_date else None,
            "merchant_name": self.merchant_name,
            "descriptor": self.descriptor,
            "mcc": self.mcc,
            "merchant_country": self.merchant_country,
            "card_present": self.card_present,
        }


# --------------------------------------------------------------------------- declined cards

DECLINE_REASONS = ("insufficient_funds", "limit_exceeded", "card_frozen", "suspected_fraud",
                   "expired_card", "incorrect_pin", "merchant_blocked", "other")


@dataclass(frozen=True, slots=True)
class Decline:
    """A card authorisation the bank refused. Not a transaction: no money moved."""

    decline_id: str
    account_id: str
    merchant_name: str | None
    mcc: str | None
    amount: Decimal  # what was attempted, positive
    currency: str
    reason: str  # one of DECLINE_REASONS
    at: datetime
    merchant_country: str | None
    card_present: bool | None

    def wire(self) -> dict[str, Any]:
        return {
            "decline_id": self.decline_id,
            "merchant_name": self.merchant_name,
            "mcc": self.mcc,
            "amount": str(self.amount),
            "currency": self.currency,
            "reason": self.reason,
            "at": iso(self.at),
            "merchant_country": self.merchant_country,
            "card_present": self.card_present,
        }


class CardDeclined(Problem):
    """A purchase the bank declined (402): it was pushed as `card.declined`, not booked."""

    def __init__(self, decline: Decline) -> None:
        super().__init__(402, "card_declined",
                         f"the card was declined ({decline.reason}): decline {decline.decline_id}")
        self.decline = decline


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of an account's change log, which cursor sync replays."""

    seq: int
    op: str  # added | modified | removed
    transaction_id: str


@dataclass(slots=True)
class Consent:
    consent_id: str
    login: str
    client_id: str
    account_ids: tuple[str, ...]
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None  # customer | client

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(slots=True)
class Subscription:
    subscription_id: str
    consent_id: str
    client_id: str
    url: str
    created_at: datetime
    active: bool = True


@dataclass(frozen=True, slots=True)
class Effect:
    """What one money movement changed, for event push: a transaction update or removal."""

    account_id: str
    type: str  # transaction.updated | transaction.removed
    transaction_id: str


@dataclass(slots=True)
class DeliveryRecord:
    msg_id: str
    subscription_id: str
    type: str
    attempts: int = 0
    status: str = "queued"  # queued | delivered | failed | gone
    last_status_code: int | None = None
    history: list[str] = field(default_factory=list)
