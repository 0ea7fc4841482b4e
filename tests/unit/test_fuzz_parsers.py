"""Property-based fuzzing of every parser that takes outside input (issue 14).

Each parser is fed arbitrary values (any text, surrogates included; bytes decoded leniently;
nested JSON) and mutations of a valid payload (wrong types, huge numbers, NaN, zero and negative
amounts, very long strings, bad dates, extra and missing keys). The property: a well-typed result
(money as Decimal, never float) or one of the project's typed refusals (`InvalidInput` and its
subclasses), never TypeError, KeyError, ValueError, OverflowError, RecursionError, UnicodeError
or a decimal error.

`PROPERTIES` maps a parser's name to (strategy, check): the tests below and `bench/fuzz.py`
(the same properties, many more examples) both run it. The example count of the tests is the
Hypothesis profile named by LEDGERLINK_FUZZ_PROFILE ("ledgerlink-fuzz", 200 examples, default;
"ledgerlink-fuzz-long", LEDGERLINK_FUZZ_EXAMPLES examples, default 5000).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerlink.domain import alerts
from ledgerlink.domain.banking import BankTransaction
from ledgerlink.domain.digest_schedule import Request, Schedule, make_schedule, parse_request
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money
from ledgerlink.domain.questions import NotUnderstood, Question, parse_question
from ledgerlink.services.dialogue import bank_dialogue
from ledgerlink.services.dialogue.declines import Decline, parse_decline
from ledgerlink.services.dialogue.fraud import FraudAlert, parse_fraud_alert
from ledgerlink.services.ingest import front_door, inbox, wire
from ledgerlink.services.ingest.account_events import HANDLERS
from ledgerlink.services.linking.ports import BankBalance
from ledgerlink.services.questions import commands

settings.register_profile(
    "ledgerlink-fuzz", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ledgerlink-fuzz-long",
    max_examples=int(os.environ.get("LEDGERLINK_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FUZZ = settings.get_profile(os.environ.get("LEDGERLINK_FUZZ_PROFILE", "ledgerlink-fuzz"))

# ----------------------------------------------------------------------------- strategies

HOSTILE = ["\x00", "\x1b", "\x7f", "\x85", "\u202e", "\u2028", "\ud800", "\udfff", "\ufffe", "😀", "é",
           "١", "\u00a0", "\t", "\n"]  # fmt: skip
ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),  # every code point, lone surrogates included
    st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp", "Nd"]),
    st.sampled_from(HOSTILE),
)
ANY_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=80),
    st.binary(max_size=80).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.binary(max_size=80).map(lambda b: b.decode("utf-8", "replace")),
    st.builds(lambda s, n: s * n, st.text(ANY_CHAR, min_size=1, max_size=3), st.integers(200, 3000)),
)
HUGE_INTS = st.one_of(
    st.integers(), st.integers(-(10**40), 10**40), st.sampled_from([0, -1, 2**63, -(2**63)])
)
SCALARS = st.one_of(
    st.none(), st.booleans(), HUGE_INTS, st.floats(allow_nan=True, allow_infinity=True), ANY_TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# Hand-picked bad values for one field: numbers, dates and strings that parsers get wrong.
NASTY_STRINGS = [
    "", " ", "NaN", "-NaN", "sNaN", "Infinity", "-inf", "1e100", "-1e100", "1e-100", "1E+999999999",
    "9" * 40, "-0", "0", "0.000", "-0.001", "12,30", " 12.30 ", "0x10", "١٢٣", "1_000", "+5",
    "12.345", "2026-02-30", "2026-13-01", "0000-01-01", "9999-12-31", "2026-11-26T10:00:00",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-11-26T10:00:00+25:00",
    "2026-11-26T10:00:00Z", "Z", "x" * 513, "x" * 129, "a\ud800b", "\u202eevil", "eur", "XXX",
    "EURO", "pending", "posted", "removed", "fr", "EU", "ZZ", "FR", "true", "5411", "541", "54111",
]  # fmt: skip
_PICKED = st.sampled_from(NASTY_STRINGS)
NASTY = st.one_of(
    _PICKED, _PICKED, _PICKED, SCALARS, JSON,  # the hand-picked ones three times as often
    st.integers(1, 80).map(lambda n: "9" * n + ".5"),  # more digits than a Decimal context holds
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat()),
    st.dates().map(str),
)  # fmt: skip

Path = tuple[str, ...]


def _paths(obj: Any, prefix: Path = ()) -> list[Path]:
    """Every key of every dict in `obj` (the dicts themselves included), as paths."""
    out: list[Path] = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.extend(_paths(value, (*prefix, key)))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """`base` with 1-4 fields dropped, replaced by a nasty value, or given a nasty sibling; or,
    now and then, the whole thing replaced."""
    if draw(st.integers(0, 19)) == 0:
        return draw(NASTY)
    obj = copy.deepcopy(base)
    paths = _paths(base)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        parent: Any = obj
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue  # an earlier mutation replaced an enclosing object
        action = draw(st.sampled_from(["drop", "replace", "replace", "replace", "extra"]))
        if action == "drop":
            parent.pop(path[-1], None)
        elif action == "replace":
            parent[path[-1]] = draw(NASTY)
        else:
            parent[draw(st.text(max_size=12))] = draw(NASTY)
    return obj


# Valid payloads (tests/integration/test_bank_events.py `_txn_event`, docs/sandbox-bank.md).
TRANSACTION: dict[str, Any] = {
    "transaction_id": "txn_1", "account_id": "acc_1", "status": "pending",
    "pending_transaction_id": None, "amount": "-9.99", "currency": "EUR",
    "booking_date": "2026-11-26", "value_date": None, "merchant_name": "Corner Bakery",
    "descriptor": "CORNER BAKERY 12", "mcc": "5411", "merchant_country": "FR", "card_present": True,
}  # fmt: skip
BALANCE: dict[str, Any] = {"account_id": "acc_1", "currency": "EUR", "current": "120.50",
                           "available": "100.00", "as_of": "2026-11-26T10:00:00Z"}  # fmt: skip
DECLINE: dict[str, Any] = {"decline": {
    "decline_id": "dec_1", "amount": "12.30", "currency": "EUR", "reason": "insufficient_funds",
    "mcc": "5411", "at": "2026-11-26T10:00:00Z", "merchant_name": "Corner Bakery",
    "merchant_country": "FR", "card_present": False,
}}  # fmt: skip
FRAUD: dict[str, Any] = {"alert": {
    "alert_id": "fa_1", "transaction_id": "txn_1", "merchant_name": "Gadget Shop", "amount": "-499.00",
    "currency": "EUR", "at": "2026-11-26T10:00:00Z", "expires_at": "2026-11-27T10:00:00Z",
    "reason": "unusual location", "remind_after_seconds": 3600, "on_no_answer": "freeze_card",
}}  # fmt: skip


def _envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": "2026-11-26T10:00:00Z",
            "data": {"consent_id": "con_1", "account_id": "acc_1", **data}}  # fmt: skip


ENVELOPES = [
    _envelope("transaction.updated", {"transaction": TRANSACTION}),
    _envelope("balance.updated", {"balance": BALANCE}),
    _envelope("transaction.removed", {"transaction_id": "txn_1"}),
    _envelope("card.declined", DECLINE),
    _envelope("fraud.alert", FRAUD),
    {"type": "consent.revoked", "data": {"consent_id": "con_1"}},
]
CLAIMS: dict[str, Any] = {"jti": "msg_1", "consent_id": "con_1", "kind": "service", "text": "Hello",
                          "in_reply_to": {"message_id": "m_1"}}  # fmt: skip

# Chat lines built from the words the parsers look for, with numbers and hostile bits mixed in.
WORDS = [
    "what", "did", "i", "spend", "spent", "how", "much", "on", "at", "from", "with", "for", "in",
    "the", "my", "last", "this", "past", "days", "week", "month", "year", "today", "yesterday",
    "october", "sept", "feb", "groceries", "fast food & coffee", "home", "transactions", "recent",
    "recurring", "subscriptions", "so far", "total", "please", "digest", "daily", "weekly", "send",
    "me", "stop", "every", "friday", "fridays", "someday", "tues", "noon", "midnight", "pm", "a.m.",
    "utc", "gmt", "+", "-", "alert", "when", "goes", "below", "above", "over", "purchases", "mute",
    "unmute", "balance", "checking", "savings", "card", "home country", "is", "$", ",", ".", ":",
    "?", "!", "’", "0", "1", "8", "12", "13", "24", "25", "99", "999", "1000", "2026", "0000",
    "99999", "1,250", "99.955", "1e9", "00:30", "8:00", "8h15", "١٢", "\ud800", "\u202e", "\x00",
]  # fmt: skip
CHAT = st.one_of(
    ANY_TEXT,
    st.lists(st.one_of(st.sampled_from(WORDS), st.integers(-(10**6), 10**12).map(str), ANY_TEXT),
             max_size=14).map(" ".join),
)  # fmt: skip


# ----------------------------------------------------------------------------- properties


def _refused_or(parse: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`parse(*args, **kwargs)`, or None when it refused with a typed `InvalidInput`; any other
    exception propagates (and fails the property)."""
    refusal: InvalidInput | None = None
    try:
        return parse(*args, **kwargs)
    except InvalidInput as exc:
        refusal = exc
    assert isinstance(refusal.code, str) and refusal.code and isinstance(refusal.detail, str)
    return None


