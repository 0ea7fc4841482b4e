"""The platform takes the shop's `return.*` events (issue 11): the returned items must be items
of the order, no more than were bought, worth no more than its total; else 422 naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.services.receipts.wire import parse_event


def _event(kind: str, sent_back: Any) -> bytes:
    data = {
        "customer_id": "alice",
        "order_id": "ACME-1001",
        "version": 7,
        "shop": "Acme Outfitters",
        "currency": "USD",
        "card_last4": "2760",
        "placed_at": "2026-11-26T10:00:00+00:00",
        "items": [{"name": "Trail socks", "quantity": 3, "unit_price": "9.99"}],
        "subtotal": "29.97",
        "tax": "2.40",
        "shipping": "4.99",
        "total": "37.36",
        "refunded": "0",
        "shipment": {"carrier": "UPS", "events": []},
    }
    if sent_back is not None:
        data["return"] = sent_back
    return json.dumps({"type": kind, "data": data}).encode()


@pytest.mark.parametrize("kind", ["return.requested", "return.received"])
def test_a_return_of_bought_items_is_taken(kind: str) -> None:
    got, extra, receipt = parse_event(
        _event(kind, {"items": [{"name": "Trail socks", "quantity": 1}], "amount": "10.79"})
    )
    assert got == kind and extra["version"] == 7 and receipt.order_ref == "ACME-1001"


@pytest.mark.parametrize(
    ("sent_back", "where"),
    [
        (None, "data.return"),
        ({"items": [], "amount": "1.00"}, "data.return"),
        ({"items": [{"name": "Canvas cap", "quantity": 1}], "amount": "1.00"}, "data.return.items[0].name"),
        (
            {"items": [{"name": "Trail socks", "quantity": 4}], "amount": "1.00"},
            "data.return.items[0].quantity",
        ),
        (
            {"items": [{"name": "Trail socks", "quantity": 0}], "amount": "1.00"},
            "data.return.items[0].quantity",
        ),
        ({"items": [{"name": "Trail socks", "quantity": 1}], "amount": "99.00"}, "data.return.amount"),
        ({"items": [{"name": "Trail socks", "quantity": 1}], "amount": 1.5}, "data.return.amount"),
    ],
)
def test_a_return_naming_other_items_or_too_much_is_refused_naming_the_field(
    sent_back: Any, where: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_event(_event("return.received", sent_back))
    assert caught.value.code == "malformed_payload" and where in caught.value.detail


def test_other_event_types_are_still_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_event(_event("return.lost", None))
    assert caught.value.code == "unknown_event_type"
