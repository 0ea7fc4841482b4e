"""The shop's storefront in the browser (issue 11): products, cart, checkout paying with the
sandbox bank's card, the order page with its parcels and a return form. Server-rendered Jinja
(autoescaped), prices through babel, a CSRF token on every form, and the shop's own sign-in
with a session cookie (HttpOnly, SameSite=Lax). Bad input is said on the page, never a 500.

The card number, expiry and CVC go from the form to the bank's card hook and nowhere else: not
into the session, a URL, a log line or an error (the bank's errors never repeat the number)."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from babel.numbers import format_currency
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ledgerlink.sandbox.merchant.shop import (
    BANK_RATES,
    MAX_QUANTITY,
    TAX_RATE,
    CardEntry,
    Order,
    SandboxShop,
    ShopProblem,
)

COOKIE = "shop_session"
SESSION_TTL = timedelta(hours=1)
MAX_SESSIONS = 10_000
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


@dataclass
class Session:
    csrf: str
    expires_at: datetime
    customer: str | None = None  # signed in as this shop customer


class Sessions:
    def __init__(self, shop: SandboxShop) -> None:
        self._shop = shop
        self._by_id: dict[str, Session] = {}

    def _now(self) -> datetime:
        return self._shop.config.clock.now()

    def new(self, customer: str | None = None) -> tuple[str, Session]:
        now = self._now()
        if len(self._by_id) >= MAX_SESSIONS:  # expired ones first; then the oldest
            self._by_id = {k: v for k, v in self._by_id.items() if v.expires_at > now}
            while len(self._by_id) >= MAX_SESSIONS:
                self._by_id.pop(next(iter(self._by_id)))
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = Session(secrets.token_urlsafe(24), now + SESSION_TTL, customer)
        return sid, self._by_id[sid]

    def get(self, request: Request) -> Session | None:
        session = self._by_id.get(request.cookies.get(COOKIE, ""))
        if session is None or self._now() >= session.expires_at:
            return None
        return session

    def drop(self, request: Request) -> None:
        self._by_id.pop(request.cookies.get(COOKIE, ""), None)


def _base(request: Request) -> str:
    return str(request.scope.get("root_path") or "").rstrip("/")


def _int(raw: object, default: int | None = None) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text and default is not None:
        return default
    return int(text) if re.fullmatch(r"-?\d{1,7}", text) else None


def _card(form: FormData) -> CardEntry:
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
            base=_base(request),
            csrf=session.csrf,
            customer=customer,
            cart_count=sum(q for _, q in cart),
            **context,
        )
        resp = HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})
        if fresh is not None:
            _set_cookie(request, resp, fresh)
        return resp

    def redirect(request: Request, path: str, fresh: str | None = None) -> RedirectResponse:
        resp = RedirectResponse(_base(request) + path, status_code=303)
        if fresh is not None:
            _set_cookie(request, resp, fresh)
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

    def cart_view(customer: str) -> dict[str, Any]:
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

    @r.get("/")
    async def home(request: Request) -> Response:
        return redirect(request, "/shop")

    @r.get("/shop", response_class=HTMLResponse)
    async def storefront(request: Request) -> Response:
        fresh, session = session_of(request)
        rows = [{"sku": p.sku, "name": p.name, "price": money(p.price), "seller": p.seller}
                for p in config.products.values()]
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
        resp.delete_cookie(COOKIE, path=_base(request) or "/")
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
            cart=cart_view(session.customer),
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
        quantity = _int(form.get("quantity"), 1)
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
                cart=cart_view(session.customer),
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
            cart=cart_view(session.customer),
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
            card = _card(form)
            parcels = _int(chosen["parcels"], 1)
            if parcels is None:
                raise ShopProblem(422, "bad_parcels", "ship in 1 or 2 parcels")
            tip = _int(chosen["tip"], 0)
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
                    cart=cart_view(session.customer),
                    error="Your cart is empty: add something first.",
                )
            return checkout_page(request, session, exc.status, _sentence(exc.detail), chosen)
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
            q = _int(form.get(f"qty_{n}"), 0)
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
            return order_page(request, session, order, status=exc.status, error=_sentence(exc.detail))
        return redirect(request, f"/shop/orders/{order.order_ref}?returned=1")

    return r


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


def _sentence(detail: str) -> str:
    return detail[:1].upper() + detail[1:] + ("" if detail.endswith(".") else ".")


def _set_cookie(request: Request, resp: Response, sid: str) -> None:
    resp.set_cookie(
        COOKIE,
        sid,
        httponly=True,
        samesite="lax",
        path=_base(request) or "/",
        max_age=int(SESSION_TTL.total_seconds()),
        secure=request.url.scheme == "https",
    )
