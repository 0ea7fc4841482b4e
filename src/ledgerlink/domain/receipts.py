"""Receipts and shipping from merchants (issue 11): what an order holds, how its descriptor is
cleaned, and the rule that matches a receipt to the bank's card charge (docs/receipts.md).

A receipt never creates money: it only annotates the bank's transaction it matched."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledgerlink.domain.errors import InvalidInput

# Processors and marketplaces print their own name before the shop's (Visa/Mastercard
# descriptor conventions): the shop is what follows the asterisk.
_PREFIXES = ("PAYPAL", "PP", "SQ", "SQUARE", "TST", "SP", "AMZN MKTP US", "AMZN MKTP", "AMZN")
_MARKETPLACES = {"AMZN MKTP US": "Amazon", "AMZN MKTP": "Amazon", "AMZN": "Amazon"}
_CITY = re.compile(r"\s+(?:[A-Z][A-Z .]+\s(?:[A-Z]{2})|BERLIN|PARIS|AMSTERDAM|MADRID|MILANO|MUENCHEN)$")
_STORE = re.compile(r"\s*(?:#\s?\d+|\b[TF]-?\d{2,}|\b\d{3,})\b")
_WORD = re.compile(r"[a-z0-9]+")

SHIPMENT_STATUSES = ("label_created", "picked_up", "in_transit", "delayed", "out_for_delivery",
                     "delivered", "failed_attempt", "exception")
WINDOW_BEFORE = timedelta(days=1)  # a card charge may be authorised at checkout, before shipping
WINDOW_AFTER = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class LineItem:
    name: str
    quantity: int
    unit_price: Decimal  # in the order's currency


@dataclass(slots=True)
class Receipt:
    """One order as the merchant reported it, opened (its stored form is sealed)."""

    order_ref: str
    shop: str
    currency: str
    items: list[LineItem]
    subtotal: Decimal
    tax: Decimal
    shipping: Decimal
    total: Decimal
    card_last4: str | None
    placed_at: datetime
    shipped_at: datetime | None = None
    order_url: str | None = None
    carrier: str | None = None
    tracking: str | None = None
    timeline: list[dict[str, str]] = field(default_factory=list)  # [{status, at}]
    refunded: Decimal = Decimal(0)
    eta: date | None = None  # the carrier's estimated delivery day

    def check(self) -> None:
        """Refuse an order whose numbers do not add up: what, where and why."""
        if not self.items:
            raise InvalidInput("an order has at least one line item", code="receipt_no_items")
        items = sum((i.unit_price * i.quantity for i in self.items), Decimal(0))
        if items != self.subtotal:
            raise InvalidInput(f"order {self.order_ref}: the line items add up to {items}, "
                               f"not the subtotal {self.subtotal}", code="receipt_does_not_add_up")
        if self.subtotal + self.tax + self.shipping != self.total:
            raise InvalidInput(f"order {self.order_ref}: subtotal + tax + shipping is not the "
                               f"total {self.total}", code="receipt_does_not_add_up")

    def refund(self, amount: Decimal) -> None:
        if amount <= 0 or self.refunded + amount > self.total:
            raise InvalidInput(f"order {self.order_ref}: a refund of {amount} is more than the "
                               f"{self.total - self.refunded} still paid", code="refund_too_large")
        self.refunded += amount


def clean_descriptor(descriptor: str) -> tuple[str, str | None]:
    """The shop's name in a card descriptor, and the processor or marketplace in front of it
    ("PAYPAL *ACME SEATTLE WA" -> ("acme", "PAYPAL")). Store numbers and a city go."""
    text = " ".join(descriptor.upper().split())
    via: str | None = None
    head, star, tail = text.partition("*")
    if star and head.strip() in _PREFIXES:
        via = head.strip()
        text = tail.strip()
        if via in _MARKETPLACES:
            return _MARKETPLACES[via].lower(), via
    text = _CITY.sub("", text)
    text = _STORE.sub(" ", text)
    return " ".join(_WORD.findall(text.lower())), via


def _tokens(name: str) -> set[str]:
    return {w for w in _WORD.findall(name.lower()) if w not in {"the", "inc", "llc", "co", "shop"}}


def same_merchant(descriptor: str, merchant: str | None, shop: str) -> bool:
    """The descriptor (or the bank's merchant name) names the shop: a shared word or prefix."""
    cleaned, _ = clean_descriptor(descriptor)
    wanted = _tokens(shop)
    for candidate in (cleaned, (merchant or "").lower()):
        words = _tokens(candidate)
        if words & wanted or any(w.startswith(s) or s.startswith(w) for w in words for s in wanted
                                 if min(len(w), len(s)) >= 4):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Charge:
    """What matching needs of one card transaction (amounts are spent: positive)."""

    transaction_id: str
    amount: Decimal
    currency: str
    day: date
    descriptor: str
    merchant: str | None
    card_last4: str
    mcc: str | None = None  # a restaurant's (5812-5814) charge may carry a tip


def receipt_section(receipt: Receipt, *, why: str, charged: Decimal) -> dict[str, Any]:
    """The receipt part of a transaction card (`domain/cards.py` bodies are plain JSON)."""
    refund_text = None
    if receipt.refunded:
        refund_text = f"refunded {receipt.refunded:.2f} of {charged:.2f} {receipt.currency}"
    return {
        "shop": receipt.shop,
        "order_ref": receipt.order_ref,
        "order_url": receipt.order_url,
        "currency": receipt.currency,
        "items": [{"name": i.name, "quantity": i.quantity, "price": str(i.unit_price),
                   "total": str(i.unit_price * i.quantity)} for i in receipt.items],
        "subtotal": str(receipt.subtotal),
        "tax": str(receipt.tax),
        "shipping": str(receipt.shipping),
        "total": str(receipt.total),
        "carrier": receipt.carrier,
        "tracking": receipt.tracking,
        "timeline": list(receipt.timeline),
        "shipment_status": receipt.timeline[-1]["status"] if receipt.timeline else None,
        "eta": None if receipt.eta is None else receipt.eta.isoformat(),
        "refunded": str(receipt.refunded) if receipt.refunded else None,
        "refund_text": refund_text,
        "why": why,
    }


def receipt_to_json(r: Receipt) -> dict[str, Any]:
    return {"order_ref": r.order_ref, "shop": r.shop, "currency": r.currency,
            "items": [[i.name, i.quantity, str(i.unit_price)] for i in r.items],
            "subtotal": str(r.subtotal), "tax": str(r.tax), "shipping": str(r.shipping),
            "total": str(r.total), "card_last4": r.card_last4, "placed_at": r.placed_at.isoformat(),
            "shipped_at": None if r.shipped_at is None else r.shipped_at.isoformat(),
            "order_url": r.order_url, "carrier": r.carrier, "tracking": r.tracking,
            "timeline": r.timeline, "refunded": str(r.refunded),
            "eta": None if r.eta is None else r.eta.isoformat()}


def receipt_from_json(d: dict[str, Any]) -> Receipt:
    return Receipt(
        order_ref=d["order_ref"], shop=d["shop"], currency=d["currency"],
        items=[LineItem(n, int(q), Decimal(p)) for n, q, p in d["items"]],
        subtotal=Decimal(d["subtotal"]), tax=Decimal(d["tax"]), shipping=Decimal(d["shipping"]),
        total=Decimal(d["total"]), card_last4=d["card_last4"],
        placed_at=datetime.fromisoformat(d["placed_at"]),
        shipped_at=None if d["shipped_at"] is None else datetime.fromisoformat(d["shipped_at"]),
        order_url=d["order_url"], carrier=d["carrier"], tracking=d["tracking"],
        timeline=list(d["timeline"]), refunded=Decimal(d["refunded"]),
        eta=None if d.get("eta") is None else date.fromisoformat(d["eta"]))


# --------------------------------------------------------------------------- bank refunds

REFUND_WINDOW = timedelta(days=180)  # card networks allow returns/chargebacks for ~120-180 days
_REFUND_WORDS = re.compile(r"^(?:REFUND|RETURN|CREDIT|RFND|REVERSAL)\b[\s:*-]*")


@dataclass(frozen=True, slots=True)
class Purchase:
    """A purchase a refund may give back (amounts spent: positive; `refunded`: already given back)."""

    transaction_id: str
    amount: Decimal
    currency: str
    day: date
    descriptor: str
    merchant: str | None
    refunded: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class RefundLink:
    original_transaction_id: str
    rule: str  # "reference": the bank named the purchase; "merchant": the rule below


def refund_descriptor(descriptor: str) -> str:
    """The purchase's descriptor inside a refund's ("REFUND PAYPAL *ACME" -> "PAYPAL *ACME")."""
    return _REFUND_WORDS.sub("", " ".join(descriptor.upper().split()))


def find_refunded_purchase(*, amount: Decimal, currency: str, day: date, descriptor: str,
                           merchant: str | None, purchases: Sequence[Purchase],
                           reference: str | None = None) -> RefundLink | None:
    """Which purchase of the same account a bank refund gives back (docs/receipts.md).

    The bank's own reference to the original wins when it names one of the purchases. Else
    the purchase must be at the same merchant (the bank's merchant name, or the descriptor
    without the refund word, cleaned), in the same currency, on or before the refund's day and
    within REFUND_WINDOW of it, with at least the refund still unrefunded. Of several, one
    whose unrefunded amount equals the refund, then the latest."""
    if reference is not None:
        named = next((p for p in purchases if p.transaction_id == reference), None)
        if named is not None:
            return RefundLink(named.transaction_id, "reference")
    key, _ = clean_descriptor(refund_descriptor(descriptor))
    found: list[Purchase] = []
    for p in purchases:
        if p.currency != currency or not 0 <= (day - p.day).days <= REFUND_WINDOW.days:
            continue
        if p.amount - p.refunded < amount:
            continue
        same_name = merchant is not None and p.merchant is not None and (
            merchant.casefold() == p.merchant.casefold())
        if same_name or (key and clean_descriptor(p.descriptor)[0] == key):
            found.append(p)
    if not found:
        return None
    best = max(found, key=lambda p: (p.amount - p.refunded == amount, p.day))
    return RefundLink(best.transaction_id, "merchant")


def refund_line(refunded: Decimal, of: Decimal, currency: str) -> dict[str, str]:
    """The purchase card's refund line from the bank's refunds: "refunded 19.99 of 48.17 USD"."""
    return {"refunded": str(refunded), "of": str(of), "currency": currency,
            "text": f"refunded {refunded:.2f} of {of:.2f} {currency}"}


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]


