"""A purchase card's receipt as the channels carry it (issue 11): the card's `receipt` section
(domain/receipts.receipt_section) and refund line mapped to `ReceiptCard`, for the Messenger
receipt template, Matrix's formatted body and the email's HTML part. Only at the `full`
disclosure level: below it the channel text names no merchant or amount, so neither may the
receipt."""

from __future__ import annotations

import html
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.text import displayable
from ledgerlink.services.messaging.channel_ports import ReceiptCard

__all__ = ["channel_text", "parcel_line", "receipt_card", "receipt_html", "refund_line"]

_LAST4 = re.compile(r"••(\d{4})$")


def _amount(value: Any) -> str | None:
    """A decimal string from the section, or None when it is missing or not a number."""
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return str(number) if number.is_finite() else None


def channel_text(kind: CardKind, body: dict[str, Any], text: str, *, level: str) -> str:
    """The text a channel sends: the preview, and under a doubtful-match question ("Is this your
    $42.10 order from Acme?") the charge it asks about (descriptor, day, account), which the web
    card shows beside the question. Below the full level the question is not previewed at all."""
    question = body.get("receipt_question")
    if kind is not CardKind.TEXT or level != "full" or not isinstance(question, dict):
        return text
    charge = question.get("charge")
    return f"{text}\n{displayable(str(charge))}" if charge else text


def parcel_line(section: dict[str, Any]) -> str | None:
    """"Parcel: in transit (UPS 1Z…), arrives 2026-12-09", or None before it ships."""
    status = section.get("shipment_status")
    if not status:
        return None
    line = f"Parcel: {str(status).replace('_', ' ')}"
    if section.get("carrier"):
        tracking = f" {section['tracking']}" if section.get("tracking") else ""
        line += f" ({section['carrier']}{tracking})"
    if section.get("eta") and status != "delivered":
        line += f", arrives {section['eta']}"
    return displayable(line)


def refund_line(body: dict[str, Any]) -> str | None:
    """The bank's refund line wins over the shop's word (as the card shows it)."""
    bank = body.get("bank_refund")
    if isinstance(bank, dict) and bank.get("text"):
        text = str(bank["text"])
    else:
        section = body.get("receipt")
        shop = section.get("refund_text") if isinstance(section, dict) else None
        if not shop:
            return None
        text = f"{shop} (the shop's word)"
    return displayable(text[:1].upper() + text[1:])


def receipt_card(
    kind: CardKind, body: dict[str, Any], *, level: str, recipient_name: str
) -> ReceiptCard | None:
    """The receipt of a purchase card, or None (no receipt, not full level, or a section that
    does not hold what a receipt needs: the channel then sends the card's text alone)."""
    section = body.get("receipt")
    if kind is not CardKind.TRANSACTION or level != "full" or not isinstance(section, dict):
        return None
    lines: list[tuple[str, int, str]] = []
    for item in section.get("items") or []:
        price = _amount(item.get("price")) if isinstance(item, dict) else None
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if price is None or not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            return None
        lines.append((displayable(str(item.get("name") or "Item")), quantity, price))
    total, currency = _amount(section.get("total")), section.get("currency")
    order = section.get("order_ref")
    if not lines or total is None or not isinstance(currency, str) or not order:
        return None
    last4 = _LAST4.search(str(body.get("account") or ""))
    url = section.get("order_url")
    return ReceiptCard(
        order_number=displayable(str(order)),
        currency=currency,
        payment_method=f"Card ••{last4[1]}" if last4 else "Card",
        recipient_name=displayable(recipient_name) or "You",
        merchant_name=displayable(str(section.get("shop") or body.get("merchant") or "")),
        lines=tuple(lines),
        total=total,
        subtotal=_amount(section.get("subtotal")),
        shipping=_amount(section.get("shipping")),
        tax=_amount(section.get("tax")),
        order_url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
        parcel=parcel_line(section),
        refund=refund_line(body),
    )


def receipt_html(receipt: ReceiptCard) -> str:
    """A purchase's receipt for `formatted_body`: the shop and order number, the items with
    quantity and price, the totals, the parcel and refund lines. Every value is escaped: it is
    the merchant's text."""
    e = html.escape
    cur = e(receipt.currency)
    out = [f"<p>Receipt from <strong>{e(receipt.merchant_name or 'the shop')}</strong>, "
           f"order <code>{e(receipt.order_number)}</code></p><ul>"]
    out += [f"<li>{q} × {e(title)} — {e(price)} {cur}</li>" for title, q, price in receipt.lines]
    out.append("</ul><p>")
    sums = [(n, v) for n, v in (("Subtotal", receipt.subtotal), ("Tax", receipt.tax),
                                ("Shipping", receipt.shipping)) if v is not None]
    out += [f"{n} {e(v)} {cur}<br>" for n, v in sums]
    out.append(f"<strong>Total {e(receipt.total)} {cur}</strong></p>")
    out += [f"<p>{e(line)}</p>" for line in (receipt.parcel, receipt.refund) if line]
    if receipt.order_url:
        out.append(f"<p><a href=\"{e(receipt.order_url)}\">The order at the shop</a></p>")
    return "".join(out)
