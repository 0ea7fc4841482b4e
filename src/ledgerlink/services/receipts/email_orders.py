"""schema.org Order / ParcelDelivery objects (Gmail's email markup) checked into a `Receipt`:
what is missing or wrong is named (what, where, why)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.receipts import LineItem, Receipt
from ledgerlink.domain.text import display_line

_LAST4 = re.compile(r"(\d{4})\D*$")


def _bad(where: str, why: str) -> InvalidInput:
    return InvalidInput(f"Order.{where}: {why}", code="malformed_receipt_markup")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _name(value: Any, where: str) -> str:
    raw = value.get("name") if isinstance(value, dict) else value
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 200:
        raise _bad(where, "a name of 1 to 200 characters is required")
    return display_line(raw, where)


def _money(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(where, f"{str(value)[:20]!r} is not an amount") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise _bad(where, "an amount of zero or more with at most two decimals")
    return amount


def _kind(obj: dict[str, Any]) -> str:
    return str(obj.get("@type", "")).rsplit("/", 1)[-1]


def order_number(obj: dict[str, Any]) -> str:
    order = obj.get("partOfOrder") if _kind(obj) == "ParcelDelivery" else obj
    raw = order.get("orderNumber") if isinstance(order, dict) else None
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 200:
        raise _bad("orderNumber", "the order number is required")
    return raw.strip()


def receipt_from_order(obj: dict[str, Any], *, sent_at: datetime) -> Receipt:
    """An Order: line items from acceptedOffer, shipping from a DeliveryChargeSpecification,
    tax as what the total leaves over (Gmail's markup has no tax field)."""
    currency = obj.get("priceCurrency")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise _bad("priceCurrency", "an ISO 4217 code such as USD is required")
    items = []
    for n, offer in enumerate(_list(obj.get("acceptedOffer"))[:200]):
        if not isinstance(offer, dict):
            raise _bad(f"acceptedOffer[{n}]", "an Offer is required")
        qty_raw = offer.get("eligibleQuantity")
        qty_raw = qty_raw.get("value", 1) if isinstance(qty_raw, dict) else (qty_raw or 1)
        try:
            quantity = int(str(qty_raw))
        except ValueError:
            raise _bad(f"acceptedOffer[{n}].eligibleQuantity", "a whole number") from None
        if quantity < 1:
            raise _bad(f"acceptedOffer[{n}].eligibleQuantity", "1 or more")
        items.append(LineItem(_name(offer.get("itemOffered"), f"acceptedOffer[{n}].itemOffered"),
                              quantity, _money(offer.get("price"), f"acceptedOffer[{n}].price")))
    if not items:
        raise _bad("acceptedOffer", "at least one line item is required")
    total = _money(obj.get("price"), "price")
    charges = [p for p in _list(obj.get("priceSpecification"))
               if isinstance(p, dict) and _kind(p) == "DeliveryChargeSpecification"]
    shipping = sum((_money(p.get("price"), "priceSpecification.price") for p in charges), Decimal(0))
    subtotal = sum((i.unit_price * i.quantity for i in items), Decimal(0))
    tax = total - subtotal - shipping
    if tax < 0:
        raise InvalidInput(f"order {order_number(obj)}: the line items and shipping come to "
                           f"{subtotal + shipping}, more than the total {total}",
                           code="receipt_does_not_add_up")
    placed = sent_at
    if obj.get("orderDate"):
        try:
            placed = datetime.fromisoformat(str(obj["orderDate"]))
        except ValueError:
            raise _bad("orderDate", "an ISO 8601 instant is required") from None
        if placed.tzinfo is None:
            raise _bad("orderDate", "the instant needs its UTC offset")
    card = _LAST4.search(str(obj.get("paymentMethodId") or ""))
    url = obj.get("url")
    shop = _name(obj.get("merchant") or obj.get("seller"), "merchant")
    receipt = Receipt(order_ref=order_number(obj), shop=shop, currency=currency, items=items,
                      subtotal=subtotal, tax=tax, shipping=shipping,
                      total=total, card_last4=card.group(1) if card else None, placed_at=placed,
                      order_url=url if isinstance(url, str) and len(url) <= 500 else None)
    receipt.check()
    return receipt


def add_parcel(receipt: Receipt, obj: dict[str, Any]) -> None:
    """A ParcelDelivery's carrier and tracking number onto the order it is part of."""
    carrier = obj.get("carrier") or obj.get("provider")
    receipt.carrier = _name(carrier, "ParcelDelivery.carrier") if carrier else receipt.carrier
    number = obj.get("trackingNumber")
    if isinstance(number, str) and 0 < len(number.strip()) <= 40:
        receipt.tracking = number.strip()
