"""A sandbox restaurant (issue 11): Harbor Bistro takes orders with a tip. Its bank merchant is
an eating place (MCC 5812), nothing ships, and the card is authorised for the bill and posts for
the bill and the tip, so the posted amount is more than the receipt's total (the matching rule
accepts a tip of up to 30 % at restaurant MCCs, docs/receipts.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledgerlink.sandbox.merchant.shop import Product, ShopConfig

__all__ = ["MENU", "restaurant_config"]

MENU: dict[str, Product] = {
    p.sku: p
    for p in (
        Product("CHOWDER", "Clam chowder", Decimal("12.50")),
        Product("FISH", "Fish and chips", Decimal("18.00")),
        Product("SALAD", "Harbor salad", Decimal("11.00")),
        Product("LEMONADE", "Lemonade", Decimal("4.50")),
    )
}


def restaurant_config(**overrides: Any) -> ShopConfig:
    """Harbor Bistro's ShopConfig: slug `bistro`, its menu, paid directly, no shipping, tips."""
    values: dict[str, Any] = {
        "slug": "bistro",
        "name": "Harbor Bistro",
        "public_url": "http://127.0.0.1:8005",
        "products": dict(MENU),
        "processors": {"direct": "Harbor Bistro"},
        "shipping": Decimal("0.00"),
        "ships": False,
        "tips": True,
        **overrides,
    }
    return ShopConfig(**values)
