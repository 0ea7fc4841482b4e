"""Linking a shop (issue 11, ADR 0031): the shops a person can link (the embedded sandbox shop,
as an OAuth client of it), the link flow and the orders-feed sync."""

from __future__ import annotations

from typing import Any

from ledgerlink.adapters.receipts_shop_http import HttpShopApi
from ledgerlink.config import Settings
from ledgerlink.services.receipts.merchant_link import MerchantLinks
from ledgerlink.services.receipts.merchant_link_ports import ShopApi
from ledgerlink.services.receipts.merchant_sync import MerchantSync

SHOP_CLIENT_ID = "ledgerlink"
# The embedded sandbox merchants a person can link: slug -> (name, mount path on the platform).
SANDBOX_SHOPS = {"acme": ("Acme Outfitters", "/sandbox/shop"),
                 "harbor": ("Harbor Market", "/sandbox/market"),
                 "bistro": ("Harbor Bistro", "/sandbox/bistro")}


def shop_redirect_uri(settings: Settings) -> str:
    return f"{settings.resolved_public_url.rstrip('/')}/link/shop/callback"


def wire_merchant_links(settings: Settings, container: Any, *, client_secret: str | None) -> None:
    """`container.merchant_links` and `container.merchant_sync`; with `client_secret` (the
    embedded merchants' registration of this platform) the sandbox shop, the marketplace and
    the restaurant can be linked."""
    shops: dict[str, ShopApi] = {}
    names = {slug: name for slug, (name, _) in SANDBOX_SHOPS.items()}
    if client_secret is not None:
        for slug, (_, path) in SANDBOX_SHOPS.items():
            shops[slug] = HttpShopApi(
                base_url=f"{settings.resolved_public_url.rstrip('/')}{path}",
                client_id=SHOP_CLIENT_ID,
                client_secret=client_secret,
                http=container.http,
                clock=container.deps.clock,
            )
    container.merchant_sync = MerchantSync(container.deps, container.receipts, shops, names)
    container.merchant_links = MerchantLinks(
        container.deps, shops, names, after_link=container.merchant_sync.sync
    )
    container.deps.shop_links = container.merchant_links  # "unlink my shop" in chat
