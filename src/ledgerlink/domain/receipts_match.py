"""The rule that matches a receipt to the bank's card charges (docs/receipts.md, "The matching
rule"): one charge with the same amount, a restaurant charge with a tip, a charge in another
currency within the FX band, one order charged per parcel (several charges), several orders
paid by one charge. Pure and explainable; ambiguity is doubtful (asked), never guessed.

Subset sums are searched exhaustively but bounded: at most MAX_CANDIDATES charges (the nearest
in time to the ship date) and at most MAX_PARTS of them in one sum, so at most
C(12,2) + C(12,3) + C(12,4) = 781 sums per receipt, whatever the account holds. A shop ships
an order in two or three parcels; five or more charges for one order are asked about only if
the person links them by hand (not yet)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import combinations

from ledgerlink.domain.locale_text import money
from ledgerlink.domain.money import Money, exponent
from ledgerlink.domain.receipts import (
    WINDOW_AFTER,
    WINDOW_BEFORE,
    Charge,
    Receipt,
    clean_descriptor,
    same_merchant,
)

TIP_MCCS = frozenset({"5812", "5813", "5814"})  # eating places, bars, fast food (ISO 18245)
TIP_LIMIT = Decimal("0.30")  # a tip of up to 30 % of the receipt's total
FX_BAND = Decimal("0.03")  # a converted charge within ±3 % of the reference rate
MAX_CANDIDATES = 12
MAX_PARTS = 4

# Reference rates (units of the second currency for one of the first), what a receipt in one
# currency is expected to cost on a card in another; the FX band absorbs the bank's markup
# and the day's move. The sandbox bank converts at these plus its markup (sandbox/merchant).
REFERENCE_RATES: Mapping[tuple[str, str], Decimal] = {
    ("EUR", "USD"): Decimal("1.0800"), ("USD", "EUR"): Decimal("0.9259"),
    ("GBP", "USD"): Decimal("1.2700"), ("USD", "GBP"): Decimal("0.7874"),
    ("GBP", "EUR"): Decimal("1.1760"), ("EUR", "GBP"): Decimal("0.8503"),
    ("JPY", "USD"): Decimal("0.006700"), ("USD", "JPY"): Decimal("149.25"),
    ("CAD", "USD"): Decimal("0.7400"), ("USD", "CAD"): Decimal("1.3514"),
}


@dataclass(frozen=True, slots=True)
class Match:
    transaction_ids: tuple[str, ...]  # the charges that paid the receipt (a split: several)
    sure: bool  # False: ask the person before attaching (docs/receipts.md)
    why: str  # "matched: same amount, card ••2760, 1 day after shipping"
    order_refs: tuple[str, ...] = ()  # several orders in one charge: every order it paid

    @property
    def transaction_id(self) -> str:
        return self.transaction_ids[0]


@dataclass(frozen=True, slots=True)
class _Seen:
    charge: Charge
    offset: int  # days from the ship date (the order date until shipped)
    named: bool  # passes the merchant test


def _m(amount: Decimal, currency: str) -> str:
    return money(Money(amount.quantize(Decimal(1).scaleb(-exponent(currency)), rounding=ROUND_HALF_EVEN),
                       currency))


def _days(n: int) -> str:
    if n == 0:
        return "same day as"
    return f"{abs(n)} day{'' if abs(n) == 1 else 's'} {'after' if n > 0 else 'before'}"


def _when(receipt: Receipt, offset: int) -> str:
    return f"{_days(offset)} {'shipping' if receipt.shipped_at is not None else 'the order'}"


def _start(receipt: Receipt) -> date:
    return (receipt.shipped_at or receipt.placed_at).date()


def amount_fits(receipt: Receipt, c: Charge, *,
                rates: Mapping[tuple[str, str], Decimal] = REFERENCE_RATES) -> str | None:
    """Why the charge's amount pays the receipt ("same amount", "tip $4.00", "€45.00 at 1.0950
    USD/EUR, reference 1.0800"), or None."""
    if c.currency == receipt.currency:
        if c.amount == receipt.total:
            return "same amount"
        tip = c.amount - receipt.total
        if c.mcc in TIP_MCCS and 0 < tip <= receipt.total * TIP_LIMIT:
            return f"tip {_m(tip, c.currency)}"
        return None
    rate = rates.get((receipt.currency, c.currency))
    if rate is None or receipt.total <= 0:
        return None
    expected = receipt.total * rate
    if abs(c.amount - expected) > expected * FX_BAND:
        return None
    paid = (c.amount / receipt.total).quantize(Decimal("0.0001"))
    return (f"{_m(receipt.total, receipt.currency)} paid as {_m(c.amount, c.currency)} at {paid} "
            f"{c.currency}/{receipt.currency} (reference {rate}, within ±{FX_BAND * 100:.0f}%)")


def _eligible(receipt: Receipt, charges: Sequence[Charge], aliases: frozenset[str],
              refused: frozenset[str], others: frozenset[str] = frozenset()) -> list[_Seen]:
    start = _start(receipt)
    out = []
    for c in charges:
        if c.transaction_id in refused:
            continue
        if receipt.card_last4 is not None and c.card_last4 != receipt.card_last4:
            continue
        offset = (c.day - start).days
        if not -WINDOW_BEFORE.days <= offset <= WINDOW_AFTER.days:
            continue
        named = clean_descriptor(c.descriptor)[0] in aliases or same_merchant(c.descriptor, c.merchant,
                                                                               receipt.shop)
        if not named and any(same_merchant(c.descriptor, c.merchant, other) for other in others):
            continue  # another linked shop's own charge: never this order's, not even to ask
        out.append(_Seen(c, offset, named))
    return out


