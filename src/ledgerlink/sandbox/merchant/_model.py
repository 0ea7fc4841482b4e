"""The sandbox shop's data: its products, configuration, the card the checkout form takes,
orders and the problems it answers with (`shop.SandboxShop` holds the state)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import httpx

from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.sandbox.merchant._oauth import ShopClient

CENT = Decimal("0.01")
TAX_RATE = Decimal("0.08")
SHIPPING = Decimal("4.99")

# pay(login, account_id, processor merchant name, amount) -> the bank's transaction id. The
# sandbox bank's purchase hook: the bank books the card charge with that processor's descriptor.
Pay = Callable[..., Awaitable[str]]
# capture(the bank's pending id) -> the posted id: e-commerce charges at shipment (the card
# network's capture), so the parcel's pick-up settles the charge. refund_payment(posted id,
# amount=...) -> the refund's id: a return gives the money back on the card.
Capture = Callable[..., Awaitable[str]]  # (pending id, final_amount=None): a tip posts more
RefundPayment = Callable[..., Awaitable[str]]
# charge_card(pan=, exp_month=, exp_year=, cvc=, merchant=, amount=) -> (the bank's pending id,
# the card's last 4): the checkout form's card, authorised by the bank as a card network would.
# A refusal is a ShopProblem (402 card_unknown, card_cvc_wrong, ...) that never names the number.
ChargeCard = Callable[..., Awaitable[tuple[str, str]]]
Void = Callable[[str], Awaitable[str]]

# How the shop is paid, and so which processor's name the card statement prints
# (sandbox/merchants.py SHOPS: "PAYPAL *ACME", "SQ *ACME", "ACME OUTFITTERS").
PROCESSORS = {"direct": "Acme Outfitters", "paypal": "PayPal", "square": "Square", "marketplace": "Amazon"}
# What the sandbox bank charges a card in USD for one unit of the order's currency: the
# reference rate (domain/receipts_match.REFERENCE_RATES: EUR 1.0800) plus a 1.5 % card
# markup, as a bank converting a foreign-currency purchase would.
BANK_RATES = {"USD": Decimal(1), "EUR": Decimal("1.0962")}
MAX_QUANTITY = 20


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price: Decimal
    seller: str | None = None  # a marketplace's: who really sells it


PRODUCTS: dict[str, Product] = {p.sku: p for p in (
    Product("SOCK-2", "Trail socks", Decimal("9.99")),
    Product("CAP-1", "Canvas cap", Decimal("21.00")),
    Product("BOTTLE-1", "Steel bottle", Decimal("19.99")),
    Product("TENT-2", "Two-person tent", Decimal("149.00")),
)}


@dataclass(kw_only=True)
class ShopConfig:
    slug: str = "acme"
    name: str = "Acme Outfitters"
    public_url: str = "http://127.0.0.1:8003"
    events_url: str | None = None  # the platform's POST /partners/merchants/{slug}/events
    webhook_secret: str = field(default="", repr=False)
    clock: Clock = field(default_factory=SystemClock)
    http: httpx.AsyncClient | None = None
    pay: Pay | None = None
    capture: Capture | None = None
    refund_payment: RefundPayment | None = None
    charge_card: ChargeCard | None = None
    void: Void | None = None  # a split order whose second parcel's charge failed: the first is voided
    carrier: str = "UPS"
    products: dict[str, Product] = field(default_factory=lambda: dict(PRODUCTS))
    shipping: Decimal = SHIPPING
    ships: bool = True  # False: nothing to ship (a restaurant), so no parcels
    # A restaurant: the customer adds a tip (0 to 30 % of the bill); the card is authorised for
    # the bill and posts for the bill and the tip, as a card network settles a restaurant's charge.
    tips: bool = False
    # How the shop can be paid -> the bank merchant whose descriptor the card statement prints.
    processors: dict[str, str] = field(default_factory=lambda: dict(PROCESSORS))
    # The parcels move on the clock when `simulate` (between two steps: `ship_step`, checked
    # every `tick_seconds`); always by the admin hook.
    simulate: bool = False
    ship_step: timedelta = timedelta(hours=8)
    tick_seconds: float = 5.0
    # OAuth (ADR 0031): the platform as a client, and the customers who can sign in (sandbox).
    oauth_clients: list[ShopClient] = field(default_factory=list)
    customers: dict[str, str] = field(default_factory=lambda: {"alice": "sandbox", "bob": "sandbox"},
                                      repr=False)
    grant_days: int = 90
    cursor_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)


@dataclass(frozen=True, slots=True)
class CardEntry:
    """What the checkout form asks for. Kept only for the charge; the order keeps the last 4."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)


class ShopProblem(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class Order:
    order_ref: str
    customer: str  # the shop's customer id (the bank login in the sandbox)
    items: list[tuple[Product, int]]
    card_last4: str
    placed_at: datetime
    transaction_id: str
    tracking: str
    statuses: list[tuple[str, datetime]] = field(default_factory=list)
    refunded: Decimal = Decimal(0)
    captured: bool = False  # the charge settled (at pick-up) and can be refunded at the bank
    currency: str = "USD"  # the order's; the card is charged in USD at BANK_RATES
    parcels: list[str] = field(default_factory=list)  # a split shipment: each parcel's charge id
    charges: list[Decimal] = field(default_factory=list)  # each parcel's charge, in the card's USD
    card_refunded: list[Decimal] = field(default_factory=list)  # given back on each parcel's charge
    trackings: list[str] = field(default_factory=list)  # each parcel's tracking number
    returned: dict[int, int] = field(default_factory=dict)  # item index -> quantity sent back
    processor: str = "paypal"
    shipping: Decimal = SHIPPING
    tip: Decimal = Decimal(0)  # in the order's currency; not part of its total
    plan: list[tuple[str, datetime]] = field(default_factory=list)  # the parcels' whole journey
    version: int = 0  # one more at each change (placed, a parcel step, a refund)
    seq: int = 0  # the shop-wide change counter at its latest change: the orders feed's order
    kind: str = "order.placed"  # what its latest change was

    @property
    def subtotal(self) -> Decimal:
        return sum((p.price * q for p, q in self.items), Decimal(0))

    @property
    def tax(self) -> Decimal:
        return (self.subtotal * TAX_RATE).quantize(CENT)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax + self.shipping
