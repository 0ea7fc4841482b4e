"""A subscription whose price goes up twice raises each step, once (issue 13).

Netflix at $15.49 four months, $17.99 three, then $19.99: seven pairs of charges of which five
keep the price, under the 75 % a fixed price used to need, so the series read as a variable
bill and the second step raised nothing. The price held between the steps: it is one
fixed-price subscription with two increases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tests.unit.insights_year import activity

from ledgerlink.domain.activity import Activity
from ledgerlink.domain.insight_rules import price_increases
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.recurring import AmountPattern, Kind, add_months, detect
from ledgerlink.services.alerts.insights import findings

FIRST = date(2024, 1, 12)


def _monthly(prices: list[str], *, descriptor: str = "NETFLIX.COM", mcc: str = "4899") -> list[Activity]:
    return [activity(i, day=add_months(FIRST, i), amount=f"-{p}", descriptor=descriptor, mcc=mcc)
            for i, p in enumerate(prices)]


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


STEPS = ["15.49"] * 4 + ["17.99"] * 3 + ["19.99", "19.99"]


def test_a_subscription_that_went_up_twice_stays_one_fixed_price_subscription() -> None:
    rows = _monthly(STEPS[:8])  # on the day of the second step
    [netflix] = detect(rows, today=rows[-1].day)
    assert (netflix.kind, netflix.pattern) == (Kind.SUBSCRIPTION, AmountPattern.FIXED)
    assert netflix.amount == _usd("-19.99")


def test_each_price_step_is_raised_at_the_first_charge_at_the_new_price() -> None:
    rows = _monthly(STEPS[:8])
    raised = price_increases(detect(rows, today=rows[-1].day))
    assert [(p.before, p.after, p.activity_id) for p in raised] == [
        (_usd("15.49"), _usd("17.99"), rows[4].id), (_usd("17.99"), _usd("19.99"), rows[7].id)]


def test_the_second_step_alerts_when_it_is_charged_and_the_next_charge_at_that_price_does_not() -> None:
    rows = _monthly(STEPS)
    step, after = rows[7], rows[8]
    assert findings(rows[:8], step) == [("price_increase", "Netflix went from $17.99 to $19.99.")]
    assert findings(rows, after) == []


def test_a_monthly_charge_whose_amount_changes_every_time_is_not_a_fixed_price() -> None:
    rows = _monthly(["85.00", "97.10", "103.40", "91.25", "110.00", "88.60"], descriptor="CITY GYM CLASSES",
                    mcc="7997")
    assert rows[0].category not in (Category.GROCERIES, Category.UTILITIES)
    found = detect(rows, today=rows[-1].day)
    assert [r.pattern for r in found] == [AmountPattern.VARIABLE]
    assert price_increases(found) == []