def match_receipt(receipt: Receipt, charges: Sequence[Charge], *, aliases: frozenset[str] = frozenset(),
                  refused: frozenset[str] = frozenset(), waiting: Sequence[Receipt] = (),
                  others: frozenset[str] = frozenset(),
                  rates: Mapping[tuple[str, str], Decimal] = REFERENCE_RATES) -> Match | None:
    """The rule of docs/receipts.md. Hard keys (card last 4) and the time window from the ship
    date filter the charges; then, in this order:
    1. one charge whose amount fits (`amount_fits`): sure when exactly one of those passes the
       merchant test, else doubtful (the nearest in time is asked about);
    2. several charges of the order's currency that add up to the total exactly (a split
       shipment): sure when one such set exists and every charge in it passes the merchant test;
    3. one charge that pays this order and other waiting orders of the same shop and card
       (`waiting`) exactly: sure when one such set exists and the charge names the shop.
    `aliases`: cleaned descriptors the person confirmed as this shop; `refused`: transaction
    ids the person said are not this order (never candidates again); `others`: the names of
    the person's other linked shops, whose own charges (the descriptor names that shop and not
    this one) are no candidates: the receipt waits for its own charge instead of asking about
    theirs (a shop's receipt can arrive before its charge, beside another shop's charge of the
    same amount)."""
    seen = _eligible(receipt, charges, aliases, refused, others)
    single = [(s, why) for s in seen if (why := amount_fits(receipt, s.charge, rates=rates)) is not None]
    if single:
        named = [p for p in single if p[0].named]
        s, why = min(named or single, key=lambda p: abs(p[0].offset))
        # Sure when exactly one fitting charge names the shop, even beside charges of the same
        # amount from other shops (two $27.67 orders at two shops, one card, one day).
        sure = len(named) == 1
        return Match((s.charge.transaction_id,), sure, _why(receipt, s, why))
    split = _split(receipt, seen)
    if split is not None:
        return split
    return _combined(receipt, seen, waiting)


def _why(receipt: Receipt, s: _Seen, why: str) -> str:
    return f"matched: {why}, card ••{s.charge.card_last4}, {_when(receipt, s.offset)}"


def _split(receipt: Receipt, seen: Sequence[_Seen]) -> Match | None:
    pool = sorted((s for s in seen if s.charge.currency == receipt.currency and 0 < s.charge.amount
                   < receipt.total), key=lambda s: (abs(s.offset), s.charge.day))[:MAX_CANDIDATES]
    found: list[tuple[_Seen, ...]] = [
        tuple(parts) for n in range(2, MAX_PARTS + 1) for parts in combinations(pool, n)
        if sum((p.charge.amount for p in parts), Decimal(0)) == receipt.total]
    if not found:
        return None
    sure = len(found) == 1 and all(p.named for p in found[0])
    def rank(ps: tuple[_Seen, ...]) -> tuple[bool, int, int]:
        return not all(p.named for p in ps), len(ps), sum(abs(p.offset) for p in ps)

    best: tuple[_Seen, ...] = min(found, key=rank)
    parts = sorted(best, key=lambda p: (p.charge.day, -p.charge.amount, p.charge.transaction_id))
    cur = receipt.currency
    terms = " + ".join(_m(p.charge.amount, cur) for p in parts)
    first = min(parts, key=lambda p: p.offset)
    why = (f"matched: {len(parts)} charges, {terms} = {_m(receipt.total, cur)}, "
           f"card ••{first.charge.card_last4}, the first {_when(receipt, first.offset)}")
    return Match(tuple(p.charge.transaction_id for p in parts), sure, why)


def _combined(receipt: Receipt, seen: Sequence[_Seen], waiting: Sequence[Receipt]) -> Match | None:
    others = [r for r in waiting if r.order_ref != receipt.order_ref and r.shop == receipt.shop
              and r.currency == receipt.currency and r.card_last4 == receipt.card_last4]
    others = sorted(others, key=lambda r: abs((_start(r) - _start(receipt)).days))
    others = others[:MAX_CANDIDATES]
    found: list[tuple[_Seen, tuple[Receipt, ...]]] = []
    for s in seen:
        if s.charge.currency != receipt.currency or s.charge.amount <= receipt.total:
            continue
        rest = s.charge.amount - receipt.total
        for n in range(1, MAX_PARTS):
            for group in combinations(others, n):
                if sum((r.total for r in group), Decimal(0)) != rest:
                    continue
                if all(-WINDOW_BEFORE.days <= (s.charge.day - _start(r)).days <= WINDOW_AFTER.days
                       for r in group):
                    found.append((s, group))
    if not found:
        return None
    s, group = min(found, key=lambda f: (not f[0].named, len(f[1]), abs(f[0].offset)))
    sure = len(found) == 1 and s.named
    orders = sorted([receipt, *group], key=lambda r: r.order_ref)
    cur = receipt.currency
    terms = " + ".join(f"{_m(r.total, cur)} ({r.order_ref})" for r in orders)
    why = (f"matched: {len(orders)} orders in one charge, {terms} = {_m(s.charge.amount, cur)}, "
           f"card ••{s.charge.card_last4}, {_when(receipt, s.offset)}")
    return Match((s.charge.transaction_id,), sure, why, tuple(r.order_ref for r in orders))
