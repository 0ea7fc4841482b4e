"""Which purchase a bank refund gives back (domain/receipts.find_refunded_purchase)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledgerlink.domain.receipts import Purchase, find_refunded_purchase, refund_descriptor

D = Decimal


def _p(tid: str, amount: str, day: date, descriptor: str = "IKEA 1234 SEATTLE WA",
       merchant: str | None = "IKEA", refunded: str = "0", currency: str = "USD") -> Purchase:
    return Purchase(tid, D(amount), currency, day, descriptor, merchant, D(refunded))


def _find(purchases: list[Purchase], amount: str = "19.99", day: date = date(2026, 12, 4),
          descriptor: str = "REFUND IKEA 1234 SEATTLE WA", merchant: str | None = "IKEA",
          reference: str | None = None, currency: str = "USD") -> str | None:
    link = find_refunded_purchase(amount=D(amount), currency=currency, day=day, descriptor=descriptor,
                                  merchant=merchant, purchases=purchases, reference=reference)
    return None if link is None else link.original_transaction_id


def test_the_refund_word_is_taken_off_the_descriptor() -> None:
    assert refund_descriptor("refund  PAYPAL *ACME") == "PAYPAL *ACME"
    assert refund_descriptor("RETURN: ZARA 906") == "ZARA 906"


def test_the_same_merchant_within_the_window_is_the_original() -> None:
    assert _find([_p("a", "48.17", date(2026, 11, 30))]) == "a"


def test_the_banks_reference_wins_over_the_merchant_rule() -> None:
    purchases = [_p("a", "48.17", date(2026, 12, 1)), _p("b", "30.00", date(2026, 11, 2), merchant="Zara",
                                                         descriptor="ZARA 906")]
    assert _find(purchases, reference="b") == "b"
    assert _find(purchases, reference="unknown") == "a"


def test_a_purchase_whose_unrefunded_amount_equals_the_refund_is_preferred_then_the_latest() -> None:
    purchases = [_p("old_exact", "19.99", date(2026, 10, 1)), _p("new", "80.00", date(2026, 12, 2))]
    assert _find(purchases) == "old_exact"
    two = [_p("older", "80.00", date(2026, 10, 1)), _p("newer", "80.00", date(2026, 12, 2))]
    assert _find(two) == "newer"


def test_no_original_outside_the_window_after_the_refund_or_with_too_little_left() -> None:
    assert _find([_p("a", "48.17", date(2026, 5, 1))]) is None  # 217 days before
    assert _find([_p("a", "48.17", date(2026, 12, 5))]) is None  # after the refund
    assert _find([_p("a", "48.17", date(2026, 12, 1), refunded="40.00")]) is None  # 8.17 left
    assert _find([_p("a", "48.17", date(2026, 12, 1), currency="EUR")]) is None


def test_another_merchant_is_not_the_original_and_the_descriptor_matches_without_a_merchant_name() -> None:
    assert _find([_p("a", "48.17", date(2026, 12, 1), merchant="Zara", descriptor="ZARA 906")]) is None
    bare = _p("a", "48.17", date(2026, 12, 1), merchant=None, descriptor="PAYPAL *ACME")
    assert _find([bare], merchant=None, descriptor="REFUND PAYPAL *ACME") == "a"
