"""A purchase card's receipt on the channels (issue 11), the pure parts: the card's receipt
section mapped to `ReceiptCard` (full level only), the Messenger receipt template and when it is
sent again, Matrix's formatted body and the email's HTML part escaping the merchant's text, and
the outbound webhook's receipt section."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from ledgerlink.adapters.channels.email import SmtpChannel
from ledgerlink.adapters.channels.webhook import payload
from ledgerlink.domain.cards import plain_text
from ledgerlink.domain.chat import CardKind
from ledgerlink.services.messaging.channel_ports import OutboundMessage
from ledgerlink.services.messaging.channel_receipts import channel_text, receipt_card
from ledgerlink.services.messaging.matrix_channel import render
from ledgerlink.services.messaging.platform_render import (
    Outgoing,
    messenger_payload,
    purchase_category,
    receipt_is_new,
    same_view,
    state_key,
)
from ledgerlink.services.messaging.platform_window import Category, Decision

HOSTILE = '<script>alert("x")</script> & "socks"'


def _body(*, items: list[dict[str, Any]] | None = None, status: str | None = None,
          refund: str | None = None) -> dict[str, Any]:
    return {
        "transaction_id": "txn_1", "account": "Checking ••2760", "status": "posted", "amount": "-48.17",
        "currency": "USD", "direction": "out", "merchant": "Acme Outfitters", "descriptor": "PAYPAL *ACME",
        "category": "shopping", "mcc": "5651", "booking_date": "2026-11-26", "history": [],
        "merchant_country": "US", "country_name": None, "card_present": False,
        "receipt": {
            "shop": "Acme <b>Outfitters</b>", "order_ref": "A-1001", "order_url": "https://shop.test/o/A-1001",
            "currency": "USD",
            "items": items if items is not None else [
                {"name": HOSTILE, "quantity": 2, "price": "12.00", "total": "24.00"},
                {"name": "Canvas cap", "quantity": 1, "price": "19.99", "total": "19.99"},
            ],
            "subtotal": "43.99", "tax": "3.23", "shipping": "0.95", "total": "48.17",
            "carrier": "UPS" if status else None, "tracking": "1Z999" if status else None,
            "timeline": [], "shipment_status": status, "eta": "2026-11-30" if status else None,
            "refunded": None, "refund_text": refund, "why": "matched: same amount",
        },
    }


def _message(body: dict[str, Any], level: str = "full", **fields: Any) -> OutboundMessage:
    return OutboundMessage(
        delivery_id="dlv_1", type="message.updated", thread_id="thr_1", message_id="msg_1", seq=3, rev=2,
        kind="transaction", text=plain_text(CardKind.TRANSACTION, body), thread_url="https://ll.test/threads/thr_1",
        at=datetime(2026, 11, 26, 9, tzinfo=UTC), channel_id="chn_1", person_id="per_1",
        thread_title="Sandbox Bank", author="bank",
        receipt=receipt_card(CardKind.TRANSACTION, body, level=level, recipient_name="Pat Doe"), **fields,
    )


def test_the_receipt_rides_only_at_the_full_level_and_names_the_card_by_its_last_four() -> None:
    card = receipt_card(CardKind.TRANSACTION, _body(), level="full", recipient_name="Pat Doe")
    assert card is not None and card.payment_method == "Card ••2760" and card.recipient_name == "Pat Doe"
    assert card.lines == ((HOSTILE, 2, "12.00"), ("Canvas cap", 1, "19.99"))
    for level in ("amount_hidden", "merchant_hidden", "minimal"):
        assert receipt_card(CardKind.TRANSACTION, _body(), level=level, recipient_name="Pat") is None
    broken = _body(items=[{"name": "x", "quantity": "two", "price": "1"}])
    assert receipt_card(CardKind.TRANSACTION, broken, level="full", recipient_name="Pat") is None
    assert receipt_card(CardKind.TEXT, _body(), level="full", recipient_name="Pat") is None


def test_messenger_receipt_template_has_the_documented_fields_and_line_prices() -> None:
    message = _message(_body())
    out = Outgoing(message, Decision(True, "tag:POST_PURCHASE_UPDATE", "MESSAGE_TAG", "POST_PURCHASE_UPDATE"),
                   follow_up=True, receipt=True)
    body = messenger_payload("psid-1", out)
    assert body["tag"] == "POST_PURCHASE_UPDATE"
    p = body["message"]["attachment"]["payload"]
    assert (p["template_type"], p["recipient_name"], p["order_number"]) == ("receipt", "Pat Doe", "A-1001")
    assert (p["currency"], p["payment_method"], p["order_url"]) == ("USD", "Card ••2760", "https://shop.test/o/A-1001")
    assert [(e["quantity"], e["price"]) for e in p["elements"]] == [(2, "24.00"), (1, "19.99")]
    assert p["summary"] == {"total_cost": "48.17", "subtotal": "43.99", "shipping_cost": "0.95",
                            "total_tax": "3.23"}
    assert "2760" in p["payment_method"] and "Checking" not in json.dumps(p)


def test_the_template_goes_again_only_when_items_or_totals_change() -> None:
    key = b"k" * 32
    first = _message(_body())
    shipped = _message(_body(status="in_transit"))
    changed = _message(_body(items=[{"name": "Canvas cap", "quantity": 1, "price": "19.99"}]))
    old = state_key(key, first)
    assert len(old) == 64 and receipt_is_new(None, old, first)
    assert not same_view(old, state_key(key, shipped))
    assert not receipt_is_new(old, state_key(key, shipped), shipped)
    assert receipt_is_new(old, state_key(key, changed), changed)
    assert same_view(old, state_key(key, first))
    assert purchase_category(Category.UPDATE, shipped, receipt_new=False) is Category.SHIPPING
    assert purchase_category(Category.UPDATE, first, receipt_new=True) is Category.RECEIPT
    assert purchase_category(Category.FRAUD_PROMPT, first, receipt_new=True) is Category.FRAUD_PROMPT
    # A parcel update is a short follow-up: the parcel line, not the receipt again in words.
    out = Outgoing(shipped, Decision(True, "in_window", "UPDATE"), follow_up=True, quote="Posted: Acme")
    text = messenger_payload("psid-1", out)["message"]["text"]
    assert text.splitlines()[1:] == ["Posted: Acme Outfitters -48.17 USD (Checking ••2760), online",
                                     "Parcel: in transit (UPS 1Z999), arrives 2026-11-30"]
    assert "Canvas cap" not in text


def test_matrix_formats_the_receipt_escaped_and_keeps_the_plain_body() -> None:
    body = _body(status="out_for_delivery", refund="refunded 19.99 of 48.17 USD")
    content = render(_message(body))
    html = content["formatted_body"]
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;Outfitters" in html
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;socks&quot;"
    assert f"<li>2 × {escaped} — 12.00 USD</li>" in html
    assert "order <code>A-1001</code>" in html and "<strong>Total 48.17 USD</strong>" in html
    assert "<p>Parcel: out for delivery (UPS 1Z999), arrives 2026-11-30</p>" in html
    assert "<p>Refunded 19.99 of 48.17 USD (the shop&#x27;s word)</p>" in html
    assert content["body"].startswith("Sandbox Bank\nPosted: Acme Outfitters -48.17 USD (Checking ••2760)")
    assert HOSTILE in content["body"]  # the plain body is text: nothing to escape there


def test_matrix_below_the_full_level_shows_no_receipt() -> None:
    content = render(_message(_body(), level="amount_hidden"))
    assert "<ul>" not in content["formatted_body"]


def test_the_email_has_an_escaped_html_part_with_the_items_and_the_text_part() -> None:
    channel = SmtpChannel("127.0.0.1", 25, "bank@ledgerlink.test")
    mail = channel._compose("pat@example.test", _message(_body()))
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage) and parsed.get_content_type() == "multipart/alternative"
    text_part, html_part = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text_part is not None and html_part is not None
    assert "Receipt from Acme <b>Outfitters</b>, order A-1001" in text_part.get_content()
    html = html_part.get_content()
    assert "<script>" not in html and "<li>1 × Canvas cap — 19.99 USD</li>" in html
    assert 'href="https://ll.test/threads/thr_1"' in html


def test_the_webhook_carries_the_receipt_section() -> None:
    data = payload(_message(_body(status="delivered")))["data"]
    assert data["receipt"]["items"][1] == {"name": "Canvas cap", "quantity": 1, "unit_price": "19.99"}
    assert data["receipt"]["payment_method"] == "Card ••2760"
    assert data["receipt"]["parcel"] == "Parcel: delivered (UPS 1Z999)"
    assert "receipt" not in payload(_message(_body(), level="minimal"))["data"]


def test_a_receipt_question_carries_the_charge_line_on_the_text_channels_at_the_full_level() -> None:
    body = {"text": "Is this your $42.10 order from Acme?", "tone": "info", "actions": [],
            "receipt_question": {"order_id": "ord_1", "transaction_id": "txn_1", "order_ref": "A-1",
                                 "charge": "AMZN MKTP*2K4 · 26 Nov 2026 · Checking ••2760"},
            "quick_replies": [{"id": "yes", "label": "Yes"}], "prompt_status": "open"}
    text = plain_text(CardKind.TEXT, body)
    assert channel_text(CardKind.TEXT, body, text, level="full") == (
        "Is this your $42.10 order from Acme?\nAMZN MKTP*2K4 · 26 Nov 2026 · Checking ••2760")
    hidden = "You have a new message"
    assert channel_text(CardKind.TEXT, body, hidden, level="minimal") == hidden
    assert channel_text(CardKind.TEXT, {"text": "hello"}, "hello", level="full") == "hello"
