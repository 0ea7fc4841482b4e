"""Split shipments, several orders in one charge, tips and FX in the matching rule
(domain/receipts_match.py, docs/receipts.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from ledgerlink.domain.receipts import Charge, LineItem, Receipt
from ledgerlink.domain.receipts_match import MAX_CANDIDATES, amount_fits, match_receipt


def _order(total: str, *, ref: str = "A-1001", shop: str = "Acme Outfitters", currency: str = "USD",
           shipped: int = 2) -> Receipt:
    value = Decimal(total)
    return Receipt(order_ref=ref, shop=shop, currency=currency, items=[LineItem("Thing", 1, value)],
                   subtotal=value, tax=Decimal(0), shipping=Decimal(0), total=value, card_last4="2760",
                   placed_at=datetime(2026, 11, 1, 10, tzinfo=UTC),
                   shipped_at=datetime(2026, 11, 1 + shipped, 9, tzinfo=UTC))


def _charge(tid: str, amount: str, *, day: int = 4, descriptor: str = "PAYPAL *ACME SEATTLE WA",
            currency: str = "USD", mcc: str | None = "5699", merchant: str | None = "PayPal") -> Charge:
    return Charge(tid, Decimal(amount), currency, date(2026, 11, day), descriptor, merchant, "2760", mcc)


def test_an_order_charged_per_parcel_matches_both_charges_and_says_how_they_add_up() -> None:
    charges = [_charge("t1", "30.00", day=3), _charge("t2", "18.17", day=5), _charge("t3", "7.00")]
    match = match_receipt(_order("48.17"), charges)
    assert match is not None
    assert (match.transaction_ids, match.sure) == (("t1", "t2"), True)
    assert match.why == ("matched: 2 charges, $30.00 + $18.17 = $48.17, card ••2760, "
                         "the first same day as shipping")


def test_two_different_sets_of_charges_that_add_up_are_doubtful_not_guessed() -> None:
    charges = [_charge("t1", "30.00"), _charge("t2", "18.17"), _charge("t3", "20.00"),
               _charge("t4", "28.17")]
    match = match_receipt(_order("48.17"), charges)
    assert match is not None and match.sure is False
    assert len(match.transaction_ids) == 2


def test_a_split_with_a_charge_that_does_not_name_the_shop_is_doubtful() -> None:
    charges = [_charge("t1", "30.00"), _charge("t2", "18.17", descriptor="WHOLEFDS 1234", merchant=None)]
    match = match_receipt(_order("48.17"), charges)
    assert match is not None
    assert (match.transaction_ids, match.sure) == (("t1", "t2"), False)


def test_a_split_is_searched_only_among_the_charges_nearest_the_ship_date() -> None:
    near = [_charge(f"n{i}", "1.00", day=3) for i in range(MAX_CANDIDATES)]
    far = [_charge("far1", "30.00", day=10), _charge("far2", "18.17", day=10)]
    assert match_receipt(_order("48.17"), [*near, *far]) is None
    assert match_receipt(_order("48.17"), far) is not None


def test_a_charge_outside_the_window_or_on_another_card_is_never_part_of_a_split() -> None:
    late = _charge("t2", "18.17", day=20)
    other = Charge("t3", Decimal("18.17"), "USD", date(2026, 11, 4), "PAYPAL *ACME", "PayPal", "9999")
    assert match_receipt(_order("48.17"), [_charge("t1", "30.00"), late, other]) is None


def test_one_charge_that_pays_two_waiting_orders_of_the_same_shop_matches_both() -> None:
    first, second = _order("30.00", ref="A-1"), _order("18.17", ref="A-2")
    match = match_receipt(first, [_charge("t1", "48.17")], waiting=[second])
    assert match is not None
    assert (match.transaction_ids, match.order_refs, match.sure) == (("t1",), ("A-1", "A-2"), True)
    assert match.why.startswith("matched: 2 orders in one charge, $30.00 (A-1) + $18.17 (A-2) = $48.17")


def test_two_ways_waiting_orders_add_up_to_one_charge_are_doubtful() -> None:
    waiting = [_order("18.17", ref="A-2"), _order("10.00", ref="A-3"), _order("8.17", ref="A-4")]
    match = match_receipt(_order("30.00", ref="A-1"), [_charge("t1", "48.17")], waiting=waiting)
    assert match is not None and match.sure is False


def test_orders_of_another_shop_are_not_paid_by_the_same_charge() -> None:
    elsewhere = _order("18.17", ref="B-2", shop="Globex Garden")
    assert match_receipt(_order("30.00", ref="A-1"), [_charge("t1", "48.17")], waiting=[elsewhere]) is None


def test_a_restaurant_charge_with_a_tip_within_thirty_percent_matches_and_names_the_tip() -> None:
    bistro = _order("20.00", shop="Trattoria da Luca")
    match = match_receipt(bistro, [_charge("t1", "24.00", descriptor="TRATTORIA DA LUCA", mcc="5812")])
    assert match is not None and match.sure
    assert match.why == "matched: tip $4.00, card ••2760, 1 day after shipping"


def test_a_tip_over_thirty_percent_or_at_a_shop_that_is_not_a_restaurant_is_no_match() -> None:
    bistro = _order("20.00", shop="Trattoria da Luca")
    assert match_receipt(bistro, [_charge("t1", "26.01", descriptor="TRATTORIA DA LUCA", mcc="5812")]) is None
    assert amount_fits(bistro, _charge("t1", "26.00", mcc="5812")) == "tip $6.00"
    assert amount_fits(bistro, _charge("t1", "24.00", mcc="5699")) is None
    assert amount_fits(bistro, _charge("t1", "19.00", mcc="5812")) is None


def test_a_euro_order_charged_in_dollars_within_the_fx_band_matches_and_shows_the_rate() -> None:
    eur = _order("45.00", currency="EUR")
    match = match_receipt(eur, [_charge("t1", "49.32")])  # 45 * 1.08 = 48.60, +1.5 %
    assert match is not None and match.sure
    assert match.why == ("matched: €45.00 paid as $49.32 at 1.0960 USD/EUR (reference 1.0800, "
                         "within ±3%), card ••2760, 1 day after shipping")


def test_a_converted_charge_outside_the_fx_band_or_without_a_reference_rate_is_no_match() -> None:
    eur = _order("45.00", currency="EUR")
    assert match_receipt(eur, [_charge("t1", "50.07")]) is None  # +3.02 %
    assert match_receipt(eur, [_charge("t1", "47.13")]) is None  # -3.02 %
    assert match_receipt(eur, [_charge("t1", "48.60", currency="CHF")]) is None
    assert match_receipt(eur, [_charge("t1", "48.60")], rates={}) is None


def test_two_converted_charges_in_the_band_are_doubtful() -> None:
    eur = _order("45.00", currency="EUR")
    match = match_receipt(eur, [_charge("t1", "48.60", day=4), _charge("t2", "49.10", day=6)])
    assert match is not None
    assert (match.transaction_ids, match.sure) == (("t1",), False)


def test_an_exact_single_charge_wins_over_a_split_that_also_adds_up() -> None:
    charges = [_charge("t1", "48.17"), _charge("t2", "30.00"), _charge("t3", "18.17")]
    match = match_receipt(_order("48.17"), charges)
    assert match is not None
    assert (match.transaction_ids, match.sure) == (("t1",), True)
