"""Tracking numbers: which carrier a pasted number belongs to, and whether its check digit holds
(ADR 0030: written from the carriers' published rules, not the `tracking-numbers` package).

Rules, for the four carriers we follow:
- **UPS** `1Z` + 15 characters + 1 check digit. Letters count as (position in the alphabet + 1)
  mod 10 (A=2 .. I=0 .. Z=7); over the 15, the digits in odd places (from the left) count once
  and those in even places twice; the check digit brings the sum to a multiple of 10 (a change
  by 5 in an even place goes unseen: the carrier's rule, not ours).
- **USPS** Intelligent Mail package barcode, 20 to 22 digits: weights 3, 1, 3, .. from the right
  of the digits before the check digit, which brings the sum to a multiple of 10. A 20-digit
  number whose application identifier `91` was left off is read with it put back.
- **FedEx** Express, 12 digits: weights 3, 1, 7 repeated from the left over the first 11, the sum
  mod 11 then mod 10 is the check digit. Ground, 15 digits: the USPS mod-10 rule.
  Ground "96", 22 digits: the same rule over the 14 digits of shipper and package id.
- **DHL Express** air waybill, 10 digits: the first 9 as a number, mod 7, is the check digit.

The number is personal data (it finds a person's parcel and address): `masked` is what may be
shown or logged, never the number itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ledgerlink.domain.errors import InvalidInput

__all__ = ["Carrier", "TrackingNumber", "masked", "parse_tracking_number", "shape_of"]


class Carrier(StrEnum):
    UPS = "ups"
    USPS = "usps"
    FEDEX = "fedex"
    DHL = "dhl"

    @property
    def label(self) -> str:
        return {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL Express"}[self.value]


@dataclass(frozen=True, slots=True)
class TrackingNumber:
    carrier: Carrier
    number: str  # upper case, no spaces: personal data, never logged

    @property
    def masked(self) -> str:
        return masked(self.number)


# What a tracking number may look like before its check digit is tried: spaces are allowed
# between groups, as the carriers print them ("9400 1112 0108 0805 4830 16").
_UPS = re.compile(r"1Z[0-9A-Z]{16}")
_DIGITS = re.compile(r"[0-9]{10}|[0-9]{12}|[0-9]{15}|[0-9]{20,22}")


def shape_of(text: str) -> str | None:
    """The text, upper case without spaces, when it has the shape of one of our carriers'
    numbers (check digit not yet tried); else None."""
    compact = re.sub(r"[\s-]", "", text).upper()
    if _UPS.fullmatch(compact) or _DIGITS.fullmatch(compact):
        return compact
    return None


def masked(number: str) -> str:
    """`1Z••••••••••••7127`: the first two and last four characters, the rest hidden."""
    if len(number) <= 6:
        return "•" * len(number)
    return number[:2] + "•" * (len(number) - 6) + number[-4:]


def _ups_value(char: str) -> int:
    return int(char) if char.isdigit() else (ord(char) - ord("A") + 2) % 10


def _mod10_from_right(digits: str) -> int:
    """Weights 3, 1, 3, .. from the rightmost digit; the digit that makes a multiple of 10."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def _ups_ok(number: str) -> bool:
    body = number[2:]
    total = sum(_ups_value(c) * (2 if i % 2 else 1) for i, c in enumerate(body[:-1]))
    return (10 - total % 10) % 10 == _ups_value(body[-1])


def _usps_ok(number: str) -> bool:
    if _mod10_from_right(number[:-1]) == int(number[-1]):
        return True
    # IMpb printed without its application identifier: the check digit covers "91" too.
    return len(number) == 20 and _mod10_from_right("91" + number[:-1]) == int(number[-1])


def _fedex_express_ok(number: str) -> bool:
    weights = (3, 1, 7)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(number[:11]))
    return total % 11 % 10 == int(number[11])


def _dhl_ok(number: str) -> bool:
    return int(number[:9]) % 7 == int(number[9])


def _check(number: str) -> tuple[Carrier, bool]:
    """The carrier whose shape the number has, and whether its check digit holds."""
    if number.startswith("1Z"):
        return Carrier.UPS, _ups_ok(number)
    n = len(number)
    if n == 10:
        return Carrier.DHL, _dhl_ok(number)
    if n == 12:
        return Carrier.FEDEX, _fedex_express_ok(number)
    if n == 15:
        return Carrier.FEDEX, _mod10_from_right(number[:-1]) == int(number[-1])
    if n == 22 and number.startswith("96"):  # the check digit covers shipper and package only
        return Carrier.FEDEX, _mod10_from_right(number[7:21]) == int(number[-1])
    return Carrier.USPS, _usps_ok(number)


def parse_tracking_number(text: str) -> TrackingNumber:
    """The carrier and number, or InvalidInput saying why not: `not_a_tracking_number` (no
    carrier's shape) or `bad_check_digit` (the shape of one, but its check digit is wrong, so a
    typo: one digit off or two swapped). Neither error repeats the number."""
    number = shape_of(text)
    if number is None:
        raise InvalidInput(
            "That doesn't look like a tracking number: UPS numbers start with 1Z and have 18 "
            "characters; USPS have 20 to 22 digits, FedEx 12, 15 or 22, DHL Express 10",
            code="not_a_tracking_number",
        )
    carrier, ok = _check(number)
    if ok:
        return TrackingNumber(carrier, number)
    raise InvalidInput(
        f"That doesn't look like a tracking number: the check digit is wrong (a {carrier.label} "
        "number's last digit must agree with the others; please check it for a typo)",
        code="bad_check_digit",
    )
