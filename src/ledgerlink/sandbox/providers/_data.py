"""Deterministic bank data shared by the provider simulators, on an injected clock.

Every simulated account lives a life that depends only on the seed, the account's key and the
day: the same transactions come back on every refresh, in every session and after every
re-consent, which is what lets the tests (and the demo) check that ids are stable. A
transaction is visible from `transacted_at`; it is pending until `posted_at`, booked after.
Each simulator turns these into its provider's own shapes and id rules.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from ledgerlink.domain.clock import Clock

__all__ = ["DailyBudget", "SimAccount", "SimLedger", "SimTransaction", "digest", "seconds_to_midnight"]

_CENT = Decimal("0.01")
# (counterparty, memo, merchant category code, smallest and largest amount in cents)
_SPENDING = (
    ("Corner Grocery", "Card purchase", "5411", 350, 8900),
    ("City Transit", "Travel card top-up", "4111", 250, 3000),
    ("Blue Bottle Cafe", "Card purchase", "5814", 300, 1800),
    ("Paper & Ink Books", "Card purchase", "5942", 900, 4500),
    ("Riverside Pharmacy", "Card purchase", "5912", 400, 3500),
    ("North Fuel", "Card purchase", "5541", 2000, 7500),
    ("Streamly", "Subscription", "4899", 999, 1599),
)


def digest(*parts: object) -> str:
    """A stable hex digest of the parts (ids, refs): the same input, the same id, always."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def seconds_to_midnight(now: datetime) -> int:
    """Whole seconds until the next UTC day, when the daily budgets start again."""
    tomorrow = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
    return max(1, int((tomorrow - now).total_seconds()))


@dataclass(frozen=True, slots=True)
class SimAccount:
    key: str  # the bank's own account: stable across sessions and consents
    name: str
    kind: str  # "checking" | "savings" | "credit_card"
    currency: str
    iban: str  # a published example IBAN (valid checksum), never a real person's
    opening: Decimal  # balance before the simulated history starts


@dataclass(frozen=True, slots=True)
class SimTransaction:
    account_key: str
    ref: str  # stable, unique: every provider derives its ids from it
    amount: Decimal  # signed: negative leaves the account
    counterparty: str
    memo: str
    mcc: str | None
    transacted_at: datetime
    posted_at: datetime

    def visible(self, now: datetime) -> bool:
        return self.transacted_at <= now

    def is_pending(self, now: datetime) -> bool:
        return self.transacted_at <= now < self.posted_at


class SimLedger:
    """The accounts and their transactions. History starts `history_days` before the clock's
    time at construction; `add` injects a transaction (tests: a purchase that posts later)."""

    def __init__(self, *, seed: int, clock: Clock, accounts: Sequence[SimAccount],
                 history_days: int = 60, per_day: int = 2) -> None:
        self._seed = seed
        self._clock = clock
        self._accounts = {a.key: a for a in accounts}
        self._start = clock.now().astimezone(UTC).date() - timedelta(days=history_days)
        self._per_day = per_day
        self._days: dict[tuple[str, date], list[SimTransaction]] = {}
        self._extra: list[SimTransaction] = []

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def start(self) -> date:
        return self._start

    def accounts(self) -> list[SimAccount]:
        return list(self._accounts.values())

    def account(self, key: str) -> SimAccount:
        return self._accounts[key]

    def add(self, account_key: str, *, amount: str, counterparty: str, memo: str = "",
            at: datetime | None = None, posts_after: timedelta = timedelta(0),
            mcc: str | None = None) -> SimTransaction:
        when = at or self._clock.now()
        txn = SimTransaction(
            account_key=account_key, ref=digest(self._seed, account_key, "extra", len(self._extra)),
            amount=Decimal(amount), counterparty=counterparty, memo=memo, mcc=mcc,
            transacted_at=when, posted_at=when + posts_after)
        self._extra.append(txn)
        return txn

    def transactions(self, account_key: str, *, now: datetime) -> list[SimTransaction]:
        """Every transaction of the account visible at `now`, oldest first."""
        out: list[SimTransaction] = []
        day = self._start
        while day <= now.astimezone(UTC).date():
            out.extend(t for t in self._day(account_key, day) if t.visible(now))
            day += timedelta(days=1)
        out.extend(t for t in self._extra if t.account_key == account_key and t.visible(now))
        out.sort(key=lambda t: (t.transacted_at, t.ref))
        return out

    def balance(self, account_key: str, *, now: datetime) -> tuple[Decimal, Decimal]:
        """(booked, available): booked counts posted transactions, available also pending."""
        account = self._accounts[account_key]
        booked = available = account.opening
        for txn in self.transactions(account_key, now=now):
            available += txn.amount
            if not txn.is_pending(now):
                booked += txn.amount
        return booked, available

    def _day(self, account_key: str, day: date) -> list[SimTransaction]:
        cached = self._days.get((account_key, day))
        if cached is not None:
            return cached
        account = self._accounts[account_key]
        rng = random.Random(digest(self._seed, account_key, day.isoformat()))
        out: list[SimTransaction] = []
        midnight = datetime.combine(day, time(), UTC)
        if account.kind == "checking" and day.day == 25:
            out.append(self._make(account_key, day, 0, Decimal("2450.00"), "Acme Payroll", "Salary",
                                  None, midnight + timedelta(hours=6), timedelta(0)))
        if account.kind == "checking" and day.day == 1:
            out.append(self._make(account_key, day, 1, Decimal("-950.00"), "Harbour Lettings", "Rent",
                                  None, midnight + timedelta(hours=7), timedelta(0)))
        if account.kind == "savings":
            if day.day == 26:
                out.append(self._make(account_key, day, 2, Decimal("200.00"), "Own transfer",
                                      "Monthly saving", None, midnight + timedelta(hours=8),
                                      timedelta(0)))
            self._days[(account_key, day)] = out
            return out
        for i in range(rng.randint(0, self._per_day)):
            name, memo, mcc, low, high = rng.choice(_SPENDING)
            amount = -(Decimal(rng.randint(low, high)) * _CENT)
            at = midnight + timedelta(hours=rng.randint(7, 21), minutes=rng.randint(0, 59))
            delay = timedelta(days=rng.choice((0, 1, 1, 2, 3)), hours=rng.randint(0, 5))
            out.append(self._make(account_key, day, 10 + i, amount, name, memo, mcc, at, delay))
        self._days[(account_key, day)] = out
        return out

    def _make(self, account_key: str, day: date, n: int, amount: Decimal, counterparty: str,
              memo: str, mcc: str | None, at: datetime, delay: timedelta) -> SimTransaction:
        return SimTransaction(account_key=account_key, ref=digest(self._seed, account_key, day, n),
                              amount=amount, counterparty=counterparty, memo=memo, mcc=mcc,
                              transacted_at=at, posted_at=at + delay)


class DailyBudget:
    """A per-key allowance of `limit` uses per UTC day, on the simulator's clock."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self.limit = limit
        self._clock = clock
        self._used: dict[tuple[object, ...], tuple[date, int]] = {}

    def used(self, key: tuple[object, ...]) -> int:
        today = self._clock.now().astimezone(UTC).date()
        day, n = self._used.get(key, (today, 0))
        return n if day == today else 0

    def take(self, key: tuple[object, ...]) -> int:
        """Count one use; returns the number of uses today, this one included."""
        n = self.used(key) + 1
        self._used[key] = (self._clock.now().astimezone(UTC).date(), n)
        return n

    def reset_after(self) -> int:
        return seconds_to_midnight(self._clock.now())