def _money(value: Any) -> None:
    assert isinstance(value, Money)
    assert isinstance(value.amount, Decimal) and value.amount.is_finite()
    assert not isinstance(value.amount, float)


def check_transaction(obj: Any) -> None:
    txn = _refused_or(wire.parse_transaction, obj)
    if txn is not None:
        assert isinstance(txn, BankTransaction)
        _money(txn.amount)
        assert isinstance(txn.bank_transaction_id, str) and isinstance(txn.descriptor, str)
        assert txn.booking_date is None or isinstance(txn.booking_date, date)


def check_balance(obj: Any) -> None:
    bal = _refused_or(wire.parse_balance, obj)
    if bal is not None:
        assert isinstance(bal, BankBalance)
        _money(bal.current)
        if bal.available is not None:
            _money(bal.available)
        assert isinstance(bal.as_of, datetime) and bal.as_of.utcoffset() == timedelta(0)


def check_envelope(obj: Any) -> None:
    out = _refused_or(front_door.validate_event, obj)
    if out is not None:
        event_type, data, account_id, consent_id = out
        assert event_type in inbox.EVENT_TYPES or event_type in HANDLERS
        assert isinstance(data, dict)
        assert account_id is None or isinstance(account_id, str)
        assert consent_id is None or isinstance(consent_id, str)


