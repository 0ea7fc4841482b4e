"""The projected balance of the next 30 days, from the recurring income and bills of a year."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from tests.unit.insights_year import CHECKING, TODAY, year

from ledgerlink.domain.errors import CurrencyMismatch, InvalidInput
from ledgerlink.domain.forecast import Forecast, everyday_spend, first_below, project
from ledgerlink.domain.money import Money
from ledgerlink.domain.recurring import Recurring, detect

ROWS = year()
FOUND = detect(ROWS, today=TODAY)
FIFTY = Money(Decimal("50.00"), "USD")


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


def _forecast(balance: str, found: list[Recurring] = FOUND, **kw: object) -> Forecast:
    return project(account_id=CHECKING, balance=_usd(balance), today=TODAY, found=found, **kw)  # type: ignore[arg-type]


def test_the_forecast_goes_below_50_around_14_dec() -> None:
    forecast = _forecast("340.00")
    low = first_below(forecast, FIFTY)
    assert low is not None and low.day == date(2024, 12, 14)
    assert [e.recurring.merchant_key for e in low.events if e.recurring is not None] == ["GEICO"]
    day_before = next(d for d in forecast.days if d.day == date(2024, 12, 13))
    assert not day_before.balance < FIFTY
    assert low.balance == day_before.balance + _usd("-142.50")


def test_the_projection_is_today_s_balance_plus_every_expected_charge() -> None:
    forecast = _forecast("340.00")
    assert [d.day for d in forecast.days] == [TODAY + timedelta(days=n) for n in range(1, 31)]
    expected = sum((e.amount.amount for d in forecast.days for e in d.events), Decimal(0))
    assert forecast.days[-1].balance == _usd("340.00") + Money(expected, "USD")
    names = {e.merchant for d in forecast.days for e in d.events}
    assert {"Netflix", "Spotify", "Geico", "Comcast", "Planet Fitness"} <= names


def test_payday_brings_the_projection_back_up() -> None:
    forecast = _forecast("340.00")
    by_day = {d.day: d for d in forecast.days}
    payday = date(2024, 12, 28)
    assert by_day[payday].balance == by_day[payday - timedelta(days=1)].balance + _usd("3200.00")
    assert forecast.lowest() is not None and forecast.lowest().day < payday  # type: ignore[union-attr]


def test_the_card_s_subscriptions_are_not_in_the_checking_forecast() -> None:
    names = {e.recurring.merchant_key for d in _forecast("340.00").days for e in d.events
             if e.recurring is not None}
    assert "AUDIBLE" not in names and "NETFLIX" in names


def test_rent_paid_today_is_not_projected_again_this_month() -> None:
    rent = [e for d in _forecast("340.00").days for e in d.events if e.merchant.startswith("Rent")]
    assert rent == []  # next rent: 1 January, after the 30 days


def test_everyday_spending_brings_the_dip_earlier() -> None:
    daily = everyday_spend(ROWS, FOUND, account_id=CHECKING, today=TODAY)
    assert daily is not None and daily.is_negative()
    low = first_below(_forecast("340.00", daily=daily), FIFTY)
    assert low is not None and low.day < date(2024, 12, 14)


def test_a_comfortable_balance_raises_nothing() -> None:
    assert first_below(_forecast("5000.00"), FIFTY) is None


def test_a_balance_already_under_the_threshold_is_not_a_forecast() -> None:
    assert first_below(_forecast("20.00"), FIFTY) is None


def test_nothing_recurring_keeps_the_balance_flat() -> None:
    forecast = _forecast("340.00", found=[])
    assert {d.balance for d in forecast.days} == {_usd("340.00")}


def test_bad_horizons_and_mixed_currencies_are_refused_clearly() -> None:
    with pytest.raises(InvalidInput) as info:
        _forecast("340.00", horizon_days=0)
    assert info.value.code == "bad_horizon"
    with pytest.raises(InvalidInput) as info:
        _forecast("340.00", daily=Money(Decimal("-5.00"), "EUR"))
    assert info.value.code == "currency_mismatch"
    with pytest.raises(CurrencyMismatch):
        first_below(_forecast("340.00"), Money(Decimal("50.00"), "EUR"))
