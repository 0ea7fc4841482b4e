"""The spending-question parser: text + today in, a Question (or None) out."""

from __future__ import annotations

from datetime import date

import pytest

from ledgerlink.domain.mcc import Category
from ledgerlink.domain.questions import CATEGORY_WORDS, NotUnderstood, Period, Question, parse_question

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
    ("spent on coffee today", Question("spending", Period(TODAY, TODAY), category="Coffee")),
    ("spending on fast food yesterday",
     Question("spending", Period(date(2026, 11, 25), date(2026, 11, 25)), category="Fast food")),
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
    ("recurring charges", Question("recurring", Period(date(2025, 11, 1), TODAY))),
    ("what are my subscriptions?", Question("recurring", Period(date(2025, 11, 1), TODAY))),
    ("Subscriptions", Question("recurring", Period(date(2025, 11, 1), TODAY))),
    # issue 13: more phrasings
    ("how much on coffee this week",
     Question("spending", Period(date(2026, 11, 23), TODAY), category="Coffee")),
    ("groceries in October", Question("spending", OCTOBER, category="Groceries")),
    ("biggest purchases in November",
     Question("biggest", Period(date(2026, 11, 1), date(2026, 11, 30)))),
    ("show me my top 3 purchases last month", Question("biggest", OCTOBER, count=3)),
    ("largest transactions", Question("biggest", THIS_MONTH)),
    ("compare October and November",
     Question("compare", OCTOBER, other=Period(date(2026, 11, 1), date(2026, 11, 30)))),
    ("compare groceries in october and november", Question(
        "compare", OCTOBER, category="Groceries", other=Period(date(2026, 11, 1), date(2026, 11, 30)))),
    ("compare september 2025 vs october",
     Question("compare", Period(date(2025, 9, 1), date(2025, 9, 30)), other=OCTOBER)),
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


def test_every_category_word_names_a_category() -> None:
    assert all(isinstance(c, Category) for c in CATEGORY_WORDS.values())
    assert CATEGORY_WORDS["coffee"] is Category.COFFEE and CATEGORY_WORDS["fast food"] is Category.FAST_FOOD


@pytest.mark.parametrize("text", ["🍕", "🍕🍕 🎉", "?!", "…"])
def test_an_emoji_only_message_is_no_question(text: str) -> None:
    assert parse_question(text, today=TODAY) is None


@pytest.mark.parametrize(("text", "part"), [("how much did I spend at 🍕", "🍕"),
                                            ("spent at 🍕🍔 this week", "🍕🍔")])
def test_an_emoji_as_a_merchant_is_not_understood_and_says_which_part(text: str, part: str) -> None:
    assert parse_question(text, today=TODAY) == NotUnderstood(part, "a merchant or a category")


def test_biggest_with_words_that_are_no_period_says_what_was_not_understood() -> None:
    said = parse_question("biggest purchases at the zoo", today=TODAY)
    assert said == NotUnderstood("at the zoo", "a period")


def test_compare_with_an_unknown_category_says_so() -> None:
    q = parse_question("compare zorbing october and november", today=TODAY)
    assert q == NotUnderstood("zorbing", "a category")


def test_a_why_question_without_a_category_is_left_for_the_bank() -> None:
    """'why was I charged a fee?' in a bank thread goes to the bank's customer service; only
    'why is <merchant> <category>' asks for a category's reason (issue 13)."""
    import re

    from ledgerlink.services.questions.insight_commands import WHY

    assert re.fullmatch(WHY, "why was i charged a fee?") is None
    assert re.fullmatch(WHY, "why was i charged a fee") is None
    match = re.fullmatch(WHY, "why is chipotle restaurants")
    assert match is not None and (match["merchant"], match["cat"]) == ("chipotle", "restaurants")
