"""Countries: ISO 3166-1 alpha-2 codes (pycountry) and where a currency is legal tender (CLDR,
through Babel). Reference data only; nothing about a person.

Used to check the `merchant_country` banks send, to name a country in a card, and to tell an
international purchase from a domestic one (ADR 0014).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import pycountry
from babel.numbers import get_territory_currencies

__all__ = ["country_name", "currency_countries", "find_country", "is_country"]


def is_country(code: str) -> bool:
    """An assigned ISO 3166-1 alpha-2 code, in capitals ("FR"; not "fr", "EU" or "ZZ")."""
    return (
        len(code) == 2
        and code.isascii()
        and code.isupper()
        and (pycountry.countries.get(alpha_2=code) is not None)
    )


def country_name(code: str) -> str:
    """The short English name ("France", "United Kingdom"); the code itself if unknown."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def find_country(text: str) -> str | None:
    """A code from what a person typed: "de", "DEU", "Germany". None when nothing matches."""
    cleaned = " ".join(text.split())
    if not cleaned or len(cleaned) > 80:
        return None
    try:
        return str(pycountry.countries.lookup(cleaned).alpha_2)
    except LookupError:
        return None


def currency_countries(currency: str, on: date) -> frozenset[str]:
    """The countries where `currency` is legal tender on the day `on` (USD: the United States,
    Ecuador, Panama...; EUR: the euro area and the countries that use the euro)."""
    return _tender(currency, on.replace(day=1))  # areas change rarely: one lookup per month


@lru_cache(maxsize=512)
def _tender(currency: str, month: date) -> frozenset[str]:
    return frozenset(
        str(c.alpha_2)
        for c in pycountry.countries
        if currency in get_territory_currencies(str(c.alpha_2), start_date=month, tender=True)
    )
