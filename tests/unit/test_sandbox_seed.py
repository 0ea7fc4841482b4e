"""The sandbox's seeded history (sandbox/_seed.py), read by the pure insight rules: four months a
real account could show, for every demo customer and several seeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ledgerlink.domain.activity import Activity
from ledgerlink.domain.categories import categorise
from ledgerlink.domain.insight_rules import price_increases
from ledgerlink.domain.money import Money
from ledgerlink.domain.recurring import Kind, detect
from ledgerlink.sandbox._ledger import Ledger
from ledgerlink.sandbox._seed import HISTORY_DAYS

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
SEEDS = (42, 1, 7, 2024)


def _activities(ledger: Ledger, login: str) -> list[Activity]:
    out = []
    for t in ledger.txns.values():
        if ledger.accounts[t.account_id].login != login:
            continue
        amount = Money(t.amount, t.currency)
        c = categorise(merchant=t.merchant_name, descriptor=t.descriptor, mcc=t.mcc, amount=amount)
        out.append(Activity(id=t.transaction_id, account_id=t.account_id, at=t.created_at,
                            day=t.booking_date or t.created_at.date(), amount=amount,
                            merchant_key=c.merchant_key, merchant=t.merchant_name or c.merchant_key.title(),
                            category=c.category, mcc=t.mcc))
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_the_subscriptions_are_found_and_groceries_are_not(seed: int) -> None:
    ledger = Ledger(seed=seed, now=NOW)
    for login in ("alice", "bob", "carol", "dave"):
        found = {r.merchant: r for r in detect(_activities(ledger, login), today=NOW.date())}
        subscriptions = {name for name, r in found.items() if r.kind is Kind.SUBSCRIPTION}
        assert subscriptions == {"Spotify", "Netflix"}, (login, found)
        assert found["Netflix"].amount == Money(Decimal("-17.99"), found["Netflix"].amount.currency)
        assert not {"Whole Foods Market", "Trader Joe's", "Lidl"} & set(found)


@pytest.mark.parametrize("seed", SEEDS)
def test_netflix_went_up_once_from_15_49_to_17_99(seed: int) -> None:
    ledger = Ledger(seed=seed, now=NOW)
    steps = price_increases(detect(_activities(ledger, "alice"), today=NOW.date()))
    assert [(p.merchant, p.before.amount, p.after.amount) for p in steps] == [
        ("Netflix", Decimal("15.49"), Decimal("17.99"))]
    assert NOW.date() - steps[0].on <= timedelta(days=3)


@pytest.mark.parametrize("seed", SEEDS)
def test_no_balance_of_the_history_dips_below_zero_and_no_card_passes_its_limit(seed: int) -> None:
    ledger = Ledger(seed=seed, now=NOW)
    for acc in ledger.accounts.values():
        balance, lowest = acc.opening_balance, acc.opening_balance
        txns = sorted((t for t in ledger.txns.values() if t.account_id == acc.account_id),
                      key=lambda t: t.created_at)
        assert NOW - txns[0].created_at <= timedelta(days=HISTORY_DAYS + 3)
        assert NOW - txns[0].created_at >= timedelta(days=HISTORY_DAYS - 35)
        for t in txns:
            balance += t.amount
            lowest = min(lowest, balance)
        if acc.type == "credit_card":
            assert acc.credit_limit is not None and lowest > -acc.credit_limit, acc
        else:
            assert lowest > 0, acc
