"""The merchant rules' prefilter (domain/categories.py `_ANY_RULE`, `_ANY_KEYED_RULE`) only
skips texts that no rule matches: categorising with it gives what trying every rule in order
gives."""

from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest

from ledgerlink.domain import categories
from ledgerlink.domain.money import Money

# Texts that hit each rule, that almost hit one (a word boundary or an anchor missing), and
# that hit none (the bench's unique merchants among them).
WORDS = [
    "SPOTIFY", "NETFLIX", "HULU", "DISNEY PLUS", "DISNEY+", "HBO MAX", "MAX.COM", "AMZN MKTP*2K3L",
    "AMAZON PRIME", "PRIME VIDEO", "AUDIBLE", "APPLE.COM/BILL", "ITUNES", "UBER *EATS", "UBER TRIP",
    "LYFT", "STARBUCKS", "DUNKIN", "TIM HORTONS", "PEET'S", "SQ *BLUE BOTTLE #0042 SEATTLE WA",
    "COSTA COFFEE", "WHOLEFDS", "TRADER JOE S", "COSTCO", "XFINITY", "VZWRLSS", "AT & T", "ATT*BILL",
    "T-MOBILE", "PLANET FIT", "GEICO", "ESPRESSO", "CAFE", "PAYROLL", "DIRECT DEPOSIT", "RENT",
    "RENTAL PAYMENT", "OVERDRAFT", "FEE", "ATM", "ZELLE", "CASH APP",
    "XSPOTIFYX", "NETFLIXES", "FEES", "AMAX.COM", "ATMOS", "XRENT", "PAYROLLS", "UBERX",
    "BENCH 41707T-0000123", "SHELL", "CHIPOTLE 1234", "7-ELEVEN 33812", "FOO INC", "", "*",
]


def _one_by_one(text: str, amount: Money, *, keyed: bool) -> str | None:
    """The name of the first rule matching `text`, every rule tried in order (no prefilter)."""
    for rule in categories._RULES:
        if keyed and not rule.key:
            continue
        if not keyed and rule.money_in is not None and rule.money_in != (amount.amount > 0):
            continue
        if rule.pattern.search(text):
            return rule.name
    return None


def _texts(count: int) -> list[str]:
    rng = random.Random(12)
    return [rng.choice(["", " ", "X", " | "]).join(rng.choice(WORDS) for _ in range(rng.randint(0, 3)))
            + rng.choice(["", " #12", " SAN FRANCISCO CA", " LLC", " | POS DEBIT"]) for _ in range(count)]


@pytest.mark.parametrize("amount", [Decimal("-4.50"), Decimal("1200.00")])
def test_the_rule_found_with_the_prefilter_is_the_first_rule_that_matches(amount: Decimal) -> None:
    money = Money(amount, "USD")
    matched = 0
    for text in _texts(4000):
        rule = categories._rule_for(text, money)
        expected = _one_by_one(text, money, keyed=False)
        assert (rule.name if rule else None) == expected, text
        matched += expected is not None
    assert 0 < matched < 4000  # both kinds of text were tried


def test_a_merchant_key_named_by_a_rule_is_found_through_the_prefilter() -> None:
    money = Money(Decimal("-1"), "USD")
    keyed = 0
    for text in _texts(4000):
        name = _one_by_one(text.strip(), money, keyed=True)
        if name is not None:
            rule = next(r for r in categories._RULES if r.name == name)
            assert categories.merchant_key(text) == rule.key, text
            keyed += 1
    assert keyed > 100


def test_every_rule_pattern_matches_only_texts_its_prefilter_matches() -> None:
    for text in _texts(4000) + WORDS:
        for rule in categories._RULES:
            if rule.pattern.search(text):
                assert categories._ANY_RULE.search(text), (rule.name, text)


def test_a_rule_pattern_the_prefilter_cannot_widen_safely_is_refused() -> None:
    negated = categories._Rule("odd", "ODD", re.compile(r"[^A]BC"), categories.Category.OTHER)
    with pytest.raises(ValueError, match="not supported by the prefilter"):
        categories._any_of((negated,))


def test_a_city_at_the_end_is_dropped_as_when_every_city_is_tried_longest_first() -> None:
    rng = random.Random(5)
    cities = [" ".join(c) for c in categories._CITIES]
    words = ["SHELL", "BLUE", "TOKYO", "GINZA", "NEW", "YORK", "SAN", "CITY", "SALT", "LAKE", "CA", "LLC"]
    dropped = 0
    for _ in range(3000):
        toks = [rng.choice([*words, rng.choice(cities)]) for _ in range(rng.randint(1, 4))]
        toks = " ".join(toks).split()
        expected = list(toks)
        for city in categories._CITIES:  # the cities as listed: longest first, first match wins
            if len(expected) > len(city) and expected[-len(city):] == city:
                del expected[-len(city):]
                break
        got = list(toks)
        for n, suffixes in categories._CITY_SUFFIXES:
            if len(got) > n and tuple(got[-n:]) in suffixes:
                del got[-n:]
                break
        assert got == expected, toks
        dropped += got != toks
        name = " ".join(toks)
        if "LLC" not in toks and not any(t in categories._STATES for t in toks):
            assert categories.merchant_key(name).split() == [t for t in expected], name
    assert dropped > 100
