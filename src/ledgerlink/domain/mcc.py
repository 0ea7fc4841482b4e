"""Merchant category codes (ISO 18245): code -> description -> our spending category (pure).

The table is data, `domain/data/mcc.csv` (932 codes; its header names the sources: the ISO
18245:2003 list with the published Mastercard, Visa, Amex, USDA and Stripe lists, as compiled by
python-iso18245 1.4.1, MIT). The category column is ours. 3000-3999 are the card networks' private
codes, one per airline, car rental company or hotel chain: a code there that the table does not
list still resolves by its range (airlines 3000-3350, car rental 3351-3500, lodging 3501-3999).
Any other unlisted code resolves to its ISO range ("Retail outlets") with that range's category.
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import re
from dataclasses import dataclass
from importlib.resources import files

from ledgerlink.domain.errors import InvalidInput


class Category(enum.StrEnum):
    """Spending categories; the value is the name people see (and type: "budget 300 for bars")."""

    GROCERIES = "Groceries"
    RESTAURANTS = "Restaurants"
    FAST_FOOD = "Fast food"
    COFFEE = "Coffee"  # no MCC of its own (coffee shops are 5814 or 5812): merchant rules only
    BARS = "Bars"
    ALCOHOL_TOBACCO = "Alcohol & tobacco"
    FUEL = "Fuel"
    CAR = "Car"
    TAXI = "Taxi & rideshare"
    TRANSIT = "Transit"
    TRAVEL = "Travel"
    SUBSCRIPTIONS = "Subscriptions"
    DIGITAL = "Digital goods"
    PHONE_INTERNET = "Phone & internet"
    UTILITIES = "Utilities"
    HOUSING = "Housing"
    SHOPPING = "Shopping"
    CLOTHING = "Clothing"
    ELECTRONICS = "Electronics"
    HOME = "Home & garden"
    BOOKS = "Books"
    PHARMACY = "Pharmacy"
    HEALTH = "Health"
    BEAUTY = "Beauty"
    SPORTS = "Sports & fitness"
    ENTERTAINMENT = "Entertainment"
    GAMBLING = "Gambling"
    EDUCATION = "Education"
    PETS = "Pets"
    INSURANCE = "Insurance"
    SERVICES = "Services"
    CHARITY = "Charity"
    GOVERNMENT = "Government & taxes"
    CASH = "Cash"
    TRANSFERS = "Transfers"
    INVESTMENTS = "Investments"
    FEES = "Fees"
    INCOME = "Income"
    OTHER = "Other"


@dataclass(frozen=True, slots=True)
class Mcc:
    code: str  # four digits, e.g. "5411"
    description: str  # "Grocery stores and supermarkets", "United Airlines"
    category: Category
    group: str  # the range it belongs to: "Retail outlets", "Airlines", "Lodging"
    listed: bool  # False: not in the table, resolved by its range


# Private ranges (the networks' brand codes), then the ISO 18245 ranges, each with a category for
# codes the table does not list. Checked in this order; the first containing range wins.
_RANGES: tuple[tuple[int, int, str, Category], ...] = (
    (3000, 3350, "Airlines", Category.TRAVEL),
    (3351, 3500, "Car rental", Category.TRAVEL),
    (3501, 3999, "Lodging", Category.TRAVEL),
    (0, 699, "Reserved", Category.OTHER),
    (700, 999, "Agricultural services", Category.SERVICES),
    (1000, 1499, "Reserved", Category.OTHER),
    (1500, 2999, "Contracted services", Category.HOME),
    (4000, 4799, "Transportation", Category.TRANSIT),
    (4800, 4999, "Utilities", Category.UTILITIES),
    (5000, 5599, "Retail outlets", Category.SHOPPING),
    (5600, 5699, "Clothing outlets", Category.CLOTHING),
    (5700, 5999, "Miscellaneous outlets", Category.SHOPPING),
    (6000, 7299, "Service providers", Category.SERVICES),
    (7300, 7529, "Business services", Category.SERVICES),
    (7530, 7799, "Repair services", Category.SERVICES),
    (7800, 7999, "Amusement and entertainment", Category.ENTERTAINMENT),
    (8000, 8999, "Professional services and membership organizations", Category.SERVICES),
    (9000, 9199, "Reserved for ISO use", Category.OTHER),
    (9200, 9402, "Government services", Category.GOVERNMENT),
    (9403, 9999, "Other", Category.OTHER),
)

_CODE = re.compile(r"[0-9]{4}")


def _range(number: int) -> tuple[str, Category]:
    for low, high, group, cat in _RANGES:
        if low <= number <= high:
            return group, cat
    raise AssertionError(f"MCC {number} is in no range")  # the ranges cover 0000-9999


@functools.cache
def table() -> dict[str, Mcc]:
    """Every listed code, read once from the packaged CSV."""
    text = (files("ledgerlink.domain") / "data" / "mcc.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO("".join(ln for ln in text.splitlines(True) if not ln.startswith("#"))))
    out: dict[str, Mcc] = {}
    for row in rows:
        code = row["mcc"]
        if not _CODE.fullmatch(code) or code in out:
            raise ValueError(f"mcc.csv: bad or repeated code {code!r}")  # a packaging error, not input
        group, _ = _range(int(code))
        out[code] = Mcc(code, row["description"], Category(row["category"]), group, listed=True)
    return out


def lookup(code: str | None) -> Mcc | None:
    """The MCC a bank reported, or None when it reported none. Not four digits: InvalidInput."""
    if code is None or not code.strip():
        return None
    code = code.strip()
    if not _CODE.fullmatch(code):
        raise InvalidInput(f"merchant category code {code!r} must be four digits (ISO 18245)",
                           code="bad_mcc")
    known = table().get(code)
    if known is not None:
        return known
    group, cat = _range(int(code))
    return Mcc(code, group, cat, group, listed=False)


def mcc_category(code: str | None) -> Category | None:
    found = lookup(code)
    return None if found is None else found.category
