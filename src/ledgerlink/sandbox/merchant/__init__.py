"""The sandbox merchant (issue 11): an online shop with products, a cart and a checkout that
pays with the customer's sandbox bank card, ships parcels on the simulator's clock and sends
Standard Webhooks signed events to the platform. It knows only the domain, like the bank."""

from ledgerlink.sandbox.merchant._oauth import ShopClient
from ledgerlink.sandbox.merchant.app import create_shop_app
from ledgerlink.sandbox.merchant.shop import PRODUCTS, SandboxShop, ShopConfig

__all__ = ["PRODUCTS", "SandboxShop", "ShopClient", "ShopConfig", "create_shop_app"]
