"""The insight consumer reads one series, and of it only what a rule needs (issue 12, ADR 0033):
`series_findings` over the rows of a charge's series says exactly what `findings` over the
whole history says, and opens few rows while doing it.

Histories are generated (seeded): a few merchants, prices that hold, step up, start with a trial
or repeat the same day or within minutes, zero charges, refunds, categories that are everyday
spending or bills, and corrections' words given directly as categories."""

from __future__ import annotations

import asyncio
import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ledgerlink.domain.activity import Activity
from ledgerlink.domain.insight_rules import Unopened
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.recurring import add_months
from ledgerlink.services.alerts.insights import findings, series_findings

START = date(2025, 11, 1)
MERCHANTS = [("NETFLIX", Category.ENTERTAINMENT), ("CITY POWER", Category.UTILITIES),
             ("CORNER CAFE", Category.COFFEE), ("GYM", Category.OTHER)]
PRICES = ["0.00", "1.00", "9.99", "10.00", "10.05", "12.49", "15.49", "17.99", "19.99"]


def _history(rng: random.Random) -> list[Activity]:
    out: list[Activity] = []
    n = 0
    for key, category in rng.sample(MERCHANTS, rng.randint(1, len(MERCHANTS))):
        day, price = START + timedelta(days=rng.randint(0, 20)), rng.choice(PRICES)
        step_days = rng.choice([7, 14, 30, 91, 365, 3])
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.2:
                price = rng.choice(PRICES)
            midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            at = midnight + timedelta(minutes=rng.randint(0, 1400))
            currency = "USD" if rng.random() < 0.9 else "EUR"
            sign = "" if rng.random() < 0.1 else "-"  # a refund now and then: money in
            cat = category if rng.random() < 0.8 else rng.choice([Category.GROCERIES, Category.HOUSING])
            repeats = 1 + (rng.random() < 0.25)  # the same day again, or within minutes
            tip = Money(Decimal(f"-{rng.choice(PRICES)}"), currency) if rng.random() < 0.2 else None
            for r in range(repeats):
                n += 1
                out.append(Activity(
                    id=f"a{n:03d}", account_id="acc", at=at + timedelta(minutes=r * rng.choice([3, 9, 30])),
                    day=day, amount=Money(Decimal(f"{sign}{price}"), currency), merchant_key=key,
                    merchant=key.title(), category=cat,
                    mcc="5812" if rng.random() < 0.2 else None,
                    authorised=tip,
                ))
            day = add_months(day, step_days // 30) if step_days >= 30 else day + timedelta(days=step_days)
    return out


def _series(acts: list[Activity], this: Activity) -> list[Activity]:
    return [a for a in acts if (a.merchant_key, a.amount.currency, a.money_in)
            == (this.merchant_key, this.amount.currency, this.money_in)]


def _token(a: Activity) -> str:
    """What the amount tag stands for: equal exactly when the amounts are (as an HMAC of the
    minor units in the series is), with nothing of the amount a rule could read."""
    return hashlib.sha256(f"{a.amount.currency}:{abs(a.amount.minor)}".encode()).hexdigest()


def _narrowed(acts: list[Activity], this: Activity, *, tokens: float = 0.0,
              rng: random.Random | None = None) -> tuple[list[tuple[str, str]], int]:
    """`tokens`: the share of rows whose amount token is known (the rest were tagged before
    amount tags); `this` row's is known whenever any is."""
    by_id = {a.id: a for a in _series(acts, this)}
    opened: list[str] = []

    async def open_rows(ids: list[str]) -> list[Activity]:
        opened.extend(ids)
        return [by_id[i] for i in ids]

    pick = rng or random.Random(0)
    rows = [Unopened(a.id, a.day, a.at,
                     _token(a) if tokens and (a.id == this.id or pick.random() < tokens) else None)
            for a in by_id.values()]
    zero = _token(Activity(id="zero", account_id="acc", at=this.at, day=this.day,
                           amount=Money(Decimal(0), this.amount.currency), merchant_key=this.merchant_key,
                           merchant=this.merchant, category=this.category)) if tokens else None
    return asyncio.run(series_findings(rows, this, open_rows, zero=zero)), len(set(opened))


def test_one_series_opened_as_needed_finds_what_the_whole_history_finds() -> None:
    rng = random.Random(12)
    raised = compared = 0
    for _ in range(250):
        acts = _history(rng)
        for this in acts:
            if this.money_in:
                continue  # the consumer leaves money in before anything is read
            whole = findings(acts, this)
            narrowed, _ = _narrowed(acts, this)
            assert narrowed == whole, (this, acts)
            for share in (1.0, 0.5):  # every row's amount token known; half of them
                tokened, _ = _narrowed(acts, this, tokens=share, rng=rng)
                assert tokened == whole, (share, this, acts)
            compared += 1
            raised += bool(whole)
    assert compared > 1500 and raised > 150  # the cases do raise findings, of every kind


def test_every_kind_of_finding_is_among_the_cases() -> None:
    rng = random.Random(12)
    kinds = set()
    for _ in range(250):
        acts = _history(rng)
        kinds |= {kind for this in acts if not this.money_in for kind, _ in findings(acts, this)}
    assert kinds == {"price_increase", "trial_paid", "duplicate_charge", "unusual_tip"}


def _burst(count: int) -> list[Activity]:
    """The delivery bench's shape: one merchant and amount, charged again every few seconds."""
    at = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    return [Activity(id=f"b{i:04d}", account_id="acc", at=at + timedelta(seconds=3 * i), day=at.date(),
                     amount=Money(Decimal("-4.50"), "USD"), merchant_key="BENCH", merchant="Bench",
                     category=Category.OTHER) for i in range(count)]


def test_a_burst_of_the_same_charge_opens_one_row_per_charge_not_the_series() -> None:
    acts = _burst(300)
    this = acts[-1]
    narrowed, opened = _narrowed(acts, this)
    assert narrowed == findings(acts, this)
    assert [kind for kind, _ in narrowed] == ["duplicate_charge"]
    assert opened == 1  # the charge just before: a same-day repeat and the duplicate's pair


def _varied_burst(count: int) -> list[Activity]:
    """The delivery bench's shape since e4c89ee: one merchant, a different amount each time."""
    at = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    return [Activity(id=f"v{i:04d}", account_id="acc", at=at + timedelta(seconds=3 * i), day=at.date(),
                     amount=Money(Decimal(-(i + 1)) / 4, "USD"), merchant_key="BENCH", merchant="Bench",
                     category=Category.OTHER) for i in range(count)]


def test_amount_tokens_spare_opening_same_day_charges_of_other_amounts() -> None:
    acts = _varied_burst(200)
    this = acts[-1]
    narrowed, blind = _narrowed(acts, this)
    tokened, opened = _narrowed(acts, this, tokens=1.0)
    assert narrowed == tokened == findings(acts, this) == []
    assert blind == 199  # without tokens: every charge in the window, none of the same amount
    assert opened == 0  # with them: the same-day repeat and the window are told by tokens alone


def test_a_zero_check_earlier_that_day_is_told_by_its_token_and_is_no_repeat() -> None:
    """A card check of 0.00 before the month's charge: not a same-day repeat, so the price
    increase is still raised, and the zero row is known by its token, not opened for it."""
    acts: list[Activity] = []
    day = date(2026, 8, 3)
    for n, price in enumerate(["-15.49", "-15.49", "-15.49", "0.00", "-17.99"]):
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        at = midnight + timedelta(hours=10, minutes=5 * (n == 4))
        acts.append(Activity(id=f"s{n}", account_id="acc", at=at, day=day,
                             amount=Money(Decimal(price), "USD"), merchant_key="NETFLIX", merchant="Netflix",
                             category=Category.ENTERTAINMENT))
        if n < 3:
            day = add_months(day, 1)
    this = acts[-1]
    whole = findings(acts, this)
    assert [kind for kind, _ in whole] == ["price_increase"]
    tokened, _ = _narrowed(acts, this, tokens=1.0)
    assert tokened == whole
