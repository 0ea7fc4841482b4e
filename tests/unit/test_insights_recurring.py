"""Recurring payments on a synthetic year, and the rules raised over them."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.unit.insights_year import CARD, TODAY, activity, year

from ledgerlink.domain.activity import Activity, from_transaction
from ledgerlink.domain.banking import BankTransaction, Transaction, TransactionStatus
from ledgerlink.domain.categories import categorise
from ledgerlink.domain.insight_rules import duplicates, price_increases, trials_turned_paid, unusual_tips
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.recurring import AmountPattern, Cadence, Kind, Recurring, detect, subscriptions

ROWS = year()


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


@pytest.fixture(scope="module")
def found() -> dict[str, Recurring]:
    return {r.merchant_key: r for r in detect(ROWS, today=TODAY)}


def test_spotify_monthly_is_found(found: dict[str, Recurring]) -> None:
    spotify = found["SPOTIFY"]
    assert (spotify.kind, spotify.cadence, spotify.pattern) == (Kind.SUBSCRIPTION, Cadence.MONTHLY,
                                                               AmountPattern.FIXED)
    assert spotify.amount == _usd("-11.99") and spotify.active
    assert spotify.count == len([a for a in ROWS if a.merchant_key == "SPOTIFY"])


def test_groceries_weekly_are_not_a_subscription(found: dict[str, Recurring]) -> None:
    safeway = [a for a in ROWS if a.merchant_key == "SAFEWAY"]
    assert len(safeway) > 50 and all(a.category is Category.GROCERIES for a in safeway)
    assert "SAFEWAY" not in found


def test_weekly_purchases_of_varying_amounts_are_not_recurring_whatever_their_category() -> None:
    rows = [activity(i, day=date(2024, 1, 6) + timedelta(weeks=i), amount=f"-{20 + (i * 37) % 160}.00",
                     descriptor="HARDWARE BARN", mcc="5251") for i in range(20)]
    assert rows[0].category is Category.HOME
    assert detect(rows, today=date(2024, 6, 1)) == []


def test_everyday_merchants_people_saw_listed_are_not_recurring(found: dict[str, Recurring]) -> None:
    for key in ("SAFEWAY", "CVS PHARMACY", "SHAKE SHACK", "CHIPOTLE", "STARBUCKS", "OLIVE GARDEN"):
        assert key not in found, key


def test_subscriptions_are_the_fixed_price_services_only(found: dict[str, Recurring]) -> None:
    names = {r.merchant_key for r in subscriptions(found.values())}
    assert names == {"SPOTIFY", "NETFLIX", "PLANET FITNESS", "AMAZON PRIME", "AUDIBLE"}
    assert found["AUDIBLE"].account_id == CARD


def test_yearly_amazon_prime_is_found_with_its_next_renewal(found: dict[str, Recurring]) -> None:
    prime = found["AMAZON PRIME"]
    assert prime.cadence is Cadence.YEARLY and prime.count == 2
    assert prime.next_expected == date(2025, 10, 20)  # the anchor day, one year on


def test_rent_utilities_and_salary_are_recurring_but_not_subscriptions(found: dict[str, Recurring]) -> None:
    rent, power = found["RENT PAYMENT OAKWOOD APTS"], found["PGANDE WEB ONLINE"]
    pay = found["ACME CORP PAYROLL"]
    assert (rent.kind, rent.category) == (Kind.BILL, Category.HOUSING)
    assert (power.kind, power.pattern) == (Kind.BILL, AmountPattern.VARIABLE)
    assert (pay.kind, pay.amount) == (Kind.INCOME, _usd("3200.00"))
    assert found["COMCAST"].kind is Kind.BILL and found["GEICO"].kind is Kind.BILL


def test_a_subscription_that_stopped_is_no_longer_active() -> None:
    later = date(2025, 3, 1)
    assert not any(r.active for r in detect(ROWS, today=later) if r.merchant_key == "SPOTIFY")
    assert "SPOTIFY" not in {r.merchant_key for r in subscriptions(detect(ROWS, today=later))}


def test_netflix_price_increase_is_raised(found: dict[str, Recurring]) -> None:
    raised = price_increases(found.values())
    assert [(p.merchant_key, p.before, p.after) for p in raised] == [
        ("NETFLIX", _usd("15.49"), _usd("17.99"))]
    assert raised[0].on.month == 8 and raised[0].on.year == 2024
    first_at_new_price = min((a for a in ROWS if a.merchant_key == "NETFLIX" and a.size == Decimal("17.99")),
                             key=lambda a: a.day)
    assert raised[0].activity_id == first_at_new_price.id


def test_a_free_trial_turning_paid_is_raised() -> None:
    raised = trials_turned_paid(ROWS)
    assert [(t.merchant_key, t.trial, t.paid) for t in raised] == [("DISNEY PLUS", _usd("0.00"),
                                                                    _usd("13.99"))]
    assert (raised[0].trial_day, raised[0].paid_day) == (date(2024, 10, 25), date(2024, 11, 25))


def test_a_duplicate_within_minutes_is_raised() -> None:
    raised = duplicates(ROWS)
    assert [(d.merchant_key, d.amount, d.gap) for d in raised] == [
        ("TARGET", _usd("45.67"), timedelta(minutes=3))]


def test_the_same_charge_hours_apart_is_not_a_duplicate() -> None:
    day = date(2024, 5, 4)
    rows = [activity(1, day=day, amount="-4.50", descriptor="STARBUCKS #1", mcc="5814", clock=time(8)),
            activity(2, day=day, amount="-4.50", descriptor="STARBUCKS #1", mcc="5814", clock=time(15))]
    assert duplicates(rows) == []
    assert len(duplicates(rows, window=timedelta(hours=8))) == 1


def test_a_restaurant_tip_of_40_percent_is_unusual() -> None:
    raised = unusual_tips(ROWS)
    assert [(t.merchant_key, t.authorised, t.posted, t.tip, t.share) for t in raised] == [
        ("OLIVE GARDEN", _usd("60.00"), _usd("84.00"), _usd("24.00"), Decimal("0.40"))]
    ordinary = [a for a in ROWS if a.merchant_key == "OLIVE GARDEN" and a.authorised is not None]
    assert len(ordinary) > 10  # the 18 % tips were there and were not raised


def test_a_fuel_preauthorisation_adjusted_up_is_not_a_tip() -> None:
    row = activity(1, day=date(2024, 5, 4), amount="-61.20", descriptor="SHELL OIL 5711", mcc="5541",
                   authorised="-1.00")
    assert unusual_tips([row]) == []


def test_a_posted_charge_keeps_its_authorised_amount() -> None:
    at = datetime(2024, 11, 16, 19, 30, tzinfo=UTC)
    txn = Transaction("t1", "acc", "p", "pend-1", None, TransactionStatus.PENDING, _usd("-60.00"),
                      None, None, "Olive Garden", "OLIVE GARDEN 1123", "5812", at, at)
    txn.apply(BankTransaction("post-1", "b", TransactionStatus.POSTED, _usd("-84.00"), date(2024, 11, 18),
                              None, "Olive Garden", "OLIVE GARDEN 1123", "5812"), at=at)
    cat = categorise(merchant=txn.merchant, descriptor=txn.descriptor, mcc=txn.mcc, amount=txn.amount)
    row = from_transaction(txn, cat)
    assert row is not None and row.authorised == _usd("-60.00") and row.day == date(2024, 11, 18)
    assert len(unusual_tips([row])) == 1
    txn.status = TransactionStatus.REMOVED
    assert from_transaction(txn, cat) is None


def _monthly(offsets: list[int], amount: str, start: date = date(2023, 1, 15)) -> list[Activity]:
    rows = []
    for i, jitter in enumerate(offsets):
        month = date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, start.day)
        rows.append(activity(i + 1, day=month + timedelta(days=jitter), amount=amount,
                             descriptor="ACME CLOUD STORAGE", mcc="4816"))
    return rows


@settings(max_examples=60, deadline=None)
@example(offsets=[-3, 3] * 4, cents=1549)  # the widest swing: gaps of 22 and 37 days
@given(offsets=st.lists(st.integers(-3, 3), min_size=3, max_size=14),
       cents=st.integers(99, 19999))
def test_a_monthly_charge_with_jitter_is_found_monthly(offsets: list[int], cents: int) -> None:
    amount = f"-{Decimal(cents) / 100:.2f}"
    rows = _monthly(offsets, amount)
    found = detect(rows, today=rows[-1].day + timedelta(days=3))
    assert [(r.cadence, r.amount, r.active) for r in found] == [(Cadence.MONTHLY, _usd(amount), True)]


@settings(max_examples=40, deadline=None)
@given(jitters=st.lists(st.integers(-1, 1), min_size=4, max_size=20))
def test_a_weekly_charge_with_jitter_is_found_weekly(jitters: list[int]) -> None:
    start = date(2024, 1, 1)
    rows = [activity(i + 1, day=start + timedelta(weeks=i, days=j), amount="-9.99",
                     descriptor="DAILY NEWS DIGITAL", mcc="5994") for i, j in enumerate(jitters)]
    found = detect(rows, today=rows[-1].day)
    assert [(r.cadence, r.kind) for r in found] == [(Cadence.WEEKLY, Kind.SUBSCRIPTION)]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_order_of_the_input_never_changes_what_is_found(seed: int) -> None:
    shuffled = list(ROWS)
    random.Random(seed).shuffle(shuffled)
    assert detect(shuffled, today=TODAY) == detect(ROWS, today=TODAY)
    assert duplicates(shuffled) == duplicates(ROWS)
    assert unusual_tips(shuffled) == unusual_tips(ROWS)
    assert trials_turned_paid(shuffled) == trials_turned_paid(ROWS)
