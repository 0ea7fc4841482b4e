"""The sandbox's simulator is deterministic, and its change log keeps pending->posted lineage."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox import OAuthClientConfig, SandboxBank, SandboxConfig
from ledgerlink.sandbox._ledger import Ledger
from ledgerlink.sandbox._model import Problem
from ledgerlink.sandbox.merchants import MERCHANTS, by_name
from ledgerlink.services.ingest.wire import parse_balance, parse_transaction

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _bank(seed: int = 42) -> SandboxBank:
    return SandboxBank(SandboxConfig(seed=seed, simulate=False, clock=FrozenClock(START),
                                     clients=[OAuthClientConfig(
                                         client_id="c", client_secret="s",
                                         redirect_uris=["http://127.0.0.1/cb"],
                                         webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]))


def _run(bank: SandboxBank, steps: int) -> list[object]:
    clock = bank.clock
    assert isinstance(clock, FrozenClock)
    seen: list[object] = []
    for _ in range(steps):
        clock.advance(timedelta(minutes=7))
        seen.extend(bank.step())
    return seen


def test_same_seed_and_steps_give_the_same_activity_and_books() -> None:
    one, two = _bank(42), _bank(42)
    assert _run(one, 150) == _run(two, 150)
    assert [t.wire() for t in one.ledger.txns.values()] == [t.wire() for t in two.ledger.txns.values()]


def test_another_seed_gives_other_activity() -> None:
    assert _run(_bank(42), 40) != _run(_bank(7), 40)


def test_demo_customers_are_deterministic_and_only_expose_last_four() -> None:
    one, two = _bank(42), _bank(42)
    logins = [c.login for c in one.customers]
    assert {"alice", "bob"} <= set(logins)
    assert all(c.password == "sandbox" for c in one.customers)
    assert [c.name for c in one.customers] == [c.name for c in two.customers]
    for login in ("alice", "bob"):
        types = {a.type for a in one.accounts_of(login)}
        assert {"checking", "savings"} <= types
        for acc in one.accounts_of(login):
            wire = acc.wire()
            assert wire["mask"] == acc.number[-4:] and len(acc.number) > 8
            assert acc.number not in str(wire)
    assert any(a.type == "credit_card" for c in one.customers for a in one.accounts_of(c.login))
    for acc in one.ledger.accounts.values():
        parse_balance(one.ledger.balance(acc.account_id, now=START))


def test_the_simulator_produces_the_whole_life_of_an_account() -> None:
    kinds = Counter(a.kind for a in _run(_bank(42), 400))  # type: ignore[attr-defined]
    assert {"purchase", "post", "adjust", "deposit", "fee", "refund"} <= set(kinds)
    assert kinds["purchase"] > kinds["deposit"]


def test_merchants_carry_their_real_category_codes() -> None:
    assert len(MERCHANTS) >= 30
    expected = {"Starbucks": "5814", "Whole Foods Market": "5411", "Shell": "5541",
                "Amazon": "5942", "Uber": "4121", "Netflix": "4899", "Olive Garden": "5812"}
    for name, mcc in expected.items():
        merchant = by_name(name)
        assert merchant is not None and merchant.mcc == mcc


def test_a_pending_that_posts_is_added_as_posted_with_lineage_and_removed_as_pending() -> None:
    ledger = Ledger(seed=1, now=START)
    acc = next(a for a in ledger.accounts_of("alice") if a.type == "checking")
    first = ledger.sync(acc.account_id, None, 500)
    assert first["added"] and not first["has_more"]
    pending = ledger.purchase("alice", now=START, account_id=acc.account_id,
                              merchant=by_name("Olive Garden"), amount=Decimal("40.00"))
    page = ledger.sync(acc.account_id, first["next_cursor"], 100)
    assert [t["status"] for t in page["added"]] == ["pending"]
    posted = ledger.post(pending.transaction_id, now=START + timedelta(days=1),
                         final_amount=Decimal("47.00"))
    page = ledger.sync(acc.account_id, page["next_cursor"], 100)
    assert page["removed"] == [{"transaction_id": pending.transaction_id}]
    (added,) = page["added"]
    txn = parse_transaction(added)
    assert txn.bank_transaction_id == posted.transaction_id
    assert txn.pending_transaction_id == pending.transaction_id
    assert str(txn.amount.amount) == "-47.00" and txn.booking_date is not None


def test_an_amount_change_of_a_pending_is_reported_as_modified() -> None:
    ledger = Ledger(seed=1, now=START)
    acc = next(a for a in ledger.accounts_of("bob") if a.type == "checking")
    cursor = ledger.sync(acc.account_id, None, 500)["next_cursor"]
    pending = ledger.purchase("bob", now=START, account_id=acc.account_id, merchant=by_name("Shell"))
    assert pending.amount == Decimal("-1.00")  # fuel pre-authorisation
    cursor = ledger.sync(acc.account_id, cursor, 100)["next_cursor"]
    ledger.adjust(pending.transaction_id, amount=Decimal("63.20"))
    page = ledger.sync(acc.account_id, cursor, 100)
    assert page["added"] == [] and page["removed"] == []
    assert [(t["transaction_id"], t["amount"]) for t in page["modified"]] == [
        (pending.transaction_id, "-63.20")]


def test_sync_pages_follow_has_more_and_a_foreign_cursor_is_refused() -> None:
    ledger = Ledger(seed=3, now=START)
    acc = next(a for a in ledger.accounts_of("alice") if a.type == "checking")
    other = next(a for a in ledger.accounts_of("alice") if a.type == "savings")
    cursor, ids, pages = None, [], 0
    while True:
        page = ledger.sync(acc.account_id, cursor, 4)
        ids += [t["transaction_id"] for t in page["added"]]
        cursor, pages = page["next_cursor"], pages + 1
        if not page["has_more"]:
            break
    assert pages > 1 and len(ids) == len(set(ids))
    with pytest.raises(Problem) as err:
        ledger.sync(other.account_id, cursor, 4)
    assert err.value.code == "invalid_cursor"


def test_balances_follow_pending_and_posted_money() -> None:
    ledger = Ledger(seed=5, now=START)
    acc = next(a for a in ledger.accounts_of("alice") if a.type == "checking")
    before = ledger.balance(acc.account_id, now=START)
    txn = ledger.purchase("alice", now=START, account_id=acc.account_id, amount=Decimal("10.00"))
    during = ledger.balance(acc.account_id, now=START)
    assert Decimal(during["current"]) == Decimal(before["current"])
    assert Decimal(during["available"]) == Decimal(before["available"]) - 10
    ledger.post(txn.transaction_id, now=START)
    after = ledger.balance(acc.account_id, now=START)
    assert Decimal(after["current"]) == Decimal(before["current"]) - 10
    assert after["available"] == during["available"]
