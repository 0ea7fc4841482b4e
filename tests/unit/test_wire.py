from __future__ import annotations

from typing import Any

import pytest

from ledgerlink.domain.banking import TransactionStatus
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.services.ingest.wire import parse_balance, parse_transaction


def _txn(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "transaction_id": "t1",
        "account_id": "a1",
        "status": "posted",
        "pending_transaction_id": "p1",
        "amount": "-12.30",
        "currency": "EUR",
        "booking_date": "2026-11-02",
        "value_date": None,
        "merchant_name": "Lidl",
        "descriptor": "LIDL 42",
        "mcc": "5411",
    }
    base.update(kw)
    return base


def test_a_posted_transaction_names_its_pending_one() -> None:
    txn = parse_transaction(_txn())
    assert txn.status is TransactionStatus.POSTED
    assert txn.pending_transaction_id == "p1"
    assert str(txn.amount) == "-12.30 EUR"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"status": "removed"}, "status"),
        ({"status": "settled"}, "status"),
        ({"transaction_id": "x" * 129}, "transaction_id"),
        ({"transaction_id": ""}, "transaction_id"),
        ({"mcc": "54111"}, "mcc"),
        ({"mcc": "food"}, "mcc"),
        ({"amount": 12.3}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"currency": "EURO"}, "currency"),
        ({"booking_date": "02/11/2026"}, "booking_date"),
        ({"pending_transaction_id": "y" * 200}, "pending_transaction_id"),
    ],
)
def test_bad_fields_are_refused_with_where_and_why(change: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_transaction(_txn(**change))
    assert info.value.code in {"malformed_payload", "bad_amount", "bad_currency"}
    if info.value.code == "malformed_payload":
        assert where in info.value.detail


def test_a_balance_needs_an_aware_instant() -> None:
    ok = {
        "account_id": "a1",
        "current": "10.00",
        "available": None,
        "currency": "USD",
        "as_of": "2026-11-26T10:00:00Z",
    }
    assert parse_balance(ok).available is None
    with pytest.raises(InvalidInput):
        parse_balance({**ok, "as_of": "2026-11-26T10:00:00"})
