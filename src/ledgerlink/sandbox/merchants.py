"""Merchants the simulated customers buy from, with their real merchant category codes, the
country they sell from and whether they sell online (card not present)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Merchant:
    name: str
    descriptor: str  # card-statement prefix, e.g. "STARBUCKS #{store}"
    mcc: str
    low: Decimal
    high: Decimal
    tips: bool = False  # restaurants and rides: the posted amount may include a tip
    preauth: bool = False  # fuel: authorised for a fixed amount, then adjusted
    weight: int = 3
    country: str | None = None  # ISO 3166-1 alpha-2; None: a chain in the customer's own country
    online: bool = False  # sold online: the card is not present


def _m(name: str, descriptor: str, mcc: str, low: str, high: str, **kw: bool | int | str) -> Merchant:
    return Merchant(name, descriptor, mcc, Decimal(low), Decimal(high), **kw)  # type: ignore[arg-type]


MERCHANTS: tuple[Merchant, ...] = (
    _m("Starbucks", "STARBUCKS #{store}", "5814", "3.45", "9.80", weight=8),
    _m("Dunkin'", "DUNKIN #{store}", "5814", "2.99", "8.50", weight=4),
    _m("Blue Bottle Coffee", "BLUE BOTTLE COFFEE", "5814", "4.50", "11.00", weight=2),
    _m("McDonald's", "MCDONALD'S F{store}", "5814", "5.29", "14.90", weight=4),
    _m("Chipotle", "CHIPOTLE {store}", "5814", "9.85", "24.60", weight=3),
    _m("Shake Shack", "SHAKE SHACK {store}", "5814", "11.20", "32.00", weight=2),
    _m("Olive Garden", "OLIVE GARDEN {store}", "5812", "28.00", "96.00", tips=True, weight=2),
    _m("The Cheesecake Factory", "CHEESECAKE FACTORY {store}", "5812", "34.00", "140.00",
       tips=True, weight=2),
    _m("Nobu", "NOBU RESTAURANT", "5812", "95.00", "420.00", tips=True, weight=1),
    _m("Trattoria da Luca", "TRATTORIA DA LUCA", "5812", "24.00", "88.00", tips=True, weight=2),
    _m("Whole Foods Market", "WHOLEFDS {store}", "5411", "18.40", "186.00", weight=5),
    _m("Trader Joe's", "TRADER JOE S #{store}", "5411", "14.20", "120.00", weight=4),
    _m("Safeway", "SAFEWAY #{store}", "5411", "9.60", "140.00", weight=3),
    _m("Lidl", "LIDL {store}", "5411", "7.80", "95.00", weight=3),
    _m("Costco", "COSTCO WHSE #{store}", "5300", "45.00", "380.00", weight=2),
    _m("Target", "TARGET T-{store}", "5310", "12.00", "160.00", weight=3),
    _m("Shell", "SHELL OIL {store}", "5541", "28.00", "92.00", preauth=True, weight=3),
    _m("Chevron", "CHEVRON {store}", "5541", "25.00", "88.00", preauth=True, weight=2),
    _m("Amazon", "AMZN MKTP*{code}", "5942", "8.99", "149.00", weight=6, online=True),
    _m("Apple", "APPLE.COM/BILL", "5818", "0.99", "14.99", weight=2, online=True),
    _m("Netflix", "NETFLIX.COM", "4899", "15.49", "15.49", weight=1, online=True),
    _m("Spotify", "SPOTIFY P{code}", "5815", "11.99", "11.99", weight=1, online=True),
    _m("Uber", "UBER *TRIP {code}", "4121", "8.90", "46.00", tips=True, weight=4),
    _m("Lyft", "LYFT *RIDE {code}", "4121", "7.50", "39.00", tips=True, weight=2),
    _m("CVS Pharmacy", "CVS/PHARMACY #{store}", "5912", "4.99", "68.00", weight=2),
    _m("Walgreens", "WALGREENS #{store}", "5912", "3.99", "54.00", weight=2),
    _m("The Home Depot", "THE HOME DEPOT #{store}", "5200", "12.00", "310.00", weight=1),
    _m("IKEA", "IKEA {store}", "5712", "19.00", "450.00", weight=1),
    _m("Best Buy", "BEST BUY {store}", "5732", "19.99", "899.00", weight=1),
    _m("Sephora", "SEPHORA {store}", "5977", "18.00", "120.00", weight=1),
    _m("Zara", "ZARA {store}", "5651", "25.90", "149.00", weight=1),
    _m("AMC Theatres", "AMC {store} ONLINE", "7832", "12.50", "46.00", weight=1, online=True),
    _m("Delta Air Lines", "DELTA AIR {code}", "3058", "129.00", "780.00", weight=1),
    _m("Marriott", "MARRIOTT {store}", "3509", "149.00", "620.00", weight=1),
)

# Merchants abroad (the descriptor names their city): the simulator's odd trip or foreign order.
ABROAD: tuple[Merchant, ...] = (
    _m("Galeries Lafayette", "GALERIES LAFAYETTE PARIS", "5311", "35.00", "420.00", country="FR"),
    _m("Harrods", "HARRODS LONDON", "5311", "25.00", "380.00", country="GB"),
    _m("Trenitalia", "TRENITALIA {code} ROMA", "4112", "19.90", "89.00", country="IT", online=True),
    _m("Booking.com", "BOOKING.COM {code}", "4722", "89.00", "640.00", country="NL", online=True),
    _m("Uniqlo Ginza", "UNIQLO GINZA TOKYO", "5651", "19.00", "160.00", country="JP"),
    _m("Tim Hortons", "TIM HORTONS #{store} TORONTO", "5814", "3.20", "14.50", country="CA"),
)

# The sandbox shop's ways to be paid (issue 11, sandbox/merchant/): the processor prints its own
# name before the shop's. Only the shop's checkout buys here, never the simulator.
SHOPS: tuple[Merchant, ...] = (
    _m("Acme Outfitters", "ACME OUTFITTERS #{store}", "5699", "1.00", "500.00", online=True),
    _m("PayPal", "PAYPAL *ACME", "5699", "1.00", "500.00", online=True),
    _m("Square", "SQ *ACME", "5699", "1.00", "500.00", online=True),
    # The marketplace Harbor Market (sandbox/merchant/market.py): its name and order code.
    _m("Harbor Market", "HARBOR MKT*{code}", "5399", "1.00", "500.00", online=True),
    # The restaurant Harbor Bistro (sandbox/merchant/restaurant.py): an eating place, tips post.
    _m("Harbor Bistro", "HARBOR BISTRO #{store}", "5812", "1.00", "500.00", online=True),
)

# The customer's own country, by account currency (the sandbox's US and German customers).
HOME_COUNTRY = {"USD": "US", "EUR": "DE"}

CITIES = {
    "USD": ("SEATTLE WA", "NEW YORK NY", "AUSTIN TX", "CHICAGO IL", "SAN FRANCISCO CA",
            "BOSTON MA"),
    "EUR": ("BERLIN", "PARIS", "AMSTERDAM", "MADRID", "MILANO", "MUENCHEN"),
}

EMPLOYERS = ("ACME CORP", "GLOBEX INC", "INITECH LLC", "UMBRELLA GMBH", "STARK INDUSTRIES")


def country_of(merchant: Merchant, currency: str) -> str | None:
    """Where the merchant sells from: its own country, else the customer's."""
    return merchant.country or HOME_COUNTRY.get(currency)


def by_name(name: str) -> Merchant | None:
    wanted = name.strip().lower()
    for merchant in (*MERCHANTS, *ABROAD, *SHOPS):  # SHOPS: issue 11
        if merchant.name.lower() == wanted:
            return merchant
    return None
