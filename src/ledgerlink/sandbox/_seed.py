"""Demo customers, generated deterministically from the seed, with 30 days of history."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from ledgerlink.sandbox._model import Account, Customer, Txn, TxnKind
from ledgerlink.sandbox._numbers import iban_de, luhn_card, us_account
from ledgerlink.sandbox.merchants import EMPLOYERS, MERCHANTS, Merchant


class Books(Protocol):
    """What seeding needs of the books. `Ledger` is one, and seeds itself with `seed_bank`
    while it starts: this module does not import `_ledger`, which imports it."""

    @property
    def customers(self) -> dict[str, Customer]: ...

    @property
    def accounts(self) -> dict[str, Account]: ...

    def new_id(self, prefix: str) -> str: ...

    def add_txn(self, txn: Txn) -> None: ...

    def descriptor(self, merchant: Merchant, currency: str) -> str: ...

    def merchant_amount(self, merchant: Merchant) -> Decimal: ...


DEMO_PASSWORD = "sandbox"
SURNAMES = ("Moreau", "Nakamura", "Okafor", "Lindqvist", "Rossi", "Fischer", "Garcia", "Kowalski",
            "Haddad", "Novak", "Jensen", "Silva")
# login, currency, account types
DEMO = (
    ("alice", "USD", ("checking", "savings", "credit_card")),
    ("bob", "EUR", ("checking", "savings")),
    ("carol", "USD", ("checking", "savings")),
    ("dave", "EUR", ("checking", "savings", "credit_card")),
)
NAMES = {"checking": "Everyday Checking", "savings": "High-Yield Savings",
         "credit_card": "Rewards Visa"}
EUR_NAMES = {"checking": "Girokonto", "savings": "Tagesgeld", "credit_card": "Visa Classic"}


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def seed_bank(ledger: Books, rng: random.Random, now: datetime) -> None:
    for login, currency, types in DEMO:
        ledger.customers[login] = Customer(login, DEMO_PASSWORD,
                                           f"{login.capitalize()} {rng.choice(SURNAMES)}", currency)
        for kind in types:
            if kind == "credit_card":
                number = luhn_card(rng)
            else:
                number = iban_de(rng) if currency == "EUR" else us_account(rng)
            names = EUR_NAMES if currency == "EUR" else NAMES
            acc = Account(ledger.new_id("acc"), login, names[kind], kind, currency, number,
                          Decimal(0), Decimal(5000) if kind == "credit_card" else None)
            ledger.accounts[acc.account_id] = acc
            _history(ledger, rng, acc, now)


def _history(ledger: Books, rng: random.Random, acc: Account, now: datetime) -> None:
    """Thirty days of posted activity; the opening balance makes today's balance plausible."""
    target = {"checking": _money(rng, 1800, 6500), "savings": _money(rng, 6000, 42000),
              "credit_card": -_money(rng, 150, 1400)}[acc.type]
    rows: list[tuple[datetime, TxnKind, Decimal, str, str | None, str | None]] = []
    if acc.type == "savings":
        rows.append((now - timedelta(days=rng.randint(1, 28)), TxnKind.DEPOSIT,
                     _money(rng, 3, 40), "INTEREST PAYMENT", None, None))
    else:
        for _ in range(rng.randint(10, 18)):
            merchant = rng.choice([m for m in MERCHANTS if m.high < 300])
            when = now - timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 900))
            rows.append((when, TxnKind.PURCHASE, -ledger.merchant_amount(merchant),
                         ledger.descriptor(merchant, acc.currency), merchant.name, merchant.mcc))
    if acc.type == "checking":
        employer = rng.choice(EMPLOYERS)
        for days in (rng.randint(1, 14), rng.randint(15, 29)):
            rows.append((now - timedelta(days=days), TxnKind.DEPOSIT, _money(rng, 1900, 3600),
                         f"PAYROLL {employer} DIR DEP", None, None))
        rows.append((now - timedelta(days=rng.randint(1, 28)), TxnKind.FEE, Decimal("-12.00"),
                     "MONTHLY MAINTENANCE FEE", None, None))
    total = Decimal(0)
    for when, kind, amount, descriptor, merchant_name, mcc in sorted(rows, key=lambda r: r[0]):
        total += amount
        value = when - timedelta(days=1) if kind is TxnKind.PURCHASE else when
        ledger.add_txn(Txn(ledger.new_id("txn"), acc.account_id, kind, "posted", amount,
                           acc.currency, when.date(), value.date(), merchant_name, descriptor,
                           mcc, when))
    acc.opening_balance = target - total
