"""The receipt section of a purchase card (issue 11, docs/receipts.md): the card body's
`receipt` and `bank_refund` (plain JSON, `domain/receipts.receipt_section`) as the
`_receipt_section.html` partial shows them, money locale-formatted like the rest of the card."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_date, format_datetime

Money = Callable[[object, str], str]  # rendering.format_money: (amount, currency) -> text

__all__ = ["STEPS", "receipt_context"]

STATUS_LABELS = {"label_created": "Label created", "picked_up": "Picked up", "in_transit": "In transit",
                 "delayed": "Delayed", "out_for_delivery": "Out for delivery", "delivered": "Delivered",
                 "failed_attempt": "Delivery attempt failed", "exception": "Problem with the parcel"}
STEPS = ("label_created", "picked_up", "in_transit", "out_for_delivery", "delivered")  # the compact line
_TROUBLE = frozenset({"delayed", "failed_attempt", "exception"})


def _order_href(url: object) -> str | None:
    """The shop's order page: an http(s) address and nothing else (never a script)."""
    if not isinstance(url, str) or len(url) > 500:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _when(value: object, locale: str) -> str:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return ""
    return str(format_datetime(at, "MMM d, HH:mm", tzinfo=at.tzinfo, locale=locale))


def _day(value: object, locale: str) -> str:
    try:
        return str(format_date(date.fromisoformat(str(value)), "medium", locale=locale))
    except ValueError:
        return ""


def receipt_context(body: dict[str, Any], *, money: Money, locale: str) -> dict[str, Any]:
    """`receipt` (None without one) and `refund_line` for the card template."""
    def _refund_text(refunded: object, of: object, currency: str, *, lead: str = "Refunded") -> str:
        return f"{lead} {money(refunded, currency)} of {money(of, currency)}"

    bank = body.get("bank_refund")
    refund_line = None
    if isinstance(bank, dict):
        refund_line = _refund_text(bank.get("refunded"), bank.get("of"), str(bank.get("currency", "")))
    r = body.get("receipt")
    if not isinstance(r, dict):
        return {"receipt": None, "refund_line": refund_line}
    cur = str(r.get("currency", ""))
    items = [{"name": str(i.get("name", "")), "quantity": int(i.get("quantity") or 0),
              "price": money(i.get("price"), cur), "total": money(i.get("total"), cur)}
             for i in r.get("items") or [] if isinstance(i, dict)]
    timeline = [t for t in r.get("timeline") or [] if isinstance(t, dict)]
    done = {str(t.get("status")) for t in timeline}
    status = str(r.get("shipment_status") or "")
    last = timeline[-1] if timeline else None
    if refund_line is None and r.get("refunded"):  # the shop's word, until the bank's refund arrives
        refund_line = _refund_text(r.get("refunded"), r.get("total"), cur, lead="The shop refunded")
    return {"refund_line": refund_line, "receipt": {
        "shop": str(r.get("shop", "")), "order_ref": str(r.get("order_ref", "")),
        "order_href": _order_href(r.get("order_url")), "lines": items,
        "subtotal": money(r.get("subtotal"), cur), "tax": money(r.get("tax"), cur),
        "shipping": money(r.get("shipping"), cur), "total": money(r.get("total"), cur),
        "carrier": r.get("carrier"), "tracking": r.get("tracking"),
        "eta": _day(r.get("eta"), locale) if r.get("eta") and status != "delivered" else "",
        "status": status, "status_label": STATUS_LABELS.get(status, ""),
        "trouble": status in _TROUBLE, "last_when": _when(last.get("at"), locale) if last else "",
        "steps": [{"label": STATUS_LABELS[s], "done": s in done, "current": s == status} for s in STEPS],
        "why": str(r.get("why", "")),
    }}
