"""Message cards -> HTML, shared by the server-rendered pages and the live WebSocket stream.

One function renders a card, so a message pushed live looks exactly like the same message
after a reload, and the browser can swap one for the other in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

import ledgerlink.web
from ledgerlink.domain.text import displayable
from ledgerlink.entrypoints.web.receipts_view import receipt_context
from ledgerlink.services.messaging.ports import MessageView

__all__ = ["TEMPLATE_DIR", "finalize", "format_money", "jinja_env", "render_message"]

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


def _card_context(view: MessageView, zone: tzinfo | None = None) -> dict[str, Any]:
    body = view.body
    ctx: dict[str, Any] = {"m": view, "kind": view.kind.value, "edited": view.edited_at is not None,
                           "time": format_datetime(view.created_at, "HH:mm",
                                                   tzinfo=zone or view.created_at.tzinfo, locale=LOCALE),
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
        ctx.update(country=body.get("country_name"), online=body.get("card_present") is False)
        ctx.update(receipt_context(body, money=format_money, locale=LOCALE))  # receipts (issue 11)
    elif view.kind.value == "balance":
        currency = str(body.get("currency", ""))
        ctx.update(
            account=body.get("account", ""),
            account_type=_ACCOUNT_TYPES.get(str(body.get("account_type", "")), "Account"),
            current=None if body.get("current") is None else format_money(body["current"], currency),
            available=None if body.get("available") is None
            else format_money(body["available"], currency),
            as_of=_format_instant(body.get("as_of")),
            balance_shared=body.get("balance_shared") is not False,
        )
    elif view.kind.value == "declined":
        ctx.update(_declined_context(body))
    elif view.kind.value == "digest":
        ctx.update(_digest_context(body))
    elif view.kind.value == "fraud":
        ctx.update(_fraud_context(view))
    else:
        tone = str(body.get("tone", "info"))
        actions = []
        for action in body.get("actions") or []:
            href = _safe_href(action.get("href")) if isinstance(action, dict) else None
            if href is not None:
                actions.append({"label": str(action.get("label", "Open")), "href": href})
        ctx.update(text=str(body.get("text", "")), tone=tone if tone in _TONES else "info",
                   actions=actions, mine=body.get("from") == "person")
        ctx.update(_dialogue_context(body))
    return ctx


# --------------------------------------------------------------------------- bank dialogue

_DELIVERY = {"sending": "Sending to your bank…", "sent": "Delivered to your bank",
             "failed": "Could not reach your bank"}
_OUTCOMES = {"card_frozen": "Card frozen", "cleared": "All clear"}
_POLICY = {"freeze_card": "the card is frozen until you contact the bank", "allow": "the charge goes through"}


def _dialogue_context(body: dict[str, Any]) -> dict[str, Any]:
    """Who wrote a text card: the bank (verified signature) or the person, sent to the bank."""
    ctx: dict[str, Any] = {}
    if body.get("from") == "bank":
        ctx.update(bank=str(body.get("bank", "Your bank")), verified=body.get("verified") is True)
    to_bank = body.get("to_bank")
    if isinstance(to_bank, dict):
        status = str(to_bank.get("status", ""))
        ctx.update(to_bank_status=status, to_bank_label={
            "sending": f"Sending to {to_bank.get('bank', 'your bank')}…",
            "sent": f"Sent to {to_bank.get('bank', 'your bank')}",
            "failed": f"Not delivered to {to_bank.get('bank', 'your bank')}",
        }.get(status, ""))
    return ctx


def _fraud_context(view: MessageView) -> dict[str, Any]:
    body = view.body
    status = str(body.get("prompt_status", "open"))
    replies = [r for r in body.get("quick_replies") or [] if isinstance(r, dict)]
    answer = next((str(r.get("label")) for r in replies if r.get("id") == body.get("answer")), None)
    return {
        "title": str(body.get("title", "Was this you?")),
        "bank": str(body.get("bank", "Your bank")),
        "verified": body.get("verified") is True,
        "merchant": str(body.get("merchant", "")),
        "amount_text": format_money(body.get("amount"), str(body.get("currency", "")), signed=True),
        "account": str(body.get("account", "")),
        "when": _format_instant(body.get("at")),
        "reason": str(body.get("reason", "")),
        "prompt_status": status,
        "replies": [{"id": str(r.get("id")), "label": str(r.get("label"))} for r in replies]
        if status == "open" else [],
        "answer_label": answer,
        "delivery_label": _DELIVERY.get(str(body.get("delivery")), ""),
        "outcome_label": _OUTCOMES.get(str(body.get("bank_outcome")), ""),
        "expires": _format_instant(body.get("expires_at")),
        "policy": _POLICY.get(str(body.get("on_no_answer")), ""),
        "reminder": body.get("reminder") is True,
    }


# --------------------------------------------------------------------------- message templates


def _actions(body: dict[str, Any]) -> list[dict[str, str]]:
    return [{"label": str(a.get("label", "Open")), "href": href} for a in body.get("actions") or []
            if isinstance(a, dict) and (href := _safe_href(a.get("href"))) is not None]


def _declined_context(body: dict[str, Any]) -> dict[str, Any]:
    """A declined card (services/dialogue/declines.py): what was attempted, why, what to do."""
    where = [str(body["country_name"])] if body.get("country_name") else []
    if body.get("card_present") is False:
        where.append("Online")
    return {
        "title": str(body.get("title", "Card declined")),
        "merchant": str(body.get("merchant", "")),
        "amount_text": format_money(body.get("amount"), str(body.get("currency", ""))),
        "account": str(body.get("account", "")),
        "reason_text": str(body.get("reason_text", "")),
        "advice": str(body.get("advice", "")),
        "when": _format_instant(body.get("at")),
        "where": where,
        "held": body.get("held") is True,
        "actions": _actions(body),
    }


def finalize(value: Any) -> Any:
    """Every `{{ ... }}` of every template goes through here (Jinja's `finalize`): whatever a
    stored row holds, the page can be encoded and shown (a lone surrogate becomes U+FFFD,
    control and bidi characters go; `domain.text.displayable`). Markup stays Markup."""
    if isinstance(value, str):
        clean = displayable(value)
        if clean is not value:
            return Markup(clean) if isinstance(value, Markup) else clean  # noqa: S704 - was Markup
    return value


@cache
def jinja_env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(),
                       trim_blocks=True, lstrip_blocks=True, finalize=finalize)


def render_message(view: MessageView, *, folded: Sequence[Mapping[str, str]] = (),
                   zone: tzinfo | None = None) -> str:
    """The card of one message as an HTML fragment (a `<div class="msg">` element). `folded`:
    alerts about this purchase, shown on its card as a badge and a line (issue 13). `zone`: the
    person's time zone for the card's clock time (the live stream sends UTC; the page's script
    shows it in the same zone)."""
    context = {**_card_context(view, zone), "folded": list(folded)}
    html = jinja_env().get_template("_card.html").render(context)
    return html.strip()


# --------------------------------------------------------------------------- digests


def _rows(value: object) -> list[dict[str, Any]]:
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _digest_item(x: dict[str, Any], currency: str, *, signed: bool) -> dict[str, Any]:
    return {"merchant": str(x.get("merchant", "")), "account": str(x.get("account", "")),
            "day": _format_day(x.get("day")), "pending": x.get("status") == "pending",
            "amount_text": format_money(x.get("amount"), currency, signed=signed)}


def _digest_context(body: dict[str, Any]) -> dict[str, Any]:
    """A digest card (domain/digest_body.py): amounts formatted, links kept inside the app."""
    given = body.get("period")
    period: dict[str, Any] = given if isinstance(given, dict) else {}
    currencies = []
    for c in _rows(body.get("currencies")):
        cur = str(c.get("currency", ""))
        currencies.append({
            "currency": cur,
            "spent": format_money(c.get("spent"), cur),
            "purchases": int(c.get("purchases") or 0),
            "categories": [{"name": str(x.get("name", "")), "count": int(x.get("count") or 0),
                            "amount_text": format_money(x.get("amount"), cur)}
                           for x in _rows(c.get("categories"))],
            "largest": [_digest_item(x, cur, signed=False) for x in _rows(c.get("largest"))],
            "deposited": format_money(c.get("deposited"), cur, signed=True),
            "deposit_count": int(c.get("deposit_count") or 0),
            "deposits": [_digest_item(x, cur, signed=True) for x in _rows(c.get("deposits"))],
            "refunds": None if c.get("refunds") is None else format_money(c.get("refunds"), cur, signed=True),
        })
    balances = [{"bank": str(b.get("bank", "")), "account": str(b.get("account", "")),
                 "current": None if b.get("current") is None
                 else format_money(b["current"], str(b.get("currency", ""))),
                 "available": None if b.get("available") is None
                 else format_money(b["available"], str(b.get("currency", "")))}
                for b in _rows(body.get("balances"))]
    held = [{"bank": str(h.get("bank", "")), "text": str(h.get("text", "")),
             "when": _format_instant(h.get("at"))} for h in _rows(body.get("held"))]
    actions = [{"label": str(a.get("label", "Open")), "href": href}
               for a in _rows(body.get("actions")) if (href := _safe_href(a.get("href"))) is not None]
    return {"digest": str(body.get("digest", "")), "title": str(body.get("title", "Digest")),
            "period_label": str(period.get("label", "")), "currencies": currencies, "balances": balances,
            "held": held, "actions": actions}
