"""What the person's answers to "Is this your order?" change in matching: a confirmed
descriptor names the shop from then on; a refused charge is never offered for that order."""

from __future__ import annotations

from tests.unit.test_receipt_matching import _charge, _receipt

from ledgerlink.domain.receipts import clean_descriptor
from ledgerlink.domain.receipts_match import match_receipt


def test_a_descriptor_the_person_confirmed_makes_the_match_sure() -> None:
    marketplace = _charge("t1", descriptor="AMZN MKTP*5RFJAT BOSTON MA", merchant="Amazon")
    doubtful = match_receipt(_receipt(), [marketplace])
    assert doubtful is not None and not doubtful.sure
    alias = clean_descriptor(marketplace.descriptor)[0]
    sure = match_receipt(_receipt(), [marketplace], aliases=frozenset({alias}))
    assert sure is not None and (sure.transaction_id, sure.sure) == ("t1", True)


def test_a_refused_charge_is_never_a_candidate_again() -> None:
    marketplace = _charge("t1", descriptor="AMZN MKTP*5RFJAT BOSTON MA", merchant="Amazon")
    assert match_receipt(_receipt(), [marketplace], refused=frozenset({"t1"})) is None
    other = _charge("t2", descriptor="PAYPAL *ACME SEATTLE WA")
    found = match_receipt(_receipt(), [marketplace, other], refused=frozenset({"t1"}))
    assert found is not None and (found.transaction_id, found.sure) == ("t2", True)
