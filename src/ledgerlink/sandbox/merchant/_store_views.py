"""What the storefront's pages show and read (`_store`): money through babel, the cart's and
an order's view, and the checkout form's fields checked (the card never kept beyond the charge)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from babel.numbers import format_currency
from starlette.datastructures import FormData

from ledgerlink.sandbox.merchant.shop import (
    MAX_QUANTITY,
    TAX_RATE,
    CardEntry,
    Order,
    SandboxShop,
    ShopProblem,
)

__all__ = [
    "PAY_OPTIONS",
    "STATUS_TEXT",
    "card_of_form",
    "cart_view",
    "env",
    "int_field",
    "money",
    "order_view",
    "sentence",
]

PAY_OPTIONS = (  # value, what the customer reads
    ("direct", "Card, paid to the shop directly"),
    ("paypal", "PayPal-like wallet"),
    ("square", "Square-like processor"),
    ("marketplace", "Through a marketplace"),
)
STATUS_TEXT = {
    "label_created": "Label created",
    "picked_up": "Picked up",
    "in_transit": "In transit",
    "delayed": "Delayed",
    "out_for_delivery": "Out for delivery",
    "failed_attempt": "Delivery attempt failed",
    "exception": "Exception: returned to the shop",
    "delivered": "Delivered",
}
_EXPIRY = re.compile(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*")

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=jinja2.select_autoescape(default=True),
)


def money(amount: Decimal, currency: str = "USD") -> str:
    return format_currency(amount, currency, locale="en_US")


def int_field(raw: object, default: int | None = None) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text and default is not None:
        return default
    return int(text) if re.fullmatch(r"-?\d{1,7}", text) else None


def card_of_form(form: FormData) -> CardEntry:
    number = str(form.get("card_number") or "")
    if not number.strip():
        raise ShopProblem(422, "card_number_missing", "Enter the card number.")
    expiry = _EXPIRY.fullmatch(str(form.get("card_expiry") or ""))
    if expiry is None:
        raise ShopProblem(
            422, "card_expiry_invalid", "Enter the expiry date as MM/YY, as printed on the card."
        )
    cvc = str(form.get("card_cvc") or "").strip()
    if not re.fullmatch(r"\d{3,4}", cvc):
        raise ShopProblem(422, "card_cvc_invalid", "Enter the 3-digit security code (CVC) from the card.")
    year = int(expiry.group(2))
    return CardEntry(number[:40], int(expiry.group(1)), year + 2000 if year < 100 else year, cvc)


def cart_view(shop: SandboxShop, customer: str) -> dict[str, Any]:
    config = shop.config
    lines = [(config.products[sku], q) for sku, q in shop.carts.get(customer, [])]
    subtotal = sum((p.price * q for p, q in lines), Decimal(0))
    tax = (subtotal * TAX_RATE).quantize(Decimal("0.01"))
    total = subtotal + tax + config.shipping if lines else Decimal(0)
    return {
        "lines": [
            {
                "sku": p.sku,
                "name": p.name,
                "quantity": q,
                "unit": money(p.price),
                "amount": money(p.price * q),
            }
            for p, q in lines
        ],
        "subtotal": money(subtotal),
        "tax": money(tax),
        "shipping": money(config.shipping),
        "total": money(total),
        "total_eur": money(total, "EUR"),
        "max_quantity": MAX_QUANTITY,
        "count": sum(q for _, q in lines),
    }


def order_view(shop: SandboxShop, o: Order) -> dict[str, Any]:
    c = o.currency
    delivered = bool(o.statuses) and o.statuses[-1][0] == "delivered"
    timeline = [
        {"status": s, "text": STATUS_TEXT.get(s, s), "at": at.strftime("%d %b %Y, %H:%M UTC")}
        for s, at in o.statuses
    ] or [
        {
            "status": "ordered",
            "text": "Order received, not shipped yet",
            "at": o.placed_at.strftime("%d %b %Y, %H:%M UTC"),
        }
    ]
    return {
        "ref": o.order_ref,
        "placed": o.placed_at.strftime("%d %b %Y"),
        "currency": c,
        "lines": [
            {
                "n": n,
                "name": p.name,
                "quantity": q,
                "unit": money(p.price, c),
                "amount": money(p.price * q, c),
                "returnable": q - o.returned.get(n, 0),
                "returned": o.returned.get(n, 0),
            }
            for n, (p, q) in enumerate(o.items)
        ],
        "subtotal": money(o.subtotal, c),
        "tax": money(o.tax, c),
        "shipping": money(o.shipping, c),
        "tip": money(o.tip, c) if o.tip else "",
        "ships": shop.config.ships,
        "total": money(o.total, c),
        "refunded": money(o.refunded, c) if o.refunded else "",
        "charged": [money(a) for a in o.charges],
        "card_last4": o.card_last4,
        "paid_via": dict(PAY_OPTIONS).get(o.processor, o.processor),
        "parcels": [
            {"n": n + 1, "carrier": shop.config.carrier, "tracking": t, "timeline": timeline}
            for n, t in enumerate(o.trackings)
        ],
        "delivered": delivered,
        "can_return": delivered and any(q > o.returned.get(n, 0) for n, (_, q) in enumerate(o.items)),
    }


def sentence(detail: str) -> str:
    return detail[:1].upper() + detail[1:] + ("" if detail.endswith(".") else ".")
