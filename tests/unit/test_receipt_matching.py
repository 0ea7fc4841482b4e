"""Matching a merchant's receipt to the bank's card charge (docs/receipts.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.receipts import (
    Charge,
    LineItem,
    Receipt,
    clean_descriptor,
    receipt_from_json,
    receipt_to_json,
)
from ledgerlink.domain.receipts_match import match_receipt


def _receipt(total: str = "48.17", *, shipped: int | None = 2, last4: str | None = "2760") -> Receipt:
    return Receipt(
        order_ref="A-1001", shop="Acme Outfitters", currency="USD",
        items=[LineItem("Trail socks", 2, Decimal("9.99")), LineItem("Cap", 1, Decimal("21.00"))],
        subtotal=Decimal("40.98"), tax=Decimal("3.28"), shipping=Decimal("3.91"), total=Decimal(total),
        card_last4=last4, placed_at=datetime(2026, 11, 1, 10, tzinfo=UTC),
        shipped_at=None if shipped is None else datetime(2026, 11, 1 + shipped, 9, tzinfo=UTC))


def _charge(tid: str, amount: str = "48.17", *, day: int = 4, descriptor: str = "PAYPAL *ACME SEATTLE WA",
            last4: str = "2760", merchant: str | None = "PayPal") -> Charge:
    return Charge(tid, Decimal(amount), "USD", date(2026, 11, day), descriptor, merchant, last4)


@pytest.mark.parametrize(("descriptor", "shop", "via"), [
    ("PAYPAL *ACME SEATTLE WA", "acme", "PAYPAL"),
    ("SQ *ACME AUSTIN TX", "acme", "SQ"),
    ("AMZN Mktp US*2K4", "amazon", "AMZN MKTP US"),
    ("ACME OUTFITTERS #1234 NEW YORK NY", "acme outfitters", None),
    ("STARBUCKS #5521 SEATTLE WA", "starbucks", None),
])
def test_descriptors_are_cleaned_to_the_shop_and_its_processor(
    descriptor: str, shop: str, via: str | None
) -> None:
    assert clean_descriptor(descriptor) == (shop, via)


def test_one_charge_with_the_same_amount_card_and_shop_after_shipping_is_a_sure_match() -> None:
    match = match_receipt(_receipt(), [_charge("t1", day=4), _charge("t2", "12.00")])
    assert match is not None
    assert (match.transaction_id, match.sure) == ("t1", True)
    assert match.why == "matched: same amount, card ••2760, 1 day after shipping"


def test_another_card_another_amount_or_outside_the_window_is_no_match() -> None:
    charges = [_charge("a", last4="9999"), _charge("b", "48.18"), _charge("c", day=20),
               _charge("d", day=1)]
    assert match_receipt(_receipt(), charges) is None


def test_a_charge_whose_descriptor_names_another_shop_is_only_doubtful() -> None:
    other = _charge("t1", descriptor="TARGET T-1234 AUSTIN TX", merchant="Target")
    match = match_receipt(_receipt(), [other])
    assert match is not None
    assert (match.transaction_id, match.sure) == ("t1", False)


def test_two_equal_candidates_are_doubtful_and_the_closest_day_is_offered() -> None:
    match = match_receipt(_receipt(), [_charge("late", day=8), _charge("near", day=3)])
    assert match is not None
    assert (match.transaction_id, match.sure) == ("near", False)
    assert "same day as shipping" in match.why


def test_the_one_charge_of_the_amount_that_names_the_shop_is_sure_beside_another_shops() -> None:
    """Two orders of one amount at two shops, one card, one day: each receipt is sure of the
    charge that names its shop, whatever other charges of that amount are already there (a CI
    run saw both receipts asked about when both charges were stored before the receipts)."""
    other = _charge("market", descriptor="HARBOR MKT*DAF2PV NEW YORK NY", merchant=None)
    mine = _charge("acme", descriptor="ACME OUTFITTERS #6918 NEW YORK NY", merchant=None)
    for charges in ([other, mine], [mine, other], [mine]):
        match = match_receipt(_receipt(), charges)
        assert match is not None
        assert (match.transaction_id, match.sure) == ("acme", True)


def test_another_linked_shops_own_charge_is_no_candidate_so_the_receipt_waits_for_its_own() -> None:
    """The same two orders, the Acme receipt in before its charge: Harbor's charge (it names
    Harbor Market, a shop the person linked) is not asked about; the receipt waits. A CI run on
    PostgreSQL saw each receipt asked about the other shop's charge."""
    other = _charge("market", descriptor="HARBOR MKT*DAF2PV NEW YORK NY", merchant=None)
    mine = _charge("acme", descriptor="ACME OUTFITTERS #6918 NEW YORK NY", merchant=None)
    linked = frozenset({"Harbor Market"})
    assert match_receipt(_receipt(), [other], others=linked) is None
    assert match_receipt(_receipt(), [other]) is not None  # a shop not linked: still asked
    match = match_receipt(_receipt(), [other, mine], others=linked)
    assert match is not None and (match.transaction_id, match.sure) == ("acme", True)
    # a charge naming both shops (a shared word) names this one too: a candidate as before
    both = _charge("both", descriptor="ACME HARBOR MKT NEW YORK NY", merchant=None)
    match = match_receipt(_receipt(), [both], others=linked)
    assert match is not None and (match.transaction_id, match.sure) == ("both", True)


def test_an_unshipped_order_matches_from_the_order_date() -> None:
    match = match_receipt(_receipt(shipped=None), [_charge("t1", day=1)])
    assert match is not None
    assert match.why.endswith("same day as the order")


def test_numbers_that_do_not_add_up_and_too_large_refunds_are_refused() -> None:
    bad = _receipt("50.00")
    with pytest.raises(InvalidInput) as err:
        bad.check()
    assert err.value.code == "receipt_does_not_add_up"
    good = _receipt()
    good.check()
    good.refund(Decimal("19.99"))
    with pytest.raises(InvalidInput) as err:
        good.refund(Decimal("30.00"))
    assert err.value.code == "refund_too_large"
    assert good.refunded == Decimal("19.99")


def test_a_receipt_survives_its_stored_form() -> None:
    r = _receipt()
    r.timeline.append({"status": "in_transit", "at": "2026-11-03T09:00:00+00:00"})
    assert receipt_from_json(receipt_to_json(r)) == r