def check_headers(headers: dict[str, str]) -> None:
    with contextlib.suppress(InvalidInput, inbox.PayloadTooLarge, inbox.UnsupportedMediaType):
        inbox.check_headers(headers)


def check_decline(data: Any) -> None:
    if not isinstance(data, dict):  # the inbox gives it `data`, already checked to be an object
        return
    decline = _refused_or(parse_decline, data)
    if decline is not None:
        assert isinstance(decline, Decline)
        _money(decline.amount)
        assert decline.amount.amount > 0 and isinstance(decline.at, datetime)


def check_fraud_alert(data: Any) -> None:
    if not isinstance(data, dict):
        return
    alert = _refused_or(parse_fraud_alert, data)
    if alert is not None:
        assert isinstance(alert, FraudAlert)
        _money(alert.amount)
        assert alert.at < alert.expires_at and isinstance(alert.merchant, str)


def check_bank_message(claims: Any) -> None:
    """The claims of a bank's message once its signature verified (bank_dialogue.receive_bank_message)."""
    if not isinstance(claims, dict):
        return
    for name, limit, pattern in (
        ("jti", 128, bank_dialogue._ID),
        ("consent_id", 128, None),
        ("kind", 32, None),
    ):
        value = _refused_or(bank_dialogue._claim_text, claims, name, limit=limit, pattern=pattern)
        assert value is None or (isinstance(value, str) and 0 < len(value) <= limit)
    reply_to = _refused_or(bank_dialogue._reply_to, claims)
    assert reply_to is None or (isinstance(reply_to, tuple) and all(isinstance(p, str) for p in reply_to))


