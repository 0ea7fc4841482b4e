from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerlink.domain.errors import CurrencyMismatch, InvalidInput
from ledgerlink.domain.money import Money, exponent


@pytest.mark.parametrize(("currency", "exp"), [("EUR", 2), ("JPY", 0), ("KWD", 3), ("USD", 2)])
def test_each_currency_has_its_iso_4217_exponent(currency: str, exp: int) -> None:
    assert exponent(currency) == exp


def test_minor_units_round_trip_for_every_exponent() -> None:
    for amount, currency, minor in [("12.34", "EUR", 1234), ("-5", "JPY", -5), ("1.234", "BHD", 1234)]:
        money = Money.parse(amount, currency)
        assert money.minor == minor
        assert Money.from_minor(minor, currency) == money


def test_too_many_decimals_for_the_currency_are_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        Money.parse("1.005", "EUR")
    assert info.value.code == "bad_amount"
    with pytest.raises(InvalidInput):
        Money.parse("1.5", "JPY")


def test_floats_unknown_currencies_and_garbage_are_refused() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.parse(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as info:
        Money.parse("1", "XYZ")
    assert info.value.code == "bad_currency"
    with pytest.raises(InvalidInput):
        Money.parse("twelve", "EUR")
    with pytest.raises(InvalidInput):
        Money.parse("NaN", "EUR")


def test_mixed_currency_arithmetic_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        Money.parse("1", "EUR") + Money.parse("1", "USD")
    total = Money.parse("1.10", "EUR") + Money.parse("2.20", "EUR")
    assert total == Money(Decimal("3.30"), "EUR")
    assert (-total).is_negative()
