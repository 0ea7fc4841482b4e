"""A synthetic year (Oct 2023 - 1 Dec 2024) of one person's activity, for the insight rules.

Every row goes through `categories.categorise` from a realistic descriptor and MCC, as the bank
would report it. Amounts of everyday spending are random (seeded); the recurring payments have
the jitter real ones have (weekends, short months). What is planted, and where:

* checking: salary on the 28th (the Friday before, on a weekend), rent on the 1st, PG&E around
  the 5th (85-115), Comcast 79.99 on the 8th, Planet Fitness 24.99 on the 3rd, Netflix around
  the 12th (15.49, then 17.99 from August 2024), Geico 142.50 on the 14th, Spotify 11.99 around
  the 20th, Amazon Prime 139.00 yearly (Oct 2023, Oct 2024), a Disney+ trial (0.00 on 25 Oct
  2024, 13.99 on 25 Nov); weekly Safeway groceries, Starbucks, Chipotle and Shake Shack, CVS;
  Olive Garden with ordinary tips and one of 40 % (16 Nov 2024); Target charged twice three
  minutes apart (9 Nov 2024);
* card: Audible 14.95 monthly around the 2nd.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from ledgerlink.domain.activity import Activity
from ledgerlink.domain.categories import Correction, categorise
from ledgerlink.domain.money import Money
from ledgerlink.domain.recurring import add_months

START = date(2023, 10, 1)
TODAY = date(2024, 12, 1)
CHECKING = "acc-checking"
CARD = "acc-card"
USD = "USD"


def _money(text: str | Decimal) -> Money:
    return Money(Decimal(text), USD)


def activity(seq: int, *, day: date, amount: str | Decimal, descriptor: str, mcc: str | None,
             account: str = CHECKING, clock: time = time(12, 0), merchant: str | None = None,
             authorised: str | Decimal | None = None,
             corrections: dict[str, Correction] | None = None) -> Activity:
    money = _money(amount)
    cat = categorise(merchant=merchant, descriptor=descriptor, mcc=mcc, amount=money,
                     corrections=corrections)
    return Activity(
        id=f"t{seq:05d}", account_id=account, at=datetime.combine(day, clock, UTC), day=day,
        amount=money, merchant_key=cat.merchant_key, merchant=merchant or cat.merchant_key.title(),
        category=cat.category, mcc=mcc, authorised=None if authorised is None else _money(authorised),
    )


def months(first: date = START, last: date = TODAY) -> Iterator[date]:
    day = first.replace(day=1)
    while day <= last:
        yield day
        day = add_months(day, 1)


@dataclass
class Year:
    rng: random.Random
    rows: list[Activity] = field(default_factory=list)

    def add(self, day: date, amount: str | Decimal, descriptor: str, mcc: str | None,
            **kw: object) -> None:
        if START <= day <= TODAY:
            self.rows.append(activity(len(self.rows) + 1, day=day, amount=amount,
                                      descriptor=descriptor, mcc=mcc, **kw))  # type: ignore[arg-type]

    def cents(self, low: str, high: str) -> Decimal:
        lo, hi = int(Decimal(low) * 100), int(Decimal(high) * 100)
        return Decimal(self.rng.randint(lo, hi)) / 100

    def jitter(self, day: date, days: int) -> date:
        return day + timedelta(days=self.rng.randint(-days, days))


def _payday(month: date) -> date:
    day = month.replace(day=28)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def year(seed: int = 7) -> list[Activity]:
    y = Year(random.Random(seed))
    for m in months():
        y.add(_payday(m), "3200.00", "ACME CORP PAYROLL", None)
        y.add(m, "-1450.00", "RENT PAYMENT OAKWOOD APTS", None)
        y.add(y.jitter(m.replace(day=5), 2), -y.cents("85", "115"), "PGANDE WEB ONLINE", "4900")
        y.add(m.replace(day=8), "-79.99", "COMCAST CABLE COMM", "4899")
        y.add(m.replace(day=3), "-24.99", "PLANET FITNESS #0451", "7997")
        netflix = "-17.99" if m >= date(2024, 8, 1) else "-15.49"
        y.add(y.jitter(m.replace(day=12), 1), netflix, "NETFLIX.COM", "4899")
        y.add(m.replace(day=14), "-142.50", "GEICO *AUTO", "6300")
        y.add(y.jitter(m.replace(day=20), 2), "-11.99", f"SPOTIFY P{y.rng.randrange(10**5):05d}", "5815")
        y.add(y.jitter(m.replace(day=2), 1), "-14.95", "AUDIBLE*ADBL", "5815", account=CARD)
    y.add(date(2023, 10, 20), "-139.00", "AMAZON PRIME*2K4LM", "5968")
    y.add(date(2024, 10, 21), "-139.00", "AMAZON PRIME*8HQ2P", "5968")
    y.add(date(2024, 10, 25), "0.00", "DISNEYPLUS", "4899")
    y.add(date(2024, 11, 25), "-13.99", "DISNEYPLUS", "4899")
    _everyday(y)
    y.add(date(2024, 11, 9), "-45.67", "TARGET T-1234 SEATTLE WA", "5310", clock=time(14, 2))
    y.add(date(2024, 11, 9), "-45.67", "TARGET T-1234 SEATTLE WA", "5310", clock=time(14, 5))
    y.add(date(2024, 11, 16), "-84.00", "OLIVE GARDEN 1123 SEATTLE WA", "5812", authorised="-60.00")
    return y.rows


def _everyday(y: Year) -> None:
    day = START
    while day <= TODAY:
        if day.weekday() == 5:
            y.add(day, -y.cents("35", "180"), f"SAFEWAY #{y.rng.randrange(1000, 9999)} SEATTLE WA", "5411")
        if day.weekday() in (0, 2, 4):
            y.add(day, -y.cents("3.45", "9.80"), f"STARBUCKS #{y.rng.randrange(100, 9999)} SEATTLE WA",
                  "5814", clock=time(8, 15))
        if day.weekday() == 2:
            y.add(y.jitter(day, 1), -y.cents("9.85", "24.60"), f"CHIPOTLE {y.rng.randrange(1000, 3999)}",
                  "5814", clock=time(12, 40))
        if day.weekday() == 6 and y.rng.random() < 0.5:
            y.add(day, -y.cents("11.20", "32.00"), "SHAKE SHACK 0142 NEW YORK NY", "5814")
        if day.day in (6, 19) and y.rng.random() < 0.7:
            y.add(day, -y.cents("4.99", "68.00"), "CVS/PHARMACY #02231 SEATTLE WA", "5912")
        if day.day == 22 and day < date(2024, 11, 1):
            bill = y.cents("28", "96")
            tipped = (bill * Decimal("1.18")).quantize(Decimal("0.01"))
            y.add(day, -tipped, "OLIVE GARDEN 1123 SEATTLE WA", "5812", authorised=-bill)
        day += timedelta(days=1)
