"""The first words of a bank thread (issue 13): plurals and a date as the person reads them."""

from __future__ import annotations

from datetime import UTC, datetime

from ledgerlink.services.linking.activation import linked_text

UNTIL = datetime(2027, 3, 5, 3, 0, tzinfo=UTC)


def test_one_account_is_one_account_and_the_date_is_in_words() -> None:
    text = linked_text("Sandbox Bank", 1, UNTIL, None)
    assert text.startswith("Sandbox Bank is linked. 1 account shared; consent valid until Mar 5, 2027.")
    assert "(s)" not in text and "2027-03" not in text


def test_several_accounts_take_the_plural() -> None:
    assert "3 accounts shared" in linked_text("Sandbox Bank", 3, UNTIL, None)
    assert "0 accounts shared" in linked_text("Sandbox Bank", 0, UNTIL, None)


def test_the_last_day_is_on_the_persons_calendar() -> None:
    # 03:00 UTC on 5 March is still the evening of 4 March in Los Angeles
    assert "valid until Mar 4, 2027." in linked_text("Sandbox Bank", 2, UNTIL, "America/Los_Angeles")
    assert "valid until Mar 5, 2027." in linked_text("Sandbox Bank", 2, UNTIL, "Europe/Berlin")


def test_another_locale_writes_its_own_date() -> None:
    assert "5 mars 2027" in linked_text("Sandbox Bank", 2, UNTIL, None, locale="fr_FR")