def check_question(text: str, today: date) -> None:
    q = parse_question(text, today=today)  # never raises: a Question, what it did not know, or None
    if isinstance(q, NotUnderstood):
        assert isinstance(q.part, str) and isinstance(q.what, str)
    elif q is not None:
        assert isinstance(q, Question)
        assert q.period.start <= q.period.end <= today
        assert q.other is None or q.other.start <= q.other.end <= today
        assert 1 <= q.count <= 50


def check_command(text: str, today: date) -> None:
    """What handle_text does before any I/O: normalise, match a command, parse its groups."""
    said = commands.normalise(text)
    assert isinstance(said, str)
    for cmd in commands.commands():
        m = cmd.pattern.fullmatch(said)
        if m is None:
            continue
        groups = m.groupdict()
        if groups.get("amount") is not None:
            amount = _refused_or(alerts.parse_amount, groups["amount"])
            assert amount is None or (isinstance(amount, Decimal) and amount > 0)
        if groups.get("what") is not None:
            assert commands.alert_account_type(groups["what"]) in (None, "checking", "savings", "credit_card")
        check_question(m.string, today)
        check_digest_request(m.string)


def check_amount(text: str) -> None:
    amount = _refused_or(alerts.parse_amount, text)
    if amount is not None:
        assert isinstance(amount, Decimal) and amount.is_finite() and 0 < amount < alerts.MAX_AMOUNT


def check_digest_request(said: str) -> None:
    req = _refused_or(parse_request, said)
    if req is not None:
        assert isinstance(req, Request)
        assert req.hour is None or 0 <= req.hour <= 23
        assert req.weekday is None or 0 <= req.weekday <= 6
        assert req.utc_offset is None or -12 <= req.utc_offset <= 14


def check_schedule(values: dict[str, Any]) -> None:
    sched = _refused_or(make_schedule, **values)
    if sched is not None:
        assert isinstance(sched, Schedule)
        assert 0 <= sched.hour <= 23 and 0 <= sched.weekday <= 6 and sched.zone == "UTC"


TODAY = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
FORM_VALUE = st.one_of(st.sampled_from(["off", "daily", "weekly", " Weekly ", "friday", "UTC+2", "utc -5",
                                        "8", "23", "24", "-12", "+14", "15", "0", "", "+ 1"]),
                       ANY_TEXT, st.integers(-(10**6), 10**6))  # fmt: skip
HEADER_NAMES = ["content-length", "content-type", "webhook-id"]
HEADERS = st.dictionaries(
    st.one_of(st.sampled_from(HEADER_NAMES), st.text(max_size=10)),
    st.one_of(ANY_TEXT, st.sampled_from(["application/json", "application/cloudevents+json; charset=utf-8",
                                         "999999999", "٣٣٣٣٣٣٣", "+1", "-1", "x" * 151])),
    max_size=4,
)  # fmt: skip


