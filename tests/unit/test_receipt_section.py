"""The receipt section of a purchase card on the web (`_receipt_section.html`) and in words for
Matrix and email (`domain/receipts.receipt_text` through `cards.plain_text`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledgerlink.domain.cards import plain_text, preview_text
from ledgerlink.domain.chat import CardKind
from ledgerlink.entrypoints.web.rendering import render_message
from ledgerlink.services.messaging.ports import MessageView


def _body(**receipt: Any) -> dict[str, Any]:
    return {"transaction_id": "txn_1", "account": "Checking ••2760", "status": "posted", "amount": "-1049.25",
            "currency": "USD", "direction": "out", "merchant": "Acme Outfitters",
            "descriptor": "PAYPAL *ACME", "category": "Shopping", "mcc": "5999",
            "booking_date": "2026-12-04", "history": [],
            "receipt": {"shop": "Acme Outfitters", "order_ref": "ACME-1001",
                        "order_url": "https://shop.example/orders/ACME-1001", "currency": "USD",
                        "items": [{"name": "Tent <b>", "quantity": 2, "price": "512.13", "total": "1024.26"}],
                        "subtotal": "1024.26", "tax": "20.00", "shipping": "4.99", "total": "1049.25",
                        "carrier": "UPS", "tracking": "1Z999AA10123456784",
                        "timeline": [{"status": "in_transit", "at": "2026-12-05T09:30:00+00:00"}],
                        "shipment_status": "in_transit", "eta": "2026-12-08", "refunded": None,
                        "refund_text": None, "why": "matched: same amount, card ••2760, same day",
                        **receipt}}


def _html(body: dict[str, Any]) -> str:
    view = MessageView("msg_1", "thr_1", 1, 1, CardKind.TRANSACTION, "txn:txn_1", body,
                       datetime(2026, 12, 4, 12, tzinfo=UTC), None)
    return render_message(view)


def test_the_section_shows_items_totals_order_link_and_parcel_with_locale_formatted_money() -> None:
    html = _html(_body())
    assert 'data-testid="receipt"' in html
    assert "$1,024.26" in html and "$1,049.25" in html and "@ $512.13" in html
    assert "Tent &lt;b&gt;" in html  # escaped
    assert 'href="https://shop.example/orders/ACME-1001"' in html and 'rel="noopener noreferrer"' in html
    assert "In transit" in html and "Arrives Dec 8, 2026" in html and "1Z999AA10123456784" in html
    assert ">Receipt</span>" in html  # the card already names the shop


def test_an_order_link_that_is_not_http_is_shown_as_text() -> None:
    html = _html(_body(order_url="javascript:alert(1)"))
    assert "javascript:" not in html and "Order ACME-1001" in html


def test_the_banks_refund_line_wins_over_the_shops_word() -> None:
    body = _body(refunded="19.99", refund_text="refunded 19.99 of 1049.25 USD")
    assert "The shop refunded $19.99 of $1,049.25" in _html(body)
    body["bank_refund"] = {"refunded": "19.99", "of": "1049.25", "currency": "USD",
                           "text": "refunded 19.99 of 1049.25 USD"}
    html = _html(body)
    assert "Refunded $19.99 of $1,049.25" in html and "The shop refunded" not in html


def test_a_card_without_a_receipt_has_no_section() -> None:
    body = _body()
    del body["receipt"]
    assert 'data-testid="receipt"' not in _html(body)


def test_text_channels_get_the_receipt_only_at_full_disclosure() -> None:
    body = _body()
    text = plain_text(CardKind.TRANSACTION, body)
    assert "Receipt from Acme Outfitters, order ACME-1001: 2× Tent <b> 1024.26" in text
    assert "Parcel: in transit (UPS 1Z999AA10123456784), arrives 2026-12-08." in text
    body["bank_refund"] = {"refunded": "19.99", "of": "1049.25", "currency": "USD",
                           "text": "refunded 19.99 of 1049.25 USD"}
    assert plain_text(CardKind.TRANSACTION, body).endswith(" Refunded 19.99 of 1049.25 USD.")
    for level in ("amount_hidden", "merchant_hidden", "minimal"):
        assert "Receipt" not in preview_text(CardKind.TRANSACTION, body, level)
