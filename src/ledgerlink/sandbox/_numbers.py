"""Realistic account numbers: IBANs with valid check digits, card numbers with a Luhn digit."""

from __future__ import annotations

import random


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def iban_de(rng: random.Random) -> str:
    bban = "10010010" + _digits(rng, 10)
    rearranged = bban + "1314" + "00"  # "DE" as digits (D=13, E=14) and placeholder check digits
    check = 98 - int(rearranged) % 97
    return f"DE{check:02d}{bban}"


def luhn_digit(body: str) -> str:
    """The Luhn check digit to append to `body` (ISO/IEC 7812)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return len(number) >= 2 and number.isdigit() and luhn_digit(number[:-1]) == number[-1]


def luhn_card(rng: random.Random) -> str:
    body = "4" + _digits(rng, 14)
    return body + luhn_digit(body)


def us_account(rng: random.Random) -> str:
    return str(rng.randrange(1, 10)) + _digits(rng, 11)
