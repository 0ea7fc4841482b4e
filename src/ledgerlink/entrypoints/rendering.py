"""Message cards -> HTML, shared by the server-rendered pages and the live WebSocket stream.

One function renders a card, so a message pushed live looks exactly like the same message
after a reload, and the browser can swap one for the other in place.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, select_autoescape

import ledgerlink.web
from ledgerlink.services.access import MessageView

__all__ = ["TEMPLATE_DIR", "format_money", "jinja_env", "render_message"]

TEMPLATE_DIR = Path(ledgerlink.web.__file__).parent / "templates"
LOCALE = "en_US"

_STATUS = {"pending": "Pending", "posted": "Posted", "removed": "Cancelled"}
_TONES = frozenset({"info", "success", "warning", "error"})
_ACCOUNT_TYPES = {"checking": "Checking", "savings": "Savings", "credit_card": "Credit card",
                  "loan": "Loan", "other": "Account"}
_MINUS = "\u2212"


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def format_money(amount: object, currency: str, *, signed: bool = False) -> str:
    """`-12.34` USD -> `\u2212$12.34` (a true minus sign) or `$12.34`. Decimal strings, never floats."""
    value = _decimal(amount)
    if value is None:
        return "—"
    text = format_currency(abs(value), currency, locale=LOCALE)
    if value < 0:
        return f"{_MINUS}{text}"
    return f"+{text}" if signed and value > 0 else text


def _format_day(value: object) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        return str(format_date(date.fromisoformat(value), "medium", locale=LOCALE))
    except ValueError:
        return ""


def _format_instant(value: object) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return ""
    return str(format_datetime(instant, "MMM d, HH:mm", tzinfo=instant.tzinfo, locale=LOCALE))


def _safe_href(href: object) -> str | None:
    """Card actions link inside the app only: a relative path, never a script or another site."""
    if isinstance(href, str) and href.startswith("/") and not href.startswith("//") \
            and "\\" not in href:
        return href
    return None


def _card_context(view: MessageView) -> dict[str, Any]:
    body = view.body
    ctx: dict[str, Any] = {"m": view, "kind": view.kind.value, "edited": view.edited_at is not None,
                           "time": format_datetime(view.created_at, "HH:mm", tzinfo=view.created_at.tzinfo,
                                                   locale=LOCALE),
                           "stamp": view.created_at.isoformat()}
    if view.kind.value == "transaction":
        status = str(body.get("status", ""))
        amount = _decimal(body.get("amount"))
        ctx.update(
            status=status, status_label=_STATUS.get(status, status.title()),
            direction="in" if amount is not None and amount > 0 else "out",
            amount_text=format_money(body.get("amount"), str(body.get("currency", "")), signed=True),
            merchant=body.get("merchant") or body.get("descriptor") or "Unknown merchant",
            category=body.get("category") or "Other", account=body.get("account", ""),
            day=_format_day(body.get("booking_date")) or _format_day(view.created_at.date().isoformat()),
        )
    elif view.kind.value == "balance":
        currency = str(body.get("currency", ""))
        ctx.update(
            account=body.get("account", ""),
            account_type=_ACCOUNT_TYPES.get(str(body.get("account_type", "")), "Account"),
            current=None if body.get("current") is None else format_money(body["current"], currency),
            available=None if body.get("available") is None
            else format_money(body["available"], currency),
            as_of=_format_instant(body.get("as_of")),
        )
    else:
        tone = str(body.get("tone", "info"))
        actions = []
        for action in body.get("actions") or []:
            href = _safe_href(action.get("href")) if isinstance(action, dict) else None
            if href is not None:
                actions.append({"label": str(action.get("label", "Open")), "href": href})
        ctx.update(text=str(body.get("text", "")), tone=tone if tone in _TONES else "info",
                   actions=actions, mine=body.get("from") == "person")
    return ctx


@cache
def jinja_env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(),
                       trim_blocks=True, lstrip_blocks=True)


def render_message(view: MessageView) -> str:
    """The card of one message as an HTML fragment (a `<div class="msg">` element)."""
    html = jinja_env().get_template("_card.html").render(_card_context(view))
    return html.strip()
