"""A tracking number pasted into a thread is answered by services/receipts/tracking.py, before
any other command and before a bank's customer service could get it."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerlink.services.questions.commands import commands, normalise
from ledgerlink.services.receipts import tracking


def _first_command(text: str) -> str | None:
    said = normalise(text)
    return next((c.name for c in commands() if (m := c.pattern.fullmatch(said)) and c.accepts(m)), None)


@pytest.mark.parametrize("text", ["1Z5R89390357567127", "track 1Z5R89390357567128",
                                  "My tracking number is 9400 1112 0108 0805 4830 16", "3318810025"])
def test_a_pasted_number_goes_to_the_tracking_command(text: str) -> None:
    assert _first_command(text) == "tracking number"


@pytest.mark.parametrize("text", ["balance", "tell me about purchases over 300", "1",
                                  "budget 300 for restaurants", "how much did i spend on 1234567890 things"])
def test_other_messages_are_not_taken_for_tracking_numbers(text: str) -> None:
    assert _first_command(text) != "tracking number"


@pytest.mark.parametrize("text", ["5551234567", "555 123 4567", "call me on 5551234567",
                                  "123456789013", "is 12345678901234567891"])
def test_a_bare_run_of_digits_that_is_no_valid_number_goes_on_to_customer_service(text: str) -> None:
    # 5551234567 has DHL's shape but not its check digit (555123456 mod 7 is 6, not 7): a phone
    # number for the bank's agent, which must reach the bank, not get a tracking answer.
    assert _first_command(text) is None


@pytest.mark.parametrize("text", ["track 5551234567", "my parcel is 5551234567", "tracking 123456789013",
                                  "1Z5R89390357567128", "9400111201080805483017", "986578788855"])
def test_a_number_with_a_word_a_carrier_prefix_or_a_valid_check_digit_is_tracking(text: str) -> None:
    # with "track"/"parcel", or UPS 1Z / USPS 94.., even a wrong check digit is answered here
    # (and told so); 986578788855 is FedEx's published example, valid.
    assert _first_command(text) == "tracking number"


async def _reply(text: str) -> str:
    match = tracking.PATTERN.fullmatch(normalise(text))
    assert match is not None
    none: Any = None
    answer, actions = await tracking.reply(none, none, none, match)
    assert actions == []
    return answer


async def test_a_number_with_a_wrong_check_digit_is_answered_specifically_without_repeating_it() -> None:
    answer = await _reply("track 1Z5R89390357567128")
    assert answer.startswith("That doesn't look like a tracking number: the check digit is wrong")
    assert "89390357567128" not in answer.upper()


async def test_a_valid_number_is_answered_with_its_carrier_and_masked() -> None:
    answer = await _reply("9400 1112 0108 0805 4830 16")
    assert "USPS" in answer
    assert "94••••••••••••••••3016" in answer
    assert "9400111201080805483016" not in answer
