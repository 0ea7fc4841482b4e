"""The spending-question parser: text + today in, a Question (or None) out."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.cards import category
from ledgerlink.domain.money import Money
from ledgerlink.domain.questions import CATEGORY_WORDS, Period, Question, parse_question, recurring

TODAY = date(2026, 11, 26)  # a Thursday
THIS_MONTH = Period(date(2026, 11, 1), TODAY)
OCTOBER = Period(date(2026, 10, 1), date(2026, 10, 31))

CASES: list[tuple[str, Question]] = [
    ("what did I spend on groceries in October?", Question("spending", OCTOBER, category="Groceries")),
    ("What did I spend on groceries in oct", Question("spending", OCTOBER, category="Groceries")),
    ("how much did I spend this week", Question("spending", Period(date(2026, 11, 23), TODAY))),
    ("spending last week", Question("spending", Period(date(2026, 11, 16), date(2026, 11, 22)))),
    ("spending last month at Amazon",
     Question("spending", Period(date(2026, 10, 1), date(2026, 10, 31)), merchant="amazon")),
    ("how much did I spend on starbucks", Question("spending", THIS_MONTH, merchant="starbucks")),
    ("what did i spend at whole foods market this month",
     Question("spending", THIS_MONTH, merchant="whole foods market")),
    ("spent on coffee today", Question("spending", Period(TODAY, TODAY), category="Fast food & coffee")),
    ("spending on fast food yesterday",
     Question("spending", Period(date(2026, 11, 25), date(2026, 11, 25)), category="Fast food & coffee")),
    ("how much did I spend on eating out in the last 7 days",
     Question("spending", Period(date(2026, 11, 20), TODAY), category="Restaurants")),
    ("gas spending last 30 days", Question("spending", Period(date(2026, 10, 28), TODAY), category="Fuel")),
    ("how much did I spend on uber in october 2025",
     Question("spending", Period(date(2025, 10, 1), date(2025, 10, 31)), category="Taxi & rideshare")),
    ("what did I spend on supermarkets in december",
     Question("spending", Period(date(2025, 12, 1), date(2025, 12, 31)), category="Groceries")),
    ("what did I spend in november", Question("spending", Period(date(2026, 11, 1), date(2026, 11, 30)))),
    ("what did I spend on subscriptions", Question("spending", THIS_MONTH, category="Subscriptions")),
    ("how much did I spend on dining", Question("spending", THIS_MONTH, category="Restaurants")),
    ("shopping spending this year",
     Question("spending", Period(date(2026, 1, 1), TODAY), category="Shopping")),
    ("how much have i spent on travel so far", Question("spending", THIS_MONTH, category="Travel")),
    ("last 3 transactions", Question("last_transactions", THIS_MONTH, count=3)),
    ("show my recent transactions", Question("last_transactions", THIS_MONTH, count=5)),
    ("last transactions", Question("last_transactions", THIS_MONTH, count=5)),
    ("show me the last 500 purchases", Question("last_transactions", THIS_MONTH, count=50)),
    ("last 0 transactions", Question("last_transactions", THIS_MONTH, count=1)),
    ("recurring charges", Question("recurring", Period(date(2026, 9, 1), TODAY))),
    ("what are my subscriptions?", Question("recurring", Period(date(2026, 9, 1), TODAY))),
    ("Subscriptions", Question("recurring", Period(date(2026, 9, 1), TODAY))),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parses(text: str, expected: Question) -> None:
    assert parse_question(text, today=TODAY) == expected


@pytest.mark.parametrize(
    "text",
    ["", "hello", "balance", "what's the weather", "export my data", "transactions",
     "how much did i spend in the last 999 days", "who accessed my data"],
)
def test_unknown_text_is_none(text: str) -> None:
    assert parse_question(text, today=TODAY) is None


def test_a_month_name_is_never_in_the_future() -> None:
    q = parse_question("spending in december", today=TODAY)
    assert q is not None and q.period == Period(date(2025, 12, 1), date(2025, 12, 31))
    q = parse_question("spending in january", today=date(2027, 1, 1))
    assert q is not None and q.period == Period(date(2027, 1, 1), date(2027, 1, 31))


def test_this_week_on_a_monday_is_just_today() -> None:
    monday = date(2026, 11, 23)
    q = parse_question("how much did I spend this week", today=monday)
    assert q is not None and q.period == Period(monday, monday)


def test_every_category_word_names_a_category_of_cards() -> None:
    names = {category(f"{mcc:04d}") for mcc in range(10_000)}
    assert set(CATEGORY_WORDS.values()) <= names


def _txn(merchant: str, day: date, amount: str) -> Transaction:
    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Transaction(
        id=f"txn_{merchant}_{day}_{amount}", account_id="acc", person_id="per", source_key="k",
        pending_source_key=None, status=TransactionStatus.POSTED, amount=Money.parse(amount, "USD"),
        booking_date=day, value_date=day, merchant=merchant, descriptor=merchant.upper(), mcc="4899",
        created_at=at, updated_at=at,
    )  # fmt: skip


def test_recurring_needs_two_of_three_months_similar_amounts_about_once_a_month() -> None:
    months = [(2026, 9), (2026, 10), (2026, 11)]
    txns = [
        _txn("Netflix", date(2026, 9, 3), "-15.49"), _txn("Netflix", date(2026, 10, 3), "-15.49"),
        _txn("Netflix", date(2026, 11, 3), "-17.99"),  # a price rise within 20 %
        _txn("Gym", date(2026, 10, 1), "-40.00"), _txn("Gym", date(2026, 11, 1), "-90.00"),  # not similar
        _txn("Once", date(2026, 11, 2), "-9.99"),  # one month only
        *[_txn("Cafe", date(2026, m, d), "-5.00") for m in (9, 10) for d in (1, 2, 3)],  # too often
        _txn("Refund", date(2026, 9, 5), "9.99"), _txn("Refund", date(2026, 10, 5), "9.99"),  # money in
        _txn("Old", date(2026, 8, 5), "-9.99"), _txn("Old", date(2026, 9, 5), "-9.99"),  # August is out
    ]  # fmt: skip
    assert recurring(txns, months) == [("Netflix", Money.parse("15.49", "USD"), 3)]
