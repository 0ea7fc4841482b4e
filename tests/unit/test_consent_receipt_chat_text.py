"""The consent receipt's chat message reads in words, with the day on the person's calendar."""

from __future__ import annotations

from datetime import UTC, datetime

from ledgerlink.services.linking.consent_receipts import chat_text

_EXPIRES = datetime(2027, 3, 4, 23, 30, tzinfo=UTC)


def test_the_message_names_what_is_shared_in_words_not_scope_codes() -> None:
    text = chat_text(bank="Sandbox Bank", accounts=3, scopes=["balances", "transactions", "alerts"],
                     expires_at=_EXPIRES, zone=None)
    assert text.startswith(
        "Your consent receipt for Sandbox Bank: 3 accounts sharing your balances, current and available; "
    )
    assert "; and alerts from your bank, such as large purchases and security notices." in text
    assert "balances, transactions, alerts" not in text


def test_the_message_says_what_the_data_is_never_used_for_in_the_consent_pages_words() -> None:
    text = chat_text(bank="B", accounts=1, scopes=["balances"], expires_at=_EXPIRES, zone=None)
    assert "1 account sharing your balances, current and available." in text
    assert "never used for advertising, profiling or scoring you, or selling your data." in text


def test_the_valid_until_day_is_a_locale_date_not_iso() -> None:
    text = chat_text(bank="B", accounts=2, scopes=["transactions"], expires_at=_EXPIRES, zone=None)
    assert "Valid until Mar 4, 2027." in text
    assert "2027-03-04" not in text


def test_the_valid_until_day_is_the_persons_own_calendar_day() -> None:
    # 23:30 UTC on 4 Mar is already 5 Mar in Berlin and still 4 Mar in New York
    berlin = chat_text(bank="B", accounts=2, scopes=["balances"], expires_at=_EXPIRES, zone="Europe/Berlin")
    new_york = chat_text(bank="B", accounts=2, scopes=["balances"], expires_at=_EXPIRES,
                         zone="America/New_York")
    assert "Valid until Mar 5, 2027." in berlin
    assert "Valid until Mar 4, 2027." in new_york


def test_another_locale_gets_its_own_date_and_list_words() -> None:
    text = chat_text(bank="B", accounts=2, scopes=["balances"], expires_at=_EXPIRES, zone=None,
                     locale="de_DE")
    assert "04.03.2027" in text
    assert "profiling or scoring you oder selling your data" in text
