"""One money movement as the insight rules see it (recurring, forecast): a minimal input record.

Built from a stored `banking.Transaction` and its `categories.Categorised` by `from_transaction`;
tests build it directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.categories import Categorised
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money


@dataclass(frozen=True, slots=True)
class Activity:
    id: str
    account_id: str
    at: datetime  # aware UTC: when the bank first reported it (the authorisation, for a card)
    day: date  # the bank day (booking date, else the day of `at`)
    amount: Money  # negative: money out
    merchant_key: str  # categories.merchant_key
    merchant: str  # the name to show
    category: Category
    mcc: str | None = None
    authorised: Money | None = None  # the first (pending) amount, when posting changed it

    @property
    def money_in(self) -> bool:
        return self.amount.amount > 0

    @property
    def size(self) -> Decimal:
        """The amount without its sign."""
        return abs(self.amount.amount)


# Transaction.apply records an amount change as "amount -45.00 USD->-54.00 USD" (Money.__str__).
_AMOUNT_CHANGE = re.compile(r"amount (-?[0-9]+(?:\.[0-9]+)?) ([A-Z]{3})->")


def authorised_amount(txn: Transaction) -> Money | None:
    """The amount first authorised, when the bank later posted a different one; else None."""
    for entry in txn.history:
        found = _AMOUNT_CHANGE.match(entry)
        if found is not None:
            return Money(Decimal(found.group(1)), found.group(2))
    return None


def from_transaction(txn: Transaction, categorised: Categorised) -> Activity | None:
    """The activity of a stored transaction; None for a pending charge that fell off."""
    if txn.status is TransactionStatus.REMOVED:
        return None
    return Activity(
        id=txn.id,
        account_id=txn.account_id,
        at=txn.created_at,
        day=txn.booking_date or txn.created_at.date(),
        amount=txn.amount,
        merchant_key=categorised.merchant_key,
        merchant=txn.merchant or categorised.merchant_key.title(),
        category=categorised.category,
        mcc=txn.mcc,
        authorised=authorised_amount(txn),
    )
