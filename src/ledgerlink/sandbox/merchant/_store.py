"""The shop's storefront in the browser (issue 11): products, cart, checkout paying with the
sandbox bank's card, the order page with its parcels and a return form. Server-rendered Jinja
(autoescaped), prices through babel, a CSRF token on every form, and the shop's own sign-in
with a session cookie (HttpOnly, SameSite=Lax). Bad input is said on the page, never a 500.

The card number, expiry and CVC go from the form to the bank's card hook and nowhere else: not
into the session, a URL, a log line or an error (the bank's errors never repeat the number)."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ledgerlink.sandbox.merchant._store_session import COOKIE, Session, Sessions, base_path, set_cookie
from ledgerlink.sandbox.merchant._store_views import (
    PAY_OPTIONS,
    STATUS_TEXT,
    card_of_form,
    cart_view,
    env,
    int_field,
    money,
    order_view,
    sentence,
)
from ledgerlink.sandbox.merchant.shop import BANK_RATES, MAX_QUANTITY, Order, SandboxShop, ShopProblem

__all__ = ["router"]


def router(shop: SandboxShop) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    sessions = Sessions(shop)
    config = shop.config

    def session_of(request: Request) -> tuple[str | None, Session]:
        """The request's session, or a new anonymous one (its id to set as the cookie)."""
        found = sessions.get(request)
        if found is not None:
            return None, found
        return sessions.new()

    def page(
        request: Request, name: str, status: int = 200, *, fresh: str | None, session: Session, **context: Any
    ) -> HTMLResponse:
        customer = session.customer
        cart = shop.carts.get(customer, []) if customer else []
        html = env.get_template(name).render(
            shop_name=config.name,
            base=base_path(request),
            csrf=session.csrf,
            customer=customer,
            cart_count=sum(q for _, q in cart),
            **context,
        )
        resp = HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})
        if fresh is not None:
            set_cookie(request, resp, fresh)
        return resp

    def redirect(request: Request, path: str, fresh: str | None = None) -> RedirectResponse:
        resp = RedirectResponse(base_path(request) + path, status_code=303)
        if fresh is not None:
            set_cookie(request, resp, fresh)
        return resp

    async def posted(request: Request) -> tuple[FormData, Session] | Response:
        """A form post's fields and its signed-in session; without a session or with a wrong
        CSRF token: back to sign-in (nothing done)."""
        form = await request.form()
        session = sessions.get(request)
        token = form.get("csrf")
        if session is None or not isinstance(token, str) or not hmac.compare_digest(token, session.csrf):
            return redirect(request, "/shop/signin?expired=1")
        if session.customer is None:
            return redirect(request, "/shop/signin")
        return form, session

    @r.get("/")
    async def home(request: Request) -> Response:
        return redirect(request, "/shop")

    @r.get("/shop", response_class=HTMLResponse)
    async def storefront(request: Request) -> Response:
        fresh, session = session_of(request)
        rows = [
            {"sku": p.sku, "name": p.name, "price": money(p.price), "seller": p.seller}
            for p in config.products.values()
        ]
        added = request.query_params.get("added")
        name = config.products[added].name if added in config.products else None
        return page(request, "shop/products.html", fresh=fresh, session=session, products=rows, added=name)

    @r.get("/shop/signin", response_class=HTMLResponse)
    async def signin_page(request: Request, expired: str = "") -> Response:
        fresh, session = session_of(request)
        error = "Your session expired. Sign in again." if expired else ""
        return page(request, "shop/signin.html", fresh=fresh, session=session, error=error)

    @r.post("/shop/signin")
    async def signin(request: Request) -> Response:
        form = await request.form()
        session = sessions.get(request)
        token = form.get("csrf")
        if session is None or not isinstance(token, str) or not hmac.compare_digest(token, session.csrf):
            fresh, session = sessions.new()
            return page(
                request,
                "shop/signin.html",
                403,
                fresh=fresh,
                session=session,
                error="This form had expired. Sign in again.",
            )
        customer = str(form.get("customer") or "").strip().lower()
        if not shop.sign_in(customer, str(form.get("password") or "")):
            return page(
                request,
                "shop/signin.html",
                401,
                fresh=None,
                session=session,
                error="That customer name and password do not match.",
            )
        sessions.drop(request)  # a new id at sign-in: a session fixed before it is worth nothing
        fresh, _ = sessions.new(customer)
        return redirect(request, "/shop", fresh)

    @r.post("/shop/signout")
    async def signout(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        sessions.drop(request)
        resp = redirect(request, "/shop")
        resp.delete_cookie(COOKIE, path=base_path(request) or "/")
        return resp

    @r.get("/shop/cart", response_class=HTMLResponse)
    async def cart_page(request: Request) -> Response:
        fresh, session = session_of(request)
        if session.customer is None:
            return redirect(request, "/shop/signin", fresh)
        return page(
            request,
            "shop/cart.html",
            fresh=fresh,
            session=session,
            cart=cart_view(shop, session.customer),
            error="",
        )

    @r.post("/shop/cart")
    async def cart_change(request: Request) -> Response:
        """Add (from the products), change a quantity or remove (on the cart page)."""
        got = await posted(request)
        if isinstance(got, Response):
            return got
        form, session = got
        assert session.customer is not None
        action, sku = str(form.get("action") or "add"), str(form.get("sku") or "")
        quantity = int_field(form.get("quantity"), 1)
        try:
            if quantity is None:
                raise ShopProblem(
                    422, "bad_quantity", f"the quantity is a whole number of 1 to {MAX_QUANTITY}"
                )
            if action == "remove":
                shop.remove_from_cart(session.customer, sku)
            elif action == "update":
                shop.set_quantity(session.customer, sku, quantity)
            else:
                shop.add_to_cart(session.customer, sku, quantity)
                return redirect(request, f"/shop?added={quote(sku)}")
        except ShopProblem as exc:
            return page(
                request,
                "shop/cart.html",
                exc.status,
                fresh=None,
                session=session,
                cart=cart_view(shop, session.customer),
                error=exc.detail,
            )
        return redirect(request, "/shop/cart")

    def checkout_page(
        request: Request,
        session: Session,
        status: int = 200,
        error: str = "",
        chosen: dict[str, str] | None = None,
    ) -> HTMLResponse:
        assert session.customer is not None
        return page(
            request,
            "shop/checkout.html",
            status,
            fresh=None,
            session=session,
            cart=cart_view(shop, session.customer),
            error=error,
            options=[(v, t) for v, t in PAY_OPTIONS if v in config.processors],
            currencies=list(BANK_RATES),
            chosen=chosen
            or {"processor": next(iter(config.processors)), "parcels": "1", "currency": "USD", "tip": "18"},
            ships=config.ships,
            tips=config.tips,
        )

    @r.get("/shop/checkout", response_class=HTMLResponse)
    async def checkout_form(request: Request) -> Response:
        fresh, session = session_of(request)
        if session.customer is None:
            return redirect(request, "/shop/signin", fresh)
        if not shop.carts.get(session.customer):
            return redirect(request, "/shop/cart")
        return checkout_page(request, session)

    @r.post("/shop/checkout")
    async def checkout(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        form, session = got
        assert session.customer is not None
        chosen = {k: str(form.get(k) or "")[:20] for k in ("processor", "parcels", "currency", "tip")}
        try:
            card = card_of_form(form)
            parcels = int_field(chosen["parcels"], 1)
            if parcels is None:
                raise ShopProblem(422, "bad_parcels", "ship in 1 or 2 parcels")
            tip = int_field(chosen["tip"], 0)
            if tip is None:
                raise ShopProblem(422, "bad_tip", "a tip of 0 to 30 % of the bill")
            order = await shop.checkout_card(
                session.customer,
                card,
                processor=chosen["processor"],
                parcels=parcels,
                currency=chosen["currency"],
                tip_percent=tip,
            )
        except ShopProblem as exc:
            if exc.code == "cart_empty":
                return page(
                    request,
                    "shop/cart.html",
                    409,
                    fresh=None,
                    session=session,
                    cart=cart_view(shop, session.customer),
                    error="Your cart is empty: add something first.",
                )
            return checkout_page(request, session, exc.status, sentence(exc.detail), chosen)
        return redirect(request, f"/shop/orders/{order.order_ref}?placed=1")

    def order_of(request: Request, session: Session, order_ref: str) -> Order | None:
        order = shop.orders.get(order_ref[:40])
        return order if order is not None and order.customer == session.customer else None

    def order_page(
        request: Request,
        session: Session,
        order: Order,
        *,
        status: int = 200,
        error: str = "",
        note: str = "",
    ) -> HTMLResponse:
        return page(
            request,
            "shop/order.html",
            status,
            fresh=None,
            session=session,
            error=error,
            note=note,
            order=order_view(shop, order),
        )

    @r.get("/shop/orders", response_class=HTMLResponse)
    async def orders_page(request: Request) -> Response:
        fresh, session = session_of(request)
        if session.customer is None:
            return redirect(request, "/shop/signin", fresh)
        mine = sorted(
            (o for o in shop.orders.values() if o.customer == session.customer),
            key=lambda o: o.placed_at,
            reverse=True,
        )
        rows = [
            {
                "ref": o.order_ref,
                "placed": o.placed_at.strftime("%d %b %Y"),
                "total": money(o.total, o.currency),
                "status": STATUS_TEXT.get(o.statuses[-1][0], "") if o.statuses else "Order received",
            }
            for o in mine
        ]
        return page(request, "shop/orders.html", fresh=fresh, session=session, orders=rows)

    @r.get("/shop/orders/{order_ref}", response_class=HTMLResponse)
    async def order_detail(
        request: Request, order_ref: str, placed: str = "", returned: str = ""
    ) -> Response:
        fresh, session = session_of(request)
        if session.customer is None:
            return redirect(request, "/shop/signin", fresh)
        order = order_of(request, session, order_ref)
        if order is None:
            return page(request, "shop/missing.html", 404, fresh=fresh, session=session)
        note = (
            "Thank you: your order is placed and your card is authorised."
            if placed
            else "Your return was received and refunded to your card."
            if returned
            else ""
        )
        return order_page(request, session, order, note=note)

    @r.post("/shop/orders/{order_ref}/return")
    async def return_items(request: Request, order_ref: str) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        form, session = got
        assert session.customer is not None
        order = order_of(request, session, order_ref)
        if order is None:
            return page(request, "shop/missing.html", 404, fresh=None, session=session)
        quantities: dict[int, int] = {}
        for n in range(len(order.items)):
            q = int_field(form.get(f"qty_{n}"), 0)
            if q is None or q < 0:
                return order_page(
                    request,
                    session,
                    order,
                    status=422,
                    error=f"{order.items[n][0].name}: the quantity to return is a whole number",
                )
            quantities[n] = q
        try:
            await shop.return_items(session.customer, order.order_ref, quantities)
        except ShopProblem as exc:
            return order_page(request, session, order, status=exc.status, error=sentence(exc.detail))
        return redirect(request, f"/shop/orders/{order.order_ref}?returned=1")

    return r
