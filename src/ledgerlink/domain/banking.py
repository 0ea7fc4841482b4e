"""Banks, links (consents), accounts, balances and transactions."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money


class Scope(enum.StrEnum):
    BALANCES = "balances"
    TRANSACTIONS = "transactions"
    ALERTS = "alerts"


class LinkStatus(enum.StrEnum):
    PENDING = "pending"  # consent started, waiting for the bank's callback
    EXCHANGING = "exchanging"  # one callback claimed it and is exchanging the code (no other may)
    ACTIVE = "active"
    REVOKED = "revoked"  # by the person or by the bank
    EXPIRED = "expired"
    FAILED = "failed"  # the consent flow was refused or broke


class AccountType(enum.StrEnum):
    CHECKING = "checking"
    SAVINGS = "savings"
    CREDIT_CARD = "credit_card"
    LOAN = "loan"
    OTHER = "other"


class TransactionStatus(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    REMOVED = "removed"  # a pending charge that fell off without posting


def mask_number(number: str) -> str:
    """Only the last four characters of an account number are ever kept in clear."""
    digits = "".join(ch for ch in number if ch.isalnum())
    if len(digits) < 4:
        raise InvalidInput("account number is too short to mask", code="bad_account_number")
    return digits[-4:]


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    slug: str
    name: str
    kind: str  # "bank" | "merchant"


@dataclass(slots=True)
class Link:
    id: str
    person_id: str
    partner_id: str
    status: LinkStatus
    scopes: tuple[Scope, ...]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None  # "person" | "bank"
    bank_consent_id: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status is LinkStatus.ACTIVE

    def allows(self, scope: Scope) -> bool:
        return self.is_active and scope in self.scopes


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    person_id: str
    link_id: str
    partner_id: str
    bank_account_id: str
    name: str
    type: AccountType
    currency: str
    last4: str


@dataclass(frozen=True, slots=True)
class Balance:
    account_id: str
    current: Money
    available: Money | None
    as_of: datetime


@dataclass(frozen=True, slots=True)
class BankTransaction:
    """A transaction as a bank reports it (webhook, sync page or file), before we store it."""

    bank_transaction_id: str
    bank_account_id: str
    status: TransactionStatus
    amount: Money
    booking_date: date | None
    value_date: date | None
    merchant: str | None
    descriptor: str
    mcc: str | None
    pending_transaction_id: str | None = None  # a posted transaction names the pending one
    merchant_country: str | None = None  # ISO 3166-1 alpha-2 of the merchant; None: not told
    card_present: bool | None = None  # False: online / card-not-present; None: not told


@dataclass(slots=True)
class Transaction:
    """One purchase is one row, from its first pending sighting through posting."""

    id: str
    account_id: str
    person_id: str
    source_key: str  # the bank's id of the current state
    pending_source_key: str | None  # the bank's id of the pending state, if there was one
    status: TransactionStatus
    amount: Money
    booking_date: date | None
    value_date: date | None
    merchant: str | None
    descriptor: str
    mcc: str | None
    created_at: datetime
    updated_at: datetime
    history: list[str] = field(default_factory=list)  # human-readable state changes
    merchant_country: str | None = None  # ISO 3166-1 alpha-2; None: the bank did not say
    card_present: bool | None = None  # False: an online / card-not-present purchase
    note: str | None = None  # the person's own note (issue 13); the bank never sees it

    def apply(self, update: BankTransaction, *, at: datetime) -> bool:
        """Fold a newer report of the same purchase into this row. True if anything changed."""
        if self.status is TransactionStatus.POSTED and update.status is TransactionStatus.PENDING:
            return False  # a late pending report never undoes a posting
        changed = False
        if update.status is not self.status:
            self.history.append(f"{self.status.value}->{update.status.value}")
            self.status = update.status
            changed = True
        if update.amount != self.amount:
            self.history.append(f"amount {self.amount}->{update.amount}")
            self.amount = update.amount
            changed = True
        if update.status is TransactionStatus.POSTED and update.bank_transaction_id != self.source_key:
            self.pending_source_key = self.pending_source_key or self.source_key
            self.source_key = update.bank_transaction_id
            changed = True
        for attr in ("booking_date", "value_date", "merchant", "descriptor", "mcc", "merchant_country",
                     "card_present"):
            new = getattr(update, attr)
            if new is not None and new != getattr(self, attr):
                setattr(self, attr, new)
                changed = True
        if changed:
            self.updated_at = at
        return changed


@dataclass(frozen=True, slots=True)
class AccountView:
    id: str
    link_id: str
    partner_id: str
    name: str
    type: AccountType
    currency: str
    last4: str
    balance: Balance | None
