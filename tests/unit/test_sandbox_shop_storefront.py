"""The sandbox shop's storefront product list (issue 11): server-rendered, escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox.merchant import ShopConfig, create_shop_app


async def _pay(login: str, **_: Any) -> str:
    return "txn_1"


async def test_storefront_lists_every_product_with_its_price_escaped() -> None:
    config = ShopConfig(
        clock=FrozenClock(datetime(2026, 11, 2, 12, tzinfo=UTC)), pay=_pay, name="Acme <Outfitters>"
    )
    app = create_shop_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop") as client:
        resp = await client.get("/shop")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "Two-person tent" in resp.text and "$149.00" in resp.text and "$9.99" in resp.text
    assert "Acme &lt;Outfitters&gt;" in resp.text and "<Outfitters>" not in resp.text


async def test_the_marketplace_lists_its_own_products_with_their_sellers() -> None:
    from ledgerlink.sandbox.merchant.market import market_config

    app = create_shop_app(market_config(clock=FrozenClock(datetime(2026, 11, 2, 12, tzinfo=UTC)), pay=_pay))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://market") as client:
        page = await client.get("/shop")
        listed = (await client.get("/products")).json()["products"]
    assert "Harbor Market" in page.text and "sold by Driftwood &amp; Co" in page.text
    assert "Trail socks" not in page.text  # the Acme shop's products are not sold here
    assert {p["sku"] for p in listed} == {"KEY-7", "LAMP-3", "PRINT-1", "CARAMEL-6"}
