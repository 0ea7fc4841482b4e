"""The shop's state: products, carts, orders and their parcels; its events to the platform."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.tracking import parse_tracking_number
from ledgerlink.sandbox._tls import tls_context
from ledgerlink.sandbox.merchant import _feed
from ledgerlink.sandbox.merchant._model import (
    BANK_RATES,
    CENT,
    MAX_QUANTITY,
    PROCESSORS,
    PRODUCTS,
    SHIPPING,
    TAX_RATE,
    Capture,
    CardEntry,
    ChargeCard,
    Order,
    Pay,
    Product,
    RefundPayment,
    ShopConfig,
    ShopProblem,
    Void,
)
from ledgerlink.sandbox.merchant._oauth import ShopAuthServer
from ledgerlink.sandbox.merchant.carrier import plan

# The shop's data (`_model`) stays importable from here.
__all__ = [
    "BANK_RATES", "CENT", "MAX_QUANTITY", "PROCESSORS", "PRODUCTS", "SHIPPING", "TAX_RATE", "Capture",
    "CardEntry", "ChargeCard", "Order", "Pay", "Product", "RefundPayment", "SandboxShop", "ShopConfig",
    "ShopProblem", "Void", "days", "tracking_number",
]

log = logging.getLogger("ledgerlink.sandbox.shop")

class SandboxShop:
    def __init__(self, config: ShopConfig) -> None:
        self.config = config
        self.carts: dict[str, list[tuple[str, int]]] = {}
        self.orders: dict[str, Order] = {}
        self.sent: list[dict[str, Any]] = []  # what was pushed, for tests and the demo
        self._n = 1000
        self._seq = 0
        self.drop_events = 0  # the next N events are lost on the way (tests: the feed makes up)
        self.auth = ShopAuthServer(clients=config.oauth_clients, clock=config.clock,
                                   grant_days=config.grant_days)

    def sign_in(self, customer: str, password: str) -> bool:
        known = self.config.customers.get(customer)
        return known is not None and secrets.compare_digest(known.encode(), password.encode())

    async def revoke_customer(self, customer: str) -> int:
        """The shop ends the customer's grants (its own side of revoking) and tells the
        platform with a signed `link.revoked` event for each."""
        ended = [g for g in self.auth.grants_of(customer) if self.auth.end_grant(g.grant_id, by="shop")]
        for grant in ended:
            await self._send("link.revoked", {"customer_id": customer, "grant_id": grant.grant_id})
        return len(ended)

    def feed(self, customer: str, *, cursor: str | None, limit: int) -> _feed.Page:
        changes = [(o.seq, {"id": o.order_ref, "version": o.version, "type": o.kind,
                            "data": self._order_data(o)})
                   for o in self.orders.values() if o.customer == customer]
        return _feed.page(self.config.cursor_key, changes, customer=customer, cursor=cursor, limit=limit)

    def _changed(self, order: Order, kind: str) -> dict[str, Any]:
        self._seq += 1
        order.version, order.seq, order.kind = order.version + 1, self._seq, kind
        return self._order_data(order)

    def add_to_cart(self, customer: str, sku: str, quantity: int = 1) -> list[tuple[str, int]]:
        """Add to the cart (the same product again adds to its line)."""
        product = self._product(sku)
        cart = self.carts.setdefault(customer, [])
        held = next((q for s, q in cart if s == sku), 0)
        self._check_quantity(held + quantity, product.name)
        if held:
            cart[:] = [(s, q + quantity if s == sku else q) for s, q in cart]
        else:
            cart.append((sku, quantity))
        return cart

    def set_quantity(self, customer: str, sku: str, quantity: int) -> list[tuple[str, int]]:
        product = self._product(sku)
        cart = self.carts.get(customer, [])
        if all(s != sku for s, _ in cart):
            raise ShopProblem(404, "not_in_cart", f"{product.name} is not in the cart")
        self._check_quantity(quantity, product.name)
        cart[:] = [(s, quantity if s == sku else q) for s, q in cart]
        return cart

    def remove_from_cart(self, customer: str, sku: str) -> list[tuple[str, int]]:
        cart = self.carts.get(customer, [])
        cart[:] = [(s, q) for s, q in cart if s != sku]
        return cart

    def _product(self, sku: str) -> Product:
        products = self.config.products
        if sku not in products:
            raise ShopProblem(404, "unknown_product", f"there is no product {sku[:40]!r} in this shop")
        return products[sku]

    @staticmethod
    def _check_quantity(quantity: int, name: str) -> None:
        if not 1 <= quantity <= MAX_QUANTITY:
            raise ShopProblem(422, "bad_quantity", f"{name}: a quantity of 1 to {MAX_QUANTITY}"
                              + (" (Remove takes it out of the cart)" if quantity == 0 else ""))

    async def checkout(self, customer: str, *, account_id: str, card_last4: str,
                       processor: str = "paypal", parcels: int = 1, currency: str = "USD") -> Order:
        """Pay the cart from the customer's sandbox account (the API and tests): the bank books
        the charge now. With `parcels=2` the order ships in two parcels and the card is charged
        once per parcel (each parcel's share of the total); in another `currency` the bank converts."""
        pay = self.config.pay
        if pay is None:
            raise ShopProblem(422, "unknown_processor", "this shop takes no account payments")

        async def one(amount: Decimal) -> str:
            assert pay is not None
            return await pay(customer, account_id=account_id, merchant=self._processor(processor),
                             amount=str(amount))
        return await self._place(customer, one, card_last4, processor=processor, parcels=parcels,
                                 currency=currency)

    async def checkout_card(self, customer: str, card: CardEntry, *, processor: str = "paypal",
                            parcels: int = 1, currency: str = "USD", tip_percent: int = 0) -> Order:
        """Pay the cart with the card typed into the checkout form, as a real shop does: the
        bank checks number, expiry and CVC and authorises each parcel's charge."""
        charge = self.config.charge_card
        if charge is None:
            raise ShopProblem(422, "cards_not_taken", "this shop takes no card payments")
        last4: list[str] = []

        async def one(amount: Decimal) -> str:
            assert charge is not None
            txn, four = await charge(pan=card.number, exp_month=card.exp_month, exp_year=card.exp_year,
                                     cvc=card.cvc, merchant=self._processor(processor), amount=str(amount))
            last4.append(four)
            return txn
        return await self._place(customer, one, lambda: last4[0], processor=processor, parcels=parcels,
                                 currency=currency, tip_percent=tip_percent)

    def _processor(self, processor: str) -> str:
        processors = self.config.processors
        if processor not in processors:
            raise ShopProblem(422, "unknown_processor", f"pay by one of {', '.join(processors)}")
        return processors[processor]

    async def _place(self, customer: str, pay_one: Callable[[Decimal], Awaitable[str]],
                     last4: str | Callable[[], str], *, processor: str, parcels: int, currency: str,
                     tip_percent: int = 0) -> Order:
        cart = list(self.carts.get(customer, []))
        if not cart:
            raise ShopProblem(409, "cart_empty", "the cart is empty")
        self._processor(processor)
        if parcels not in (1, 2) or (parcels == 2 and (sum(q for _, q in cart) < 2 or not self.config.ships)):
            raise ShopProblem(422, "bad_parcels", "1 parcel, or 2 for a cart of two items or more")
        if (tip_percent and not self.config.tips) or not 0 <= tip_percent <= 30:
            raise ShopProblem(422, "bad_tip", "a tip of 0 to 30 % of the bill" if self.config.tips
                              else "this shop takes no tips")
        if currency not in BANK_RATES:
            raise ShopProblem(422, "unknown_currency", f"an order in one of {', '.join(BANK_RATES)}")
        items = [(self.config.products[sku], qty) for sku, qty in cart]
        ref = f"{self.config.slug.upper()}-{self._n + 1}"
        order = Order(ref, customer, items, "", self.config.clock.now(), "", "", currency=currency,
                      processor=processor, shipping=self.config.shipping)
        charged = (order.total * BANK_RATES[currency]).quantize(CENT)
        first = charged if parcels == 1 else (charged * Decimal("0.6")).quantize(CENT)
        for amount in (first, charged - first)[:parcels]:
            try:
                order.parcels.append(await pay_one(amount))
            except ShopProblem:
                for pending in order.parcels:  # the first parcel's charge, when the second failed
                    if self.config.void is not None:
                        await self.config.void(pending)
                raise
            order.charges.append(amount)
        self._n += 1
        self.carts.pop(customer, None)
        order.card_last4 = last4 if isinstance(last4, str) else last4()
        order.card_refunded = [Decimal(0)] * len(order.parcels)
        if self.config.ships:
            order.trackings = [tracking_number(f"{ref}/{n}") for n in range(parcels)]
            # The journey, chosen by the order number like the carrier's: now and then delayed, a
            # failed attempt, or an exception; the label is made one step after the order.
            order.plan = plan(ref, order.placed_at + self.config.ship_step, self.config.ship_step)
        order.transaction_id, order.tracking = order.parcels[0], (order.trackings or [""])[0]
        if self.config.tips and self.config.capture is not None:  # the bill settles with its tip
            order.tip = (order.total * tip_percent / 100).quantize(CENT)
            with_tip = order.charges[0] + (order.tip * BANK_RATES[currency]).quantize(CENT)
            order.parcels = [await self.config.capture(order.parcels[0], final_amount=str(with_tip))]
            order.transaction_id, order.charges, order.captured = order.parcels[0], [with_tip], True
        self.orders[order.order_ref] = order
        await self._send("order.placed", self._changed(order, "order.placed"))
        return order

    async def advance(self, order_ref: str, status: str | None = None) -> str:
        """Move the parcel on now (to `status`, or its next planned step), stamped with the
        shop's clock: the admin hook for tests and the demo."""
        order = self._order(order_ref)
        if status is None:
            if len(order.statuses) >= len(order.plan):
                raise ShopProblem(409, "already_delivered", "the parcel's journey is over "
                                  f"({order.statuses[-1][0] if order.statuses else 'no plan'})")
            status = order.plan[len(order.statuses)][0]
        await self._step(order, status, self.config.clock.now())
        return status

    async def resend(self, order_ref: str) -> None:
        """Send the order's latest state again, as `order.updated` (its next version): the admin
        hook for an event that was lost on the way (tests, the demo)."""
        order = self._order(order_ref)
        await self._send("order.updated", self._changed(order, "order.updated"))

    async def tick(self) -> int:
        """Every parcel step whose planned time the clock has passed, in order, each stamped
        with its planned time and sent as its event; how many were taken."""
        now, taken = self.config.clock.now(), 0
        for order in sorted(self.orders.values(), key=lambda o: o.placed_at):
            while len(order.statuses) < len(order.plan) and order.plan[len(order.statuses)][1] <= now:
                status, at = order.plan[len(order.statuses)]
                await self._step(order, status, at)
                taken += 1
        return taken

    async def run_clock(self) -> None:
        """The parcels move by themselves: `tick` every `tick_seconds` (a lifespan task)."""
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            try:
                await self.tick()
            except Exception:  # a platform that is down must not stop the parcels
                log.exception("sandbox_shop_tick_failed")

    async def _step(self, order: Order, status: str, at: datetime) -> None:
        order.statuses.append((status, at))
        if status == "picked_up" and self.config.capture is not None and not order.captured:
            order.parcels = [await self.config.capture(pending) for pending in order.parcels]
            order.transaction_id = order.parcels[0]
            order.captured = True
        kind = "order.delivered" if status == "delivered" else "shipment.updated"
        await self._send(kind, self._changed(order, kind))

    async def refund(self, order_ref: str, amount: Decimal, *, extra: dict[str, Any] | None = None) -> None:
        order = self._order(order_ref)
        if amount <= 0 or order.refunded + amount > order.total:
            raise ShopProblem(422, "refund_too_large", "more than was paid")
        order.refunded += amount
        if order.captured and self.config.refund_payment is not None:  # the money, on the card
            left = (amount * BANK_RATES[order.currency]).quantize(CENT)
            for n, txn in enumerate(order.parcels):  # the first parcel's charge first
                part = min(left, order.charges[n] - order.card_refunded[n]) if order.charges else left
                if part > 0:
                    await self.config.refund_payment(txn, amount=str(part))
                    if order.charges:
                        order.card_refunded[n] += part
                    left -= part
        await self._send("refund.issued", {**self._changed(order, "refund.issued"), **(extra or {}),
                                           "refund": str(amount)})

    async def return_items(self, customer: str, order_ref: str, quantities: dict[int, int]) -> Decimal:
        """The customer sends items back (item index -> quantity): `return.requested`, then the
        sandbox warehouse takes them in at once (`return.received`), and the refund (the items
        and their tax) goes back on the same card (`refund.issued`). The amount refunded."""
        order = self._order(order_ref)
        if order.customer != customer:
            raise ShopProblem(404, "order_not_found", "no such order")
        if not order.statuses or order.statuses[-1][0] != "delivered":
            raise ShopProblem(409, "not_delivered", "items can be returned once the parcel is delivered")
        chosen = {i: q for i, q in quantities.items() if q}
        if not chosen:
            raise ShopProblem(422, "nothing_to_return", "choose at least one item and how many to return")
        for i, q in chosen.items():
            if not 0 <= i < len(order.items):
                raise ShopProblem(422, "unknown_item", "that item is not in this order")
            left = order.items[i][1] - order.returned.get(i, 0)
            if not 0 < q <= left:
                raise ShopProblem(422, "bad_return_quantity",
                                  f"{order.items[i][0].name}: at most {left} can still be returned")
        value = sum((order.items[i][0].price * q for i, q in chosen.items()), Decimal(0))
        amount = min(value + (value * TAX_RATE).quantize(CENT), order.total - order.refunded)
        sent_back = {"items": [{"name": order.items[i][0].name, "quantity": q} for i, q in chosen.items()],
                     "amount": str(amount)}
        for i, q in chosen.items():
            order.returned[i] = order.returned.get(i, 0) + q
        for kind in ("return.requested", "return.received"):
            await self._send(kind, {**self._changed(order, kind), "return": sent_back})
        await self.refund(order_ref, amount, extra={"return": sent_back})
        return amount

    def _order(self, order_ref: str) -> Order:
        if order_ref not in self.orders:
            raise ShopProblem(404, "order_not_found", "no such order")
        return self.orders[order_ref]

    def _order_data(self, o: Order) -> dict[str, Any]:
        shipped = next((at for s, at in o.statuses if s == "picked_up"), None)
        return {
            "customer_id": o.customer, "order_id": o.order_ref, "version": o.version,
            "shop": self.config.name,
            "currency": o.currency, "card_last4": o.card_last4, "placed_at": o.placed_at.isoformat(),
            "shipped_at": None if shipped is None else shipped.isoformat(),
            "order_url": f"{self.config.public_url}/shop/orders/{o.order_ref}",
            "items": [{"name": p.name, "quantity": q, "unit_price": str(p.price)} for p, q in o.items],
            "subtotal": str(o.subtotal), "tax": str(o.tax), "shipping": str(o.shipping),
            **({"tip": str(o.tip)} if o.tip else {}),
            "total": str(o.total), "refunded": str(o.refunded),
            "shipment": {"carrier": self.config.carrier, "tracking_number": o.tracking,
                         "estimated_delivery": (o.placed_at + days(4)).date().isoformat(),
                         "events": [{"status": s, "at": at.isoformat()} for s, at in o.statuses]}
            if self.config.ships else {"events": []},  # a restaurant's bill: nothing ships
        }

    async def _send(self, kind: str, data: dict[str, Any]) -> None:
        event: dict[str, Any] = {"type": kind, "timestamp": self.config.clock.now().isoformat(), "data": data}
        self.sent.append(event)
        if self.drop_events > 0:  # lost on the way: the platform's sync makes up for it
            self.drop_events -= 1
            event["status"] = "dropped"
            return
        if self.config.events_url is None:
            return
        body = json.dumps(event, separators=(",", ":"))
        msg_id = f"msg_{secrets.token_hex(12)}"
        now = self.config.clock.now()
        signature = Webhook(self.config.webhook_secret).sign(msg_id, now, body)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": signature, "content-type": "application/json"}
        http = self.config.http or httpx.AsyncClient(timeout=10.0, verify=tls_context())
        try:
            resp = await http.post(self.config.events_url, content=body.encode(), headers=headers)
            event["status"] = resp.status_code
        finally:
            if self.config.http is None:
                await http.aclose()


def tracking_number(seed: str) -> str:
    """A UPS-shaped number whose check digit holds (domain/tracking), the same for the same seed."""
    body = "1Z" + hashlib.sha256(seed.encode()).hexdigest()[:15].upper()
    for digit in "0123456789":
        try:
            return parse_tracking_number(body + digit).number
        except InvalidInput:
            continue
    raise AssertionError("one of ten check digits holds")  # pragma: no cover


def days(n: float) -> timedelta:
    return timedelta(days=n)
