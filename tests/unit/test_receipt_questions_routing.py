"""Which command a receipt question goes to (issue 11): the three receipt questions are taken
by their own commands, before the transaction and spending questions that share their words,
and a tracking number or "my receipt address" still goes where it went."""

from __future__ import annotations

import pytest

from ledgerlink.services.questions import commands
from ledgerlink.services.questions.receipt_questions import shop_of
from ledgerlink.services.questions.receipt_reads import shop_matches


def _taken_by(text: str) -> str | None:
    said = commands.normalise(text)
    return next((c.name for c in commands.commands() if (m := c.pattern.fullmatch(said)) and c.accepts(m)),
                None)


@pytest.mark.parametrize(("text", "name"), [
    ("where is my parcel?", "where is my parcel"),
    ("Where are my packages", "where is my parcel"),
    ("where's my delivery", "where is my parcel"),
    ("my parcels", "where is my parcel"),
    ("What did I buy at Acme in November?", "what did I buy"),
    ("what did i order from IKEA last month", "what did I buy"),
    ("show the receipt for the IKEA purchase", "show a receipt"),
    ("Show me the receipt of my Acme order", "show a receipt"),
    ("track 1Z5R89390357567127", "tracking number"),
    ("my receipt address", "receipt address"),
    ("last 5 purchases", "last transactions"),
    ("what did I spend on groceries in October", "spending"),
])
def test_each_question_goes_to_its_command(text: str, name: str) -> None:
    assert _taken_by(text) == name


@pytest.mark.parametrize(("rest", "shop"), [
    ("the ikea purchase", "ikea"), ("my acme order", "acme"), ("the purchase at ikea", "ikea"),
    ("acme outfitters", "acme outfitters"), ("ikea", "ikea"),
])
def test_the_shop_is_read_out_of_the_question(rest: str, shop: str) -> None:
    assert shop_of(rest) == shop


def test_a_shop_is_named_by_the_starts_of_its_words_never_by_a_fragment() -> None:
    assert shop_matches("acme", "Acme Outfitters") and shop_matches("Acme outfit", "Acme Outfitters")
    assert shop_matches("ikea", "IKEA") and shop_matches("the ikea", "IKEA US")
    assert not shop_matches("me", "Acme Outfitters") and not shop_matches("ikea", "Acme Outfitters")
    assert not shop_matches("the", "The Shop") and not shop_matches("", "IKEA")
