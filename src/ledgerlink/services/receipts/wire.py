"""A merchant event's JSON, checked field by field into a `Receipt` (what, where, why)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerlink.domain.errors import BadRequest, InvalidInput
from ledgerlink.domain.receipts import SHIPMENT_STATUSES, LineItem, Receipt
from ledgerlink.domain.text import display_line

RETURN_EVENTS = ("return.requested", "return.received")  # the items sent back (`data.return`)
EVENT_TYPES = ("order.placed", "order.updated", "shipment.updated", "order.delivered", "refund.issued",
               *RETURN_EVENTS)
LINK_REVOKED = "link.revoked"  # the shop ended the person's link on its side (ADR 0031)


def _bad(where: str, why: str) -> InvalidInput:
    return InvalidInput(f"{where}: {why}", code="malformed_payload")


def _money(data: dict[str, Any], key: str) -> Decimal:
    raw = data.get(key)
    if not isinstance(raw, str):
        raise _bad(f"data.{key}", "a decimal string is required")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _bad(f"data.{key}", f"{raw!r} is not a decimal amount") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise _bad(f"data.{key}", "an amount of zero or more with at most two decimals")
    return value


def _text(data: dict[str, Any], key: str, *, limit: int = 200, optional: bool = False) -> str | None:
    raw = data.get(key)
    if raw is None and optional:
        return None
    if not isinstance(raw, str) or not raw.strip() or len(raw) > limit:
        raise _bad(f"data.{key}", f"a text of 1 to {limit} characters is required")
    return display_line(raw, key)


def _instant(raw: Any, where: str) -> datetime:
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError:
        raise _bad(where, "an ISO 8601 instant is required") from None
    if at.tzinfo is None:
        raise _bad(where, "the instant needs its UTC offset")
    return at


def _day(raw: Any, where: str) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise _bad(where, "an ISO 8601 date (YYYY-MM-DD) is required") from None


def event_type(body: bytes) -> object:
    """The event's `type`, or None when the body is not a JSON object (parse_event says why)."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return event.get("type") if isinstance(event, dict) else None


def parse_revocation(body: bytes) -> str:
    """The customer id of a `link.revoked` event."""
    event = json.loads(body)
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(data, dict):
        raise _bad("body", "an object with type and data is required")
    return str(_text(data, "customer_id"))


def _version(data: dict[str, Any]) -> int | None:
    raw = data.get("version")
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise _bad("data.version", "a whole number of 1 or more (the order's version)")
    return raw


def _check_return(raw: Any, receipt: Receipt) -> None:
    """A return names items of the order, at most as many as were bought, and what it is worth."""
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list) or not raw["items"]:
        raise _bad("data.return", "an object with the returned items (name, quantity) and amount is required")
    bought = {item.name: item.quantity for item in receipt.items}
    for n, item in enumerate(raw["items"]):
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _bad(f"data.return.items[{n}].quantity", "a whole number of 1 or more")
        name = str(_text(item, "name"))
        if name not in bought:
            raise _bad(f"data.return.items[{n}].name", "not an item of this order")
        if quantity > bought[name]:
            raise _bad(f"data.return.items[{n}].quantity", f"more than the {bought[name]} bought")
    try:
        amount = _money(raw, "amount")
    except InvalidInput:
        raise _bad("data.return.amount", "a decimal string of zero or more, at most two decimals") from None
    if amount > receipt.total:
        raise _bad("data.return.amount", "more than the order's total")


def parse_event(body: bytes, *, snapshot: bool = False) -> tuple[str, dict[str, Any], Receipt]:
    """An event, or with `snapshot` an order of the shop's orders feed (its latest state: a
    refund is what `refunded` grew by, so `refund` is not needed)."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not JSON", code="malformed_json") from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise _bad("body", "an object with type and data is required")
    kind = event.get("type")
    if kind not in EVENT_TYPES:
        raise InvalidInput(f"unknown merchant event type {kind!r}", code="unknown_event_type")
    data: dict[str, Any] = event["data"]
    items_raw = data.get("items")
    if not isinstance(items_raw, list) or not 1 <= len(items_raw) <= 200:
        raise _bad("data.items", "a list of 1 to 200 line items is required")
    items = []
    for n, item in enumerate(items_raw):
        if not isinstance(item, dict) or not isinstance(item.get("quantity"), int) or item["quantity"] < 1:
            raise _bad(f"data.items[{n}]", "name, a quantity of 1 or more and unit_price")
        items.append(LineItem(str(_text(item, "name")), item["quantity"], _money(item, "unit_price")))
    ship = data.get("shipment") or {}
    timeline = []
    for n, step in enumerate(ship.get("events") or []):
        if not isinstance(step, dict) or step.get("status") not in SHIPMENT_STATUSES:
            raise _bad(f"data.shipment.events[{n}]", f"status is one of {', '.join(SHIPMENT_STATUSES)}")
        at = _instant(step.get("at"), f"data.shipment.events[{n}].at")
        timeline.append({"status": step["status"], "at": at.isoformat()})
    last4 = data.get("card_last4")
    if last4 is not None and (not isinstance(last4, str) or len(last4) != 4 or not last4.isdigit()):
        raise _bad("data.card_last4", "four digits")
    currency = _text(data, "currency", limit=3)
    receipt = Receipt(
        order_ref=str(_text(data, "order_id")), shop=str(_text(data, "shop")), currency=str(currency),
        items=items, subtotal=_money(data, "subtotal"), tax=_money(data, "tax"),
        shipping=_money(data, "shipping"), total=_money(data, "total"), card_last4=last4,
        placed_at=_instant(data.get("placed_at"), "data.placed_at"),
        shipped_at=(None if data.get("shipped_at") is None
                    else _instant(data["shipped_at"], "data.shipped_at")),
        order_url=_text(data, "order_url", limit=500, optional=True),
        carrier=_text(ship, "carrier", optional=True), tracking=_text(ship, "tracking_number", optional=True),
        timeline=timeline, eta=_day(ship.get("estimated_delivery"), "data.shipment.estimated_delivery"))
    receipt.check()
    if kind in RETURN_EVENTS:
        _check_return(data.get("return"), receipt)
    refund = _money(data, "refund") if kind == "refund.issued" and not snapshot else Decimal(0)
    refunded = None if data.get("refunded") is None else _money(data, "refunded")
    return str(kind), {"customer_id": _text(data, "customer_id"), "refund": refund, "refunded": refunded,
                       "version": _version(data)}, receipt