def receipt_text(card: dict[str, Any]) -> str:
    """The receipt and refund of a purchase card in words, for text channels (Matrix, email):
    sentences after the card's line, empty without either."""
    out = []
    bank = card.get("bank_refund")
    r = card.get("receipt")
    if isinstance(r, dict):
        cur = r.get("currency", "")
        items = ", ".join(f"{i.get('quantity')}× {i.get('name')} {i.get('total')}"
                          for i in r.get("items") or [])
        out.append(f"Receipt from {r.get('shop')}, order {r.get('order_ref')}: {items}; "
                   f"tax {r.get('tax')}, shipping {r.get('shipping')}, total {r.get('total')} {cur}.")
        status = r.get("shipment_status")
        if status:
            parcel = f"Parcel: {str(status).replace('_', ' ')}"
            if r.get("carrier"):
                parcel += f" ({r['carrier']}{' ' + r['tracking'] if r.get('tracking') else ''})"
            if r.get("eta") and status != "delivered":
                parcel += f", arrives {r['eta']}"
            out.append(parcel + ".")
        if not isinstance(bank, dict) and r.get("refund_text"):
            out.append(f"{_first_up(str(r['refund_text']))} (the shop's word).")
    if isinstance(bank, dict):
        out.append(f"{_first_up(str(bank.get('text', '')))}.")
    return " ".join(out)
