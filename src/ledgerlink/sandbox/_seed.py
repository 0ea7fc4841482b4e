"""Demo customers, generated deterministically from the seed, with about four months of history.

The history is what a real account shows, so the insights have something true to find
(docs/insights.md): monthly subscriptions at a fixed day (Netflix's price goes up for the last
one), weekly groceries at one store, salary twice a month, a monthly fee and card payment, and
everyday spending in between. Opening balances are chosen so that no balance dips below zero
(a card stays within its limit) at any point of the history.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from ledgerlink.sandbox._model import Account, Customer, Txn, TxnKind
from ledgerlink.sandbox._numbers import iban_de, luhn_card, us_account
from ledgerlink.sandbox.merchants import EMPLOYERS, MERCHANTS, Merchant, by_name


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
HISTORY_DAYS = 125
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
# (merchant, price, latest price, latest charge so many days ago, charges or 0: all that fit).
# Charged on a fixed day each month. Netflix's latest charge is at its new price (the insight
# rules raise "Netflix went from $15.49 to $17.99"); its five charges keep it one fixed-price
# series (recurring.py: 3 of 4 steps at the same price) and reach back a little past the rest.
SUBSCRIPTIONS = (("Spotify", Decimal("11.99"), Decimal("11.99"), (3, 25), 0),
                 ("Netflix", Decimal("15.49"), Decimal("17.99"), (1, 3), 5))
SUBSCRIPTION_NAMES = frozenset({"Netflix", "Spotify", "Apple"})  # never bought at random
GROCERS = {"USD": ("Whole Foods Market", "Trader Joe's"), "EUR": ("Lidl",)}
LANDLORDS = ("OAKWOOD PROPERTIES", "MAPLE HOUSING", "LINDEN HAUSVERWALTUNG")
FLOOR = Decimal(150)  # the lowest a checking or savings balance gets in the history
CARD_HEADROOM = Decimal(600)  # a card's debt stays this far inside its limit

Row = tuple[datetime, TxnKind, Decimal, str, str | None, str | None]


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def seed_bank(ledger: Books, rng: random.Random, now: datetime) -> None:
    for login, currency, types in DEMO:
        ledger.customers[login] = Customer(login, DEMO_PASSWORD,
                                           f"{login.capitalize()} {rng.choice(SURNAMES)}", currency)
        accounts: dict[str, Account] = {}
        for kind in types:
            if kind == "credit_card":
                number = luhn_card(rng)
            else:
                number = iban_de(rng) if currency == "EUR" else us_account(rng)
            names = EUR_NAMES if currency == "EUR" else NAMES
            acc = Account(ledger.new_id("acc"), login, names[kind], kind, currency, number,
                          Decimal(0), Decimal(5000) if kind == "credit_card" else None)
            ledger.accounts[acc.account_id] = acc
            accounts[kind] = acc
        pays_subscriptions = accounts.get("credit_card", accounts["checking"])
        for acc in accounts.values():
            _history(ledger, rng, acc, now, subscriptions=acc is pays_subscriptions)


def _days_ago(now: datetime, days: int, rng: random.Random) -> datetime:
    return now - timedelta(days=days, minutes=rng.randint(0, 600))


def _everyday(ledger: Books, rng: random.Random, acc: Account, now: datetime) -> list[Row]:
    pool = [m for m in MERCHANTS if m.high < 300 and m.name not in SUBSCRIPTION_NAMES
            and m.mcc != "5411"]  # groceries come weekly, below
    rows: list[Row] = []
    for _ in range(rng.randint(40, 60)):
        merchant = rng.choice(pool)
        rows.append((_days_ago(now, rng.randint(1, HISTORY_DAYS), rng), TxnKind.PURCHASE,
                     -ledger.merchant_amount(merchant), ledger.descriptor(merchant, acc.currency),
                     merchant.name, merchant.mcc))
    return rows


def _groceries(ledger: Books, rng: random.Random, acc: Account, now: datetime) -> list[Row]:
    store = by_name(rng.choice(GROCERS.get(acc.currency, GROCERS["USD"])))
    assert store is not None
    descriptor = ledger.descriptor(store, acc.currency)
    rows: list[Row] = []
    days = rng.randint(2, 6)
    while days <= HISTORY_DAYS:
        rows.append((_days_ago(now, days, rng), TxnKind.PURCHASE, -_money(rng, 45, 130),
                     descriptor, store.name, store.mcc))
        days += 7 + rng.choice((-1, 0, 0, 0, 1))
    return rows


def _subscriptions(ledger: Books, rng: random.Random, acc: Account, now: datetime) -> list[Row]:
    rows: list[Row] = []
    for name, price, latest, last_day, count in SUBSCRIPTIONS:
        merchant = by_name(name)
        assert merchant is not None
        descriptor = ledger.descriptor(merchant, acc.currency)
        when = now - timedelta(days=rng.randint(*last_day))
        when = when.replace(day=min(when.day, 28), hour=rng.randint(6, 11), minute=0, second=0,
                            microsecond=0)  # a day every month has
        charges: list[datetime] = []
        while (len(charges) < count) if count else when >= now - timedelta(days=HISTORY_DAYS):
            charges.append(when)
            when = when.replace(month=when.month - 1) if when.month > 1 else \
                when.replace(year=when.year - 1, month=12)
        for i, at in enumerate(charges):
            rows.append((at, TxnKind.PURCHASE, -(latest if i == 0 else price), descriptor,
                         merchant.name, merchant.mcc))
    return rows


def _salary(rng: random.Random, now: datetime) -> list[Row]:
    employer = rng.choice(EMPLOYERS)
    pay = _money(rng, 1300, 2200)
    rows: list[Row] = []
    for days in range(rng.randint(1, 14), HISTORY_DAYS, 14):
        at = (now - timedelta(days=days)).replace(hour=6, minute=0, second=0, microsecond=0)
        rows.append((at, TxnKind.DEPOSIT, pay, f"PAYROLL {employer} DIR DEP", None, None))
    return rows


def _monthly(now: datetime, first: int, kind: TxnKind, amount: Decimal, text: str) -> list[Row]:
    return [((now - timedelta(days=days)).replace(hour=5, minute=0, second=0, microsecond=0),
             kind, amount, text, None, None) for days in range(first, HISTORY_DAYS, 30)]


def _rent(rows: list[Row], rng: random.Random, now: datetime) -> list[Row]:
    """Rent takes most of what is left each month (in round 50s), so the balance drifts a little,
    the way a real one does, instead of growing by every salary."""
    first = rng.randint(1, 28)
    months = len(range(first, HISTORY_DAYS, 30))
    left = sum((r[2] for r in rows), Decimal(0)) * Decimal("0.85") / months
    rent = Decimal(int(left / 50) * 50)
    if rent <= 0:
        return []
    return _monthly(now, first, TxnKind.FEE, -rent, f"RENT PAYMENT {rng.choice(LANDLORDS)}")


def _history(ledger: Books, rng: random.Random, acc: Account, now: datetime, *,
             subscriptions: bool) -> None:
    """Four months of posted activity; the opening balance makes today's balance plausible and
    keeps every day's balance above the floor (a card's debt inside its limit)."""
    target = {"checking": _money(rng, 1800, 6500), "savings": _money(rng, 6000, 42000),
              "credit_card": -_money(rng, 150, 1400)}[acc.type]
    rows: list[Row] = []
    if acc.type == "savings":
        rows += _monthly(now, rng.randint(1, 28), TxnKind.DEPOSIT, _money(rng, 3, 40),
                         "INTEREST PAYMENT")
    else:
        rows += _everyday(ledger, rng, acc, now)
    if acc.type == "checking":
        rows += _groceries(ledger, rng, acc, now)
        rows += _salary(rng, now)
        rows += _monthly(now, rng.randint(1, 28), TxnKind.FEE, Decimal("-12.00"),
                         "MONTHLY MAINTENANCE FEE")
        rows += _rent(rows, rng, now)
    if subscriptions:
        rows += _subscriptions(ledger, rng, acc, now)
    rows.sort(key=lambda r: r[0])
    if acc.type == "credit_card":
        rows = _with_card_payments(rows, now)
    running, lowest = Decimal(0), Decimal(0)
    for when, kind, amount, descriptor, merchant_name, mcc in rows:
        running += amount
        lowest = min(lowest, running)
        value = when - timedelta(days=1) if kind is TxnKind.PURCHASE else when
        ledger.add_txn(Txn(ledger.new_id("txn"), acc.account_id, kind, "posted", amount,
                           acc.currency, when.date(), value.date(), merchant_name, descriptor,
                           mcc, when))
    opening = target - running
    if acc.type == "credit_card":  # never past the limit: shift the whole history up if it would be
        limit = acc.credit_limit or Decimal(0)
        opening = max(opening, -(limit - CARD_HEADROOM) - lowest)
    else:
        opening = max(opening, FLOOR - lowest)
    acc.opening_balance = opening


def _with_card_payments(rows: list[Row], now: datetime) -> list[Row]:
    """The card is paid off each month: a payment of what was spent since the last one."""
    out: list[Row] = []
    due = now - timedelta(days=HISTORY_DAYS - 25)
    spent = Decimal(0)
    for row in rows:
        while row[0] >= due:
            if spent:
                out.append((due, TxnKind.DEPOSIT, spent, "AUTOPAY PAYMENT - THANK YOU", None, None))
            spent, due = Decimal(0), due + timedelta(days=30)
        out.append(row)
        spent -= row[2]
    return out
