"""A second sandbox merchant (issue 11): Harbor Market, a marketplace. Its sellers' products,
paid at the marketplace, so the card statement prints the marketplace's descriptor and its
order code ("HARBOR MKT*K3J9QZ"), never the seller's name. With the Acme shop beside it, a
receipt is matched across shops: two orders of the same amount, each to its own charge."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledgerlink.sandbox.merchant.shop import Product, ShopConfig

__all__ = ["MARKET_PRODUCTS", "market_config"]

MARKET_PRODUCTS: dict[str, Product] = {
    p.sku: p
    for p in (
        Product("KEY-7", "Rope key ring", Decimal("21.00"), "Driftwood & Co"),
        Product("LAMP-3", "Driftwood lamp", Decimal("34.50"), "Driftwood & Co"),
        Product("PRINT-1", "Tide chart print", Decimal("18.00"), "Northshore Prints"),
        Product("CARAMEL-6", "Sea salt caramels", Decimal("9.25"), "Gull Island Sweets"),
    )
}


def market_config(**overrides: Any) -> ShopConfig:
    """Harbor Market's own ShopConfig: slug `harbor` (its partner registration and order numbers
    HARBOR-1001..), its products, paid only at the marketplace (bank merchant "Harbor Market")."""
    values: dict[str, Any] = {
        "slug": "harbor",
        "name": "Harbor Market",
        "public_url": "http://127.0.0.1:8004",
        "products": dict(MARKET_PRODUCTS),
        "processors": {"marketplace": "Harbor Market"},
        "carrier": "UPS",
        **overrides,
    }
    return ShopConfig(**values)
