"""The shop's ASGI app: products, a cart, checkout and order pages as JSON, and admin hooks
(advance a parcel, refund) for tests and the demo."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ledgerlink.sandbox.merchant.shop import PRODUCTS, SandboxShop, ShopConfig, ShopProblem


class CartBody(BaseModel):
    customer: str
    sku: str
    quantity: int = 1


class CheckoutBody(BaseModel):
    customer: str
    account_id: str
    card_last4: str
    processor: str = "paypal"
    parcels: int = 1  # 2: shipped in two parcels, charged once per parcel
    currency: str = "USD"  # EUR: a foreign-currency order, converted at the bank


class RefundBody(BaseModel):
    amount: str


def create_shop_app(config: ShopConfig) -> FastAPI:
    shop = SandboxShop(config)
    app = FastAPI(title=f"{config.name} (sandbox shop)", docs_url=None, redoc_url=None)
    app.state.shop = shop

    @app.exception_handler(ShopProblem)
    async def on_problem(_: Request, exc: ShopProblem) -> JSONResponse:
        return JSONResponse({"code": exc.code, "detail": exc.detail, "status": exc.status},
                            status_code=exc.status, media_type="application/problem+json")

    @app.get("/products")
    async def products() -> dict[str, Any]:
        return {"products": [{"sku": p.sku, "name": p.name, "price": str(p.price)}
                             for p in PRODUCTS.values()]}

    @app.post("/cart")
    async def add(body: CartBody) -> dict[str, Any]:
        return {"cart": shop.add_to_cart(body.customer, body.sku, body.quantity)}

    @app.post("/checkout")
    async def checkout(body: CheckoutBody) -> dict[str, Any]:
        order = await shop.checkout(body.customer, account_id=body.account_id,
                                    card_last4=body.card_last4, processor=body.processor,
                                    parcels=body.parcels, currency=body.currency)
        return {"order_id": order.order_ref, "total": str(order.total), "currency": order.currency}

    @app.post("/admin/orders/{order_ref}/advance")
    async def advance(order_ref: str) -> dict[str, Any]:
        return {"status": await shop.advance(order_ref)}

    @app.post("/admin/orders/{order_ref}/refund")
    async def refund(order_ref: str, body: RefundBody) -> dict[str, Any]:
        try:
            amount = Decimal(body.amount)
        except InvalidOperation:
            raise ShopProblem(422, "bad_amount", "a decimal amount") from None
        await shop.refund(order_ref, amount)
        return {"refunded": body.amount}

    return app
