"""The shop's ASGI app: the storefront in the browser (`_store`, under /shop); products, a
cart and checkout as JSON; its OAuth
authorization server (`/oauth/authorize`, `/oauth/token`, `/oauth/revoke`, ADR 0031) and the
cursor-synced `GET /orders` for a linked platform; admin hooks (advance a parcel, refund, revoke
a customer's grants, lose the next events) for tests and the demo."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from authlib.oauth2 import OAuth2Error
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from ledgerlink.sandbox._oauth import HttpRequest, HttpResponse
from ledgerlink.sandbox.merchant import _store
from ledgerlink.sandbox.merchant._feed import CursorProblem
from ledgerlink.sandbox.merchant.shop import SandboxShop, ShopConfig, ShopProblem

SCOPE_TEXT = {"orders": "your orders: items, totals and order numbers",
              "shipments": "your parcels: carrier, tracking number and status"}


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


class DropBody(BaseModel):
    count: int = 1


def _oauth_out(resp: HttpResponse) -> Response:
    headers = dict(resp.headers)
    if resp.status == 302:
        return RedirectResponse(headers["Location"], status_code=302)
    return JSONResponse(resp.body, status_code=resp.status, headers=headers)


def _consent_page(shop: SandboxShop, query: str, scopes: list[str], error: str = "") -> HTMLResponse:
    items = "".join(f"<li>{escape(SCOPE_TEXT[s])}</li>" for s in scopes if s in SCOPE_TEXT)
    note = f'<p role="alert">{escape(error)}</p>' if error else ""
    return HTMLResponse(
        f"<!doctype html><title>{escape(shop.config.name)}: link your account</title>"
        f"<h1>{escape(shop.config.name)}</h1><p>Ledgerlink asks to read:</p><ul>{items}</ul>{note}"
        f'<form method="post" action="?{escape(query)}"><label>Customer <input name="customer"></label>'
        '<label>Password <input name="password" type="password"></label>'
        '<button name="decision" value="approve">Approve</button>'
        '<button name="decision" value="deny">Deny</button></form>', status_code=400 if error else 200)


def create_shop_app(config: ShopConfig) -> FastAPI:
    shop = SandboxShop(config)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        """Its own process: the parcels move on the clock (embedded, the container runs it)."""
        task = asyncio.create_task(shop.run_clock(), name="sandbox_shop_clock") if config.simulate else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title=f"{config.name} (sandbox shop)", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.shop = shop

    app.include_router(_store.router(shop))  # the storefront pages under /shop

    @app.exception_handler(ShopProblem)
    async def on_problem(_: Request, exc: ShopProblem) -> JSONResponse:
        return JSONResponse({"code": exc.code, "detail": exc.detail, "status": exc.status},
                            status_code=exc.status, media_type="application/problem+json")

    def oauth_request(request: Request, form: list[tuple[str, str]] | None = None) -> HttpRequest:
        return HttpRequest(request.method, str(request.url), request.headers,
                           list(request.query_params.multi_items()), form or [])

    async def oauth_form(request: Request) -> HttpRequest:
        form = await request.form()
        pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return HttpRequest(request.method, str(request.url), request.headers, [], pairs)

    @app.get("/oauth/authorize")
    async def authorize_page(request: Request) -> Response:
        try:
            grant = shop.auth.get_consent_grant(oauth_request(request), end_user=None)
        except OAuth2Error as error:
            if error.redirect_uri:
                return _oauth_out(shop.auth.handle_error_response(None, error))
            return JSONResponse({"code": error.error, "detail": error.description}, status_code=400)
        return _consent_page(shop, request.url.query, grant.request.scope.split())

    @app.post("/oauth/authorize")
    async def authorize_decision(request: Request) -> Response:
        form = await request.form()
        try:
            grant = shop.auth.get_consent_grant(oauth_request(request), end_user=None)
        except OAuth2Error as error:
            if error.redirect_uri:
                return _oauth_out(shop.auth.handle_error_response(None, error))
            return JSONResponse({"code": error.error, "detail": error.description}, status_code=400)
        customer = str(form.get("customer") or "")
        user = None
        if form.get("decision") == "approve":
            if not shop.sign_in(customer, str(form.get("password") or "")):
                return _consent_page(shop, request.url.query, grant.request.scope.split(),
                                     "Wrong customer or password.")
            user = customer
        return _oauth_out(shop.auth.create_authorization_response(request=grant.request, grant_user=user,
                                                                  grant=grant))

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        return _oauth_out(shop.auth.create_token_response(await oauth_form(request)))

    @app.post("/oauth/revoke")
    async def revoke(request: Request) -> Response:
        return _oauth_out(shop.auth.create_endpoint_response("revocation", await oauth_form(request)))

    @app.get("/orders")
    async def orders(request: Request, cursor: str | None = None, limit: int = 50) -> Response:
        header = request.headers.get("authorization", "")
        try:
            grant = shop.auth.bearer(header[7:] if header.lower().startswith("bearer ") else None, "orders")
        except ValueError as exc:
            raise ShopProblem(401 if exc.args[0] != "insufficient_scope" else 403, *exc.args) from None
        try:
            return JSONResponse(shop.feed(grant.customer, cursor=cursor, limit=limit).to_json())
        except CursorProblem as exc:
            raise ShopProblem(400, exc.code, exc.detail) from None

    @app.post("/admin/customers/{customer}/revoke")
    async def revoke_customer(customer: str) -> dict[str, Any]:
        return {"revoked": await shop.revoke_customer(customer)}

    @app.post("/admin/drop-events")
    async def drop(body: DropBody) -> dict[str, Any]:
        shop.drop_events = max(0, body.count)
        return {"dropping": shop.drop_events}

    @app.get("/products")
    async def products() -> dict[str, Any]:
        return {"products": [{"sku": p.sku, "name": p.name, "price": str(p.price)}
                             for p in config.products.values()]}

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

    @app.post("/admin/orders/{order_ref}/resend")
    async def resend(order_ref: str) -> dict[str, Any]:
        await shop.resend(order_ref)
        return {"resent": order_ref}

    @app.post("/admin/orders/{order_ref}/refund")
    async def refund(order_ref: str, body: RefundBody) -> dict[str, Any]:
        try:
            amount = Decimal(body.amount)
        except InvalidOperation:
            raise ShopProblem(422, "bad_amount", "a decimal amount") from None
        await shop.refund(order_ref, amount)
        return {"refunded": body.amount}

    return app
