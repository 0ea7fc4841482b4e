"""Carrier detection and check digits (domain/tracking.py). The valid numbers are the carriers'
published examples as collected in jkeen/tracking_number_data (couriers/*.json); each invalid
one is a valid one with one digit changed."""

from __future__ import annotations

import pytest

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.tracking import Carrier, masked, parse_tracking_number

VALID = [
    ("1Z5R89390357567127", Carrier.UPS),
    ("1Z879E930346834440", Carrier.UPS),
    ("1Z410E7W0392751591", Carrier.UPS),
    ("1z8v92a70367203024", Carrier.UPS),
    ("1Z999AA10123456784", Carrier.UPS),
    ("9400 1112 0108 0805 4830 16", Carrier.USPS),
    ("9505 5110 6960 5048 6006 24", Carrier.USPS),
    ("9361 2898 7870 0317 6337 95", Carrier.USPS),
    ("9405803699300124287899", Carrier.USPS),
    ("0307 1790 0005 2348 3741", Carrier.USPS),
    ("7196 9010 7560 0307 7385", Carrier.USPS),  # IMpb with its "91" left off
    ("986578788855", Carrier.FEDEX),
    ("477179081230", Carrier.FEDEX),
    ("799531274483", Carrier.FEDEX),
    ("0414 4176 0228 964", Carrier.FEDEX),
    ("5682 8361 0012 734", Carrier.FEDEX),
    ("9611020987654312345672", Carrier.FEDEX),
    ("3318810025", Carrier.DHL),
    ("8487135506", Carrier.DHL),
    ("1099255990", Carrier.DHL),
]

ONE_DIGIT_OFF = [
    "1Z5R89390357567128",
    "1Z879E930346834441",
    "9400 1112 0108 0805 4830 17",
    "0307 1790 0005 2348 3742",
    "996578788855",
    "5682 8361 0012 732",
    "9611020987654312345673",
    "3318810010",
    "3318810034",
]


@pytest.mark.parametrize(("text", "carrier"), VALID)
def test_published_example_numbers_are_read_with_their_carrier(text: str, carrier: Carrier) -> None:
    parsed = parse_tracking_number(text)
    assert parsed.carrier is carrier
    assert parsed.number == text.replace(" ", "").upper()


@pytest.mark.parametrize("text", ONE_DIGIT_OFF)
def test_a_number_one_digit_off_is_refused_for_its_check_digit(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_tracking_number(text)
    assert caught.value.code == "bad_check_digit"
    assert "the check digit is wrong" in str(caught.value)
    assert text.replace(" ", "") not in str(caught.value)


@pytest.mark.parametrize("text", ["12345", "1Z12345", "ABCDEFGHIJKL", "12345678901", "2Z5R89390357567127"])
def test_text_with_no_carriers_shape_is_not_a_tracking_number(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_tracking_number(text)
    assert caught.value.code == "not_a_tracking_number"


def test_every_single_digit_change_in_a_usps_number_is_caught() -> None:
    number = "9400111201080805483016"
    for place in range(len(number)):
        for digit in "0123456789":
            if digit != number[place]:
                with pytest.raises(InvalidInput):
                    parse_tracking_number(number[:place] + digit + number[place + 1:])


def test_the_masked_number_shows_only_its_ends() -> None:
    assert masked("1Z5R89390357567127") == "1Z" + "•" * 12 + "7127"
    assert parse_tracking_number("3318810025").masked == "33••••0025"
