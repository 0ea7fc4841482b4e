"""What one message revision looks like on Messenger and on WhatsApp (pure: no I/O).

The input is the channel worker's `OutboundMessage`, whose text is already cut to the person's
disclosure level (and whose receipt is there only at the `full` level); nothing here reads the
card body, so a template can never show more than the level allows. A purchase card's receipt
goes as the receipt template when it is new or its items or totals change. Transaction and
balance cards become a Messenger generic template (title and subtitle taken from that text)
unless the level is `minimal`; prompts carry quick replies
(Messenger) or reply buttons (WhatsApp) whose payload names the message and the answer.
The platforms cannot edit a sent message: a later revision is a short follow-up that quotes
the first (Messenger: in words; WhatsApp: as a reply to it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledgerlink.domain.cards import MESSAGE_PREVIEW, MINIMAL_PREVIEW
from ledgerlink.domain.text import displayable
from ledgerlink.services.messaging.channel_ports import OutboundMessage, ReceiptCard
from ledgerlink.services.messaging.platform_window import Category, Decision

__all__ = [
    "LINK_PROMPT",
    "Outgoing",
    "ReceiptCard",
    "TemplateSpec",
    "messenger_link_prompt",
    "messenger_payload",
    "messenger_plain",
    "messenger_receipt",
    "messenger_text",
    "parse_reply_payload",
    "purchase_category",
    "receipt_is_new",
    "reply_payload",
    "same_view",
    "state_key",
    "state_of",
    "whatsapp_payload",
    "whatsapp_plain",
    "whatsapp_text",
]

REPLY_PREFIX = "LL1"
OPEN_BUTTON = "Open in Ledgerlink"
LINK_PROMPT = (
    "This chat is not linked to a Ledgerlink account, so it gets no account data. "
    "Tap Log in to link it: you sign in to Ledgerlink, and your updates come here."
)
MESSENGER_TEXT_MAX = 2000
BUTTON_TEXT_MAX = 640  # a button template's text (Send API)
BUTTONS_MAX = 3  # buttons on a button template
WHATSAPP_TEXT_MAX = 4096
_ACCOUNT_TAIL = re.compile(r"^(?P<head>.+?) \((?P<account>[^()]{1,80})\)(?P<rest>.*)$", re.S)


def _cut(text: str, limit: int) -> str:
    text = displayable(text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def reply_payload(message_id: str, reply_id: str) -> str:
    """What a quick reply or button sends back: this message, this answer."""
    return f"{REPLY_PREFIX}|{message_id}|{reply_id}"


def parse_reply_payload(payload: str) -> tuple[str, str] | None:
    """(message id, reply id) of a payload we made; None for anything else."""
    parts = payload.split("|")
    if (
        len(parts) != 3
        or parts[0] != REPLY_PREFIX
        or not (0 < len(parts[1]) <= 64 and 0 < len(parts[2]) <= 32)
    ):
        return None
    return parts[1], parts[2]


def state_of(message: OutboundMessage) -> str:
    """What the person sees of a revision: an update that changes nothing here is not sent."""
    return f"{message.text}\x00{message.prompt_status or ''}"


@dataclass(frozen=True, slots=True)
class Outgoing:
    message: OutboundMessage
    decision: Decision
    follow_up: bool = False
    quote: str | None = None  # Messenger follow-up: the first text, when it may be shown again
    reply_to: str | None = None  # WhatsApp follow-up: the first message's wamid
    receipt: bool = False  # Messenger: send the receipt template (new, or its items/totals changed)


def _headline(message: OutboundMessage) -> str:
    """The first line: who speaks, when it is a bank (and whether its signature was checked)."""
    if message.author != "bank":
        return ""
    return f"{message.thread_title or 'Your bank'}{' ✓ verified' if message.verified else ''}\n"


def _follow_up_text(out: Outgoing) -> str:
    message = out.message
    quoted = f"“{_cut(out.quote.splitlines()[0], 120)}”" if out.quote else "your earlier message"
    if message.prompt_status == "answered":
        return f"Answered: {quoted}"
    if message.prompt_status == "expired":
        return f"This question has expired: {quoted}"
    receipt = message.receipt
    if receipt is not None:  # the receipt itself was sent already: the card's line, parcel, refund
        news = [message.text.split("\n", 1)[0], *(x for x in (receipt.parcel, receipt.refund) if x)]
        return f"Update to {quoted}:\n" + "\n".join(news)
    return f"Update to {quoted}:\n{message.text}"


def messenger_text(out: Outgoing) -> str:
    message = out.message
    if out.follow_up:
        return _cut(_follow_up_text(out), MESSENGER_TEXT_MAX)
    text = _headline(message) + message.text
    if message.prompt_status in ("answered", "expired") and not message.quick_replies:
        text += f"\n({message.prompt_status.capitalize()})"
    return _cut(text, MESSENGER_TEXT_MAX)


def _generic(message: OutboundMessage) -> dict[str, Any] | None:
    """A transaction or balance card as a generic template, from its (level-cut) text."""
    text = message.text
    if message.kind not in ("transaction", "balance") or text in (MINIMAL_PREVIEW, MESSAGE_PREVIEW):
        return None
    if message.kind == "balance" and ": " in text:
        account, _, fact = text.partition(": ")
        title, subtitle = fact[:1].upper() + fact[1:], account
    elif (match := _ACCOUNT_TAIL.match(text)) is not None:
        title, subtitle = match["head"], match["account"] + match["rest"]
    else:
        title, subtitle = text, ""
    if message.thread_title:
        subtitle = f"{subtitle} · {message.thread_title}" if subtitle else message.thread_title
    element: dict[str, Any] = {"title": _cut(title, 80), "subtitle": _cut(subtitle, 80)}
    element["buttons"] = [{"type": "web_url", "url": message.thread_url, "title": OPEN_BUTTON}]
    return {
        "attachment": {"type": "template", "payload": {"template_type": "generic", "elements": [element]}}
    }


def _envelope(psid: str, decision: Decision, message: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipient": {"id": psid},
        "messaging_type": decision.messaging_type or "UPDATE",
        "message": message,
    }
    if decision.tag:
        body["tag"] = decision.tag
    return body


def messenger_payload(psid: str, out: Outgoing) -> dict[str, Any]:
    """The Send API body for one revision."""
    message = out.message
    if out.receipt and message.receipt is not None:
        return _envelope(psid, out.decision, messenger_receipt(message.receipt))
    if not out.follow_up and (generic := _generic(message)) is not None:
        return _envelope(psid, out.decision, generic)
    text = messenger_text(out)
    open_prompt = bool(message.quick_replies) and message.prompt_status in (None, "open")
    if open_prompt and len(message.quick_replies) <= BUTTONS_MAX and len(text) <= BUTTON_TEXT_MAX:
        # A button template, not quick replies: Messenger shows quick replies only under the
        # newest message, so the balance update that follows a "Was this you?" would take its
        # answers away; postback buttons stay on the question (a tap after it was answered is
        # refused: "Not taken: this question was already answered").
        buttons = [
            {"type": "postback", "title": _cut(label, 20), "payload": reply_payload(message.message_id, rid)}
            for rid, label in message.quick_replies
        ]
        template = {"template_type": "button", "text": text, "buttons": buttons}
        return _envelope(psid, out.decision, {"attachment": {"type": "template", "payload": template}})
    content: dict[str, Any] = {"text": text}
    if open_prompt:
        content["quick_replies"] = [
            {
                "content_type": "text",
                "title": _cut(label, 20),
                "payload": reply_payload(message.message_id, rid),
            }
            for rid, label in message.quick_replies[:13]
        ]
    return _envelope(psid, out.decision, content)


def messenger_link_prompt(psid: str, link_url: str) -> dict[str, Any]:
    """The only answer an unlinked PSID gets: a button template with the Log in button."""
    return {
        "recipient": {"id": psid},
        "messaging_type": "RESPONSE",
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "button",
                    "text": LINK_PROMPT,
                    "buttons": [{"type": "account_link", "url": link_url}],
                },
            }
        },
    }


def messenger_plain(
    psid: str, text: str, *, messaging_type: str = "RESPONSE", tag: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipient": {"id": psid},
        "messaging_type": messaging_type,
        "message": {"text": _cut(text, MESSENGER_TEXT_MAX)},
    }
    if tag:
        body["tag"] = tag
    return body


# --------------------------------------------------------------------------- receipts (issue 11)


def messenger_receipt(card: ReceiptCard) -> dict[str, Any]:
    """The Send API `message` of a receipt template. An element's `price` is the line's price
    (quantity times unit price, as in the platform's own example); amounts are decimal strings."""
    elements = [
        {"title": _cut(t, 80), "quantity": q, "price": str(Decimal(p) * q), "currency": card.currency}
        for t, q, p in card.lines[:100]
    ]
    summary = {"total_cost": card.total}
    parts = (("subtotal", card.subtotal), ("shipping_cost", card.shipping), ("total_tax", card.tax))
    for name, value in parts:
        if value is not None:
            summary[name] = value
    payload: dict[str, Any] = {
        "template_type": "receipt",
        "recipient_name": _cut(card.recipient_name, 80),
        "order_number": _cut(card.order_number, 64),
        "currency": card.currency,
        "payment_method": card.payment_method,
        "elements": elements,
        "summary": summary,
    }
    if card.merchant_name:
        payload["merchant_name"] = _cut(card.merchant_name, 80)
    if card.order_url:
        payload["order_url"] = card.order_url
    return {"attachment": {"type": "template", "payload": payload}}


def state_key(key: bytes, message: OutboundMessage) -> str:
    """The keyed digest of what a conversation shows of a revision (`state_of`), then of its
    receipt's items and totals: 48 + 1 + 15 characters, the column's 64."""
    view = hmac.new(key, b"state\x00" + state_of(message).encode(), hashlib.sha256).hexdigest()[:48]
    receipt = "-" if message.receipt is None else message.receipt.key
    return f"{view}:{hmac.new(key, b'receipt' + receipt.encode(), hashlib.sha256).hexdigest()[:15]}"


def same_view(old: str, new: str) -> bool:
    """Nothing the person sees changed (an older full-length digest never matches: one re-send)."""
    return old[:49] == new[:49]


def receipt_is_new(old: str | None, new: str, message: OutboundMessage) -> bool:
    """The revision carries a receipt not shown yet in this chat, or with other items or totals."""
    return message.receipt is not None and (old is None or old[48:] != new[48:])


def purchase_category(category: Category, message: OutboundMessage, *, receipt_new: bool) -> Category:
    """A purchase card with a receipt falls under the post-purchase rules: the receipt itself
    (new, or its items or totals changed) as RECEIPT, a parcel or refund line as SHIPPING."""
    if message.receipt is None or category is not Category.UPDATE:
        return category
    return Category.RECEIPT if receipt_new else Category.SHIPPING


# --------------------------------------------------------------------------- WhatsApp


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """A template as approved: its name, language, number of body parameters, and its quick
    reply buttons' labels (their payloads are set per message)."""

    name: str
    language: str
    parameters: int
    buttons: tuple[str, ...] = ()


def whatsapp_text(out: Outgoing) -> str:
    message = out.message
    if out.follow_up:
        if message.prompt_status == "answered":
            return "Answered."
        if message.prompt_status == "expired":
            return "This question has expired."
        return _cut(f"Update: {message.text}", WHATSAPP_TEXT_MAX)
    text = _headline(message) + message.text
    if message.prompt_status in ("answered", "expired") and not message.quick_replies:
        text += f"\n({message.prompt_status.capitalize()})"
    return _cut(text, WHATSAPP_TEXT_MAX)


def _param(text: str) -> dict[str, str]:
    """A template body parameter: one line, no tabs, no run of more than four spaces."""
    flat = re.sub(r"\s*\n\s*", " · ", displayable(text))
    flat = re.sub(r"[\t ]{2,}", " ", flat).strip() or "-"
    return {"type": "text", "text": _cut(flat, 200)}


def _template_params(out: Outgoing, spec: TemplateSpec) -> list[str]:
    message = out.message
    detail = message.text
    if detail in (MESSAGE_PREVIEW, MINIMAL_PREVIEW):
        detail = "the details are in Ledgerlink"
    values = [message.thread_title or "Ledgerlink", detail, message.thread_url]
    return values[: spec.parameters]


def whatsapp_payload(to: str, out: Outgoing, templates: dict[str, TemplateSpec]) -> dict[str, Any]:
    """The Cloud API body for one revision: a template outside the window, else reply buttons
    for an open prompt, else text (a follow-up replies to the first message)."""
    message = out.message
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    if out.decision.template is not None:
        spec = templates[out.decision.template]
        components: list[dict[str, Any]] = [
            {"type": "body", "parameters": [_param(v) for v in _template_params(out, spec)]}
        ]
        for index, (rid, _) in enumerate(message.quick_replies[: len(spec.buttons)]):
            components.append(
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": str(index),
                    "parameters": [{"type": "payload", "payload": reply_payload(message.message_id, rid)}],
                }
            )
        body.update(
            type="template",
            template={"name": spec.name, "language": {"code": spec.language}, "components": components},
        )
        return body
    if out.reply_to:
        body["context"] = {"message_id": out.reply_to}
    if not out.follow_up and message.quick_replies and message.prompt_status in (None, "open"):
        body.update(
            type="interactive",
            interactive={
                "type": "button",
                "body": {"text": _cut(whatsapp_text(out), 1024)},
                "action": {
                    "buttons": [
                        {
                            "type": "reply",
                            "reply": {"id": reply_payload(message.message_id, rid), "title": _cut(label, 20)},
                        }
                        for rid, label in message.quick_replies[:3]
                    ]
                },
            },
        )
        return body
    body.update(type="text", text={"preview_url": False, "body": whatsapp_text(out)})
    return body


def whatsapp_plain(to: str, text: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": _cut(text, WHATSAPP_TEXT_MAX)},
    }