def _one(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.one_of(mutated(base), JSON)


# parser name -> (strategy of argument tuples, check)
PROPERTIES: dict[str, tuple[st.SearchStrategy[tuple[Any, ...]], Callable[..., None]]] = {
    "wire.parse_transaction": (st.tuples(_one(TRANSACTION)), check_transaction),
    "wire.parse_balance": (st.tuples(_one(BALANCE)), check_balance),
    "front_door.validate_event": (st.tuples(st.one_of(*[mutated(e) for e in ENVELOPES], JSON)),
                                  check_envelope),
    "inbox.check_headers": (st.tuples(HEADERS), check_headers),
    "declines.parse_decline": (st.tuples(_one(DECLINE)), check_decline),
    "fraud.parse_fraud_alert": (st.tuples(_one(FRAUD)), check_fraud_alert),
    "bank_dialogue claims": (st.tuples(_one(CLAIMS)), check_bank_message),
    "questions.parse_question": (st.tuples(CHAT, TODAY), check_question),
    "commands (normalise+match)": (st.tuples(CHAT, TODAY), check_command),
    "alerts.parse_amount": (
        st.tuples(st.one_of(st.sampled_from(NASTY_STRINGS), CHAT, st.decimals().map(str))),
        check_amount,
    ),
    "digest_schedule.parse_request": (st.tuples(CHAT.map(commands.normalise)), check_digest_request),
    "digest_schedule.make_schedule": (
        st.tuples(
            st.fixed_dictionaries(
                {"frequency": FORM_VALUE, "hour": FORM_VALUE, "weekday": FORM_VALUE}
            )
        ),
        check_schedule,
    ),
}


def as_test(name: str, profile: settings) -> Callable[[], None]:
    """The property of `name` as a Hypothesis test run with `profile`."""
    strategy, check = PROPERTIES[name]

    @profile
    @given(strategy)
    def run(args: tuple[Any, ...]) -> None:
        check(*args)

    return run


@pytest.mark.parametrize("name", list(PROPERTIES))
def test_parser_refuses_only_with_typed_errors(name: str) -> None:
    as_test(name, FUZZ)()


# Crashes the fuzzing found (fixed): each input once more, exactly.
REGRESSIONS: list[tuple[str, tuple[Any, ...]]] = [
    # Money.quantize raised decimal.InvalidOperation past 28 digits (domain/money.py)
    ("wire.parse_balance", ({**BALANCE, "current": "9" * 40},)),
    ("wire.parse_transaction", ({**TRANSACTION, "amount": "1e100"},)),
    ("front_door.validate_event",
     (_envelope("balance.updated", {"balance": {**BALANCE, "current": "9" * 40}}),)),
    ("declines.parse_decline", ({"decline": {**DECLINE["decline"], "amount": "5" * 30}},)),
    # on_no_answer not hashable: TypeError from `policy not in POLICIES` (dialogue/fraud.py)
    ("fraud.parse_fraud_alert", ({"alert": {**FRAUD["alert"], "on_no_answer": [1]}},)),
    ("fraud.parse_fraud_alert", ({"alert": {**FRAUD["alert"], "on_no_answer": {}}},)),
    # an instant at year 1 or 9999 moved to UTC: OverflowError (ingest/wire.py parse_instant)
    ("wire.parse_balance", ({**BALANCE, "as_of": "0001-01-01T00:00:00+01:00"},)),
    ("fraud.parse_fraud_alert", ({"alert": {**FRAUD["alert"], "at": "0001-01-01T00:00:00+01:00"}},)),
    ("declines.parse_decline", ({"decline": {**DECLINE["decline"], "at": "9999-12-31T23:59:59-01:00"}},)),
]


@pytest.mark.parametrize(("name", "args"), REGRESSIONS)
def test_fuzz_regressions(name: str, args: tuple[Any, ...]) -> None:
    PROPERTIES[name][1](*args)


def test_valid_payloads_parse() -> None:
    """The seeds of the mutations are valid: the properties see accepted inputs too."""
    assert wire.parse_transaction(TRANSACTION).amount == Money(Decimal("-9.99"), "EUR")
    assert wire.parse_balance(BALANCE).available == Money(Decimal("100.00"), "EUR")
    assert parse_decline(DECLINE).amount == Money(Decimal("12.30"), "EUR")
    assert parse_fraud_alert(FRAUD).on_no_answer == "freeze_card"
    assert [front_door.validate_event(e)[0] for e in ENVELOPES] == [e["type"] for e in ENVELOPES]
    check_bank_message(CLAIMS)
