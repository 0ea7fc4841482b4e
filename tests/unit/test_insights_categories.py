"""Categories: the MCC table, merchant rules, corrections, and every category saying why."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.insights_year import TODAY, year

from ledgerlink.domain.categories import (
    Category,
    Correction,
    Source,
    categorise,
    learn,
    merchant_key,
)
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.mcc import lookup, table
from ledgerlink.domain.money import Money

OUT = Money(Decimal("-12.30"), "USD")
IN = Money(Decimal("3200.00"), "USD")


def test_the_mcc_table_is_the_full_iso_18245_list_not_forty_codes() -> None:
    codes = table()
    assert len(codes) > 900
    outside_private = [c for c in codes if not 3000 <= int(c) <= 3999]
    assert len(outside_private) > 300
    assert Category.OTHER not in {codes[c].category for c in ("5411", "5812", "7011", "4511", "8011")}


@pytest.mark.parametrize(("code", "category"), [
    ("5411", Category.GROCERIES), ("5812", Category.RESTAURANTS), ("5814", Category.FAST_FOOD),
    ("5813", Category.BARS), ("5541", Category.FUEL), ("4121", Category.TAXI),
    ("6011", Category.CASH), ("4900", Category.UTILITIES), ("5912", Category.PHARMACY),
    ("7995", Category.GAMBLING), ("7832", Category.ENTERTAINMENT), ("8398", Category.CHARITY),
    ("9311", Category.GOVERNMENT), ("5977", Category.BEAUTY), ("0742", Category.PETS),
])
def test_well_known_codes_land_in_their_category(code: str, category: Category) -> None:
    assert lookup(code) is not None
    assert lookup(code).category is category  # type: ignore[union-attr]


@pytest.mark.parametrize(("low", "high", "group"), [
    (3000, 3350, "Airlines"), (3351, 3500, "Car rental"), (3501, 3999, "Lodging"),
])
def test_airline_car_rental_and_hotel_ranges_resolve_even_unlisted_codes(low: int, high: int,
                                                                       group: str) -> None:
    listed = [f"{n:04d}" for n in range(low, high + 1) if f"{n:04d}" in table()]
    unlisted = [f"{n:04d}" for n in range(low, high + 1) if f"{n:04d}" not in table()]
    assert listed and unlisted
    for code in (listed[0], unlisted[0]):
        found = lookup(code)
        assert found is not None and found.group == group and found.category is Category.TRAVEL
    assert lookup(unlisted[0]).listed is False  # type: ignore[union-attr]
    assert lookup("3000").description == "United Airlines"  # type: ignore[union-attr]


def test_an_unlisted_code_falls_back_to_its_iso_range() -> None:
    unlisted = next(f"{n:04d}" for n in range(5600, 5700) if f"{n:04d}" not in table())
    found = lookup(unlisted)
    assert found is not None
    assert (found.group, found.category, found.listed) == ("Clothing outlets", Category.CLOTHING, False)


def test_a_malformed_mcc_is_refused_clearly_and_categorising_ignores_it() -> None:
    with pytest.raises(InvalidInput) as info:
        lookup("54x1")
    assert info.value.code == "bad_mcc" and "four digits" in info.value.detail
    assert lookup(None) is None and lookup("  ") is None
    result = categorise(merchant=None, descriptor="CORNER SHOP", mcc="54x1", amount=OUT)
    assert result.category is Category.OTHER and result.reason.source is Source.NONE


def test_groceries_explain_themselves_by_mcc() -> None:
    result = categorise(merchant=None, descriptor="SAFEWAY #1234 SEATTLE WA", mcc="5411", amount=OUT)
    assert result.category is Category.GROCERIES
    assert (result.reason.source, result.reason.mcc) == (Source.MCC, "5411")
    assert result.explain().startswith("Groceries: MCC 5411 (")


def test_coffee_is_coffee_and_chipotle_is_not() -> None:
    def cat(descriptor: str) -> Category:
        return categorise(merchant=None, descriptor=descriptor, mcc="5814", amount=OUT).category

    assert cat("CHIPOTLE 2231 SEATTLE WA") is Category.FAST_FOOD
    assert cat("SHAKE SHACK 0142 NEW YORK NY") is Category.FAST_FOOD
    assert cat("STARBUCKS #1234 SEATTLE WA") is Category.COFFEE
    assert cat("DUNKIN #332 BOSTON MA") is Category.COFFEE
    assert cat("SQ *SIGHTGLASS COFFEE SAN FRANCISCO CA") is Category.COFFEE  # the word says it


def test_merchant_rules_beat_the_mcc_and_say_so() -> None:
    amazon = categorise(merchant=None, descriptor="AMZN MKTP*2K3L9X", mcc="5942", amount=OUT)
    assert (amazon.category, amazon.merchant_key) == (Category.SHOPPING, "AMAZON")
    assert amazon.explain() == "Shopping: Amazon is a known merchant"
    spotify = categorise(merchant=None, descriptor="SPOTIFY P3KD8A", mcc=None, amount=OUT)
    assert spotify.category is Category.SUBSCRIPTIONS and spotify.reason.rule == "Spotify"


@pytest.mark.parametrize(("name", "descriptor", "key"), [
    (None, "STARBUCKS #1234 SEATTLE WA", "STARBUCKS"),
    (None, "CHIPOTLE 2231 SAN FRANCISCO CA", "CHIPOTLE"),
    (None, "SQ *BLUE BOTTLE #0042 SEATTLE WA", "BLUE BOTTLE COFFEE"),
    (None, "PAYPAL *EBAY INC", "EBAY"),
    (None, "TST* JOE'S PIZZA 12 NEW YORK NY", "JOES PIZZA"),
    (None, "MCDONALD'S F2231 BOSTON MA", "MCDONALDS"),
    (None, "TARGET T-1234 CHICAGO IL", "TARGET"),
    (None, "UBER *TRIP HT5K2P", "UBER"),
    (None, "GALERIES LAFAYETTE PARIS", "GALERIES LAFAYETTE"),
    (None, "7-ELEVEN 33812", "7-ELEVEN"),
    ("Trader Joe's", "TRADER JOE S #552 AUSTIN TX", "TRADER JOES"),
    ("McDonald's", "whatever", "MCDONALDS"),
])
def test_the_merchant_key_drops_store_numbers_cities_and_processors(name: str | None, descriptor: str,
                                                                    key: str) -> None:
    assert merchant_key(name, descriptor) == key


def test_the_bank_name_and_the_descriptor_give_the_same_key() -> None:
    assert merchant_key("Trader Joe's") == merchant_key(None, "TRADER JOE S #552 AUSTIN TX")
    assert merchant_key("Chipotle") == merchant_key(None, "CHIPOTLE 1840 SEATTLE WA")


@given(store=st.integers(0, 99999), city=st.sampled_from(["SEATTLE WA", "NEW YORK NY", "BERLIN", ""]),
       words=st.lists(st.sampled_from(["BLUE", "MOON", "TACO", "HOUSE", "NOODLE", "BAKERY"]), min_size=1,
                      max_size=3),
       hash_sign=st.booleans())
def test_store_numbers_and_cities_never_change_the_key(store: int, city: str, words: list[str],
                                                        hash_sign: bool) -> None:
    name = " ".join(words)
    descriptor = f"{name} {'#' if hash_sign else ''}{store} {city}".strip()
    assert merchant_key(None, descriptor) == name


def test_a_correction_applies_to_past_and_future() -> None:
    said = Correction("CHIPOTLE", Category.RESTAURANTS, said_on=date(2024, 12, 2))
    corrections = learn({}, said)
    past = [a for a in year() if a.merchant_key == "CHIPOTLE"]
    assert len(past) > 40 and all(a.category is Category.FAST_FOOD for a in past)
    for descriptor in ["CHIPOTLE 2231 SEATTLE WA", "CHIPOTLE 0001 BOSTON MA"]:  # a past and a new store
        result = categorise(merchant=None, descriptor=descriptor, mcc="5814", amount=OUT,
                            corrections=corrections)
        assert result.category is Category.RESTAURANTS
        assert (result.reason.source, result.reason.said_on) == (Source.CORRECTION, date(2024, 12, 2))
        assert result.explain() == "Restaurants: you said so on 2024-12-02"
    other = categorise(merchant=None, descriptor="SHAKE SHACK 0142", mcc="5814", amount=OUT,
                       corrections=corrections)
    assert other.category is Category.FAST_FOOD
    assert said.said_on > TODAY


def test_the_latest_correction_wins() -> None:
    first = learn({}, Correction("COSTCO", Category.SHOPPING, date(2024, 10, 1)))
    second = learn(first, Correction("COSTCO", Category.GROCERIES, date(2024, 11, 1)))
    assert first["COSTCO"].category is Category.SHOPPING  # learn never mutates
    assert second["COSTCO"].category is Category.GROCERIES


def test_money_in_is_income_and_payroll_only_counts_coming_in() -> None:
    pay = categorise(merchant=None, descriptor="ACME CORP PAYROLL", mcc=None, amount=IN)
    assert pay.category is Category.INCOME and pay.reason.source is Source.MERCHANT
    gift = categorise(merchant=None, descriptor="FROM GRANDMA", mcc=None, amount=IN)
    assert gift.category is Category.INCOME and gift.reason.source is Source.DIRECTION
    unknown = categorise(merchant=None, descriptor="FROM GRANDMA", mcc=None, amount=OUT)
    assert unknown.category is Category.OTHER
    assert unknown.explain() == "Other: the bank gave no merchant category"
