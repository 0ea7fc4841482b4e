"""Text from outside: refused or cleaned at the door, always showable at render time
(domain/text.py, issue 14). Property tests: any string in -> a typed refusal or clean text out."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledgerlink.domain.text import (
    BIDI_CONTROLS,
    REPLACEMENT,
    InvalidText,
    display_line,
    display_text,
    displayable,
    displayable_tree,
)
from ledgerlink.services.dialogue.declines import parse_decline
from ledgerlink.services.dialogue.fraud import parse_fraud_alert
from ledgerlink.services.ingest.wire import parse_transaction

HOSTILE = [*BIDI_CONTROLS, "\x00", "\x07", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b",
           "\u2028", "\u2029", "\ud800", "\udfff", "\ufffe", "\uffff", "\u200d", "\u00a0", "é", "😀"]
# Any code point at all, surrogates included, with the hostile ones often.
ANY_TEXT = st.text(st.one_of(st.characters(), st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"]),
                             st.sampled_from(HOSTILE)), max_size=60)
FIELD = "data.transaction.merchant_name"


def _is_surrogate(ch: str) -> bool:
    return 0xD800 <= ord(ch) <= 0xDFFF


def _shown_ok(out: str, *, allowed_controls: str, separators: bool = False) -> None:
    """Encodable, no bidi controls or noncharacters, no controls but the allowed ones; line and
    paragraph separators only where asked (rendering keeps them: they are text)."""
    out.encode("utf-8")  # Unicode scalar values only
    for ch in out:
        assert ch not in BIDI_CONTROLS and ch not in "\ufffe\uffff"
        assert separators or ch not in "\u2028\u2029"
        if unicodedata.category(ch) == "Cc":
            assert ch in allowed_controls, repr(ch)


@settings(max_examples=400)
@given(ANY_TEXT)
@example("\ud800Lone")
@example("Corner\u202e\u2066 Bakery\x07\x85")
def test_a_display_line_is_refused_for_a_lone_surrogate_or_comes_out_clean(value: str) -> None:
    if any(_is_surrogate(ch) for ch in value):
        with pytest.raises(InvalidText) as info:
            display_line(value, FIELD)
        assert info.value.code == "invalid_text" and info.value.status == 422
        assert FIELD in info.value.detail
        assert value not in info.value.detail  # the hostile value is never echoed
        return
    out = display_line(value, FIELD)
    _shown_ok(out, allowed_controls="")
    assert out == out.strip() or out == value
    assert display_line(out, FIELD) == out  # idempotent
    if not any(unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS + "\ufffe\uffff\u2028\u2029"
               for ch in value):
        assert out is value  # clean text passes untouched


@settings(max_examples=300)
@given(ANY_TEXT)
def test_free_text_keeps_its_lines_and_tabs_and_nothing_else(value: str) -> None:
    if any(_is_surrogate(ch) for ch in value):
        with pytest.raises(InvalidText):
            display_text(value, "claim 'text'")
        return
    out = display_text(value, "claim 'text'")
    _shown_ok(out, allowed_controls="\n\t")
    assert display_text(out, "claim 'text'") == out


def test_line_breaks_become_one_space_in_a_line_and_a_line_feed_in_text() -> None:
    assert display_line("CORNER\tBAKERY\r\n12\u200f", FIELD) == "CORNER BAKERY 12"
    assert display_text("Hello\r\nWorld\u2028again\x00", "t") == "Hello\nWorld\nagain"
    assert display_line("\u202e\u202e", FIELD) == ""


@settings(max_examples=400)
@given(ANY_TEXT)
@example("\ud800Lone\u202e\x1b[31m")
def test_displayable_is_total_idempotent_and_keeps_clean_text(value: str) -> None:
    out = displayable(value)
    _shown_ok(out, allowed_controls="\t\n\r", separators=True)
    assert displayable(out) == out
    assert out.count(REPLACEMENT) == value.count(REPLACEMENT) + sum(map(_is_surrogate, value))
    if out == value:
        assert out is value


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


@settings(max_examples=200)
@given(JSON_LIKE)
def test_every_string_of_an_export_tree_is_showable(value: Any) -> None:
    out = displayable_tree(value)
    for s in _strings(out):
        _shown_ok(s, allowed_controls="\t\n\r", separators=True)
    if all(displayable(s) is s for s in _strings(value)):
        assert out is value


# --------------------------------------------------------------------------- the wire parsers


def _txn(**kw: Any) -> dict[str, Any]:
    return {"transaction_id": "t1", "account_id": "a1", "status": "posted", "amount": "-12.30",
            "currency": "EUR", "merchant_name": "Lidl", "descriptor": "LIDL 42", **kw}


@pytest.mark.parametrize("name", ["merchant_name", "descriptor"])
def test_a_lone_surrogate_in_a_display_field_is_refused_naming_it(name: str) -> None:
    with pytest.raises(InvalidText) as info:
        parse_transaction(_txn(**{name: "\ud800Lone"}), "data.transaction")
    assert info.value.code == "invalid_text"
    assert f"data.transaction.{name}" in info.value.detail and "Lone" not in info.value.detail


@settings(max_examples=300)
@given(merchant=ANY_TEXT, descriptor=ANY_TEXT)
def test_any_merchant_or_descriptor_is_a_typed_refusal_or_clean_text(merchant: str, descriptor: str) -> None:
    event = _txn(merchant_name=merchant, descriptor=descriptor)
    if any(_is_surrogate(ch) for ch in merchant + descriptor):
        with pytest.raises(InvalidText):  # the one typed refusal; nothing else may escape
            parse_transaction(event)
        return
    txn = parse_transaction(event)
    for out in (txn.merchant or "", txn.descriptor):
        _shown_ok(out, allowed_controls="")


def test_declines_and_fraud_alerts_refuse_a_lone_surrogate_and_declines_strip_bidi() -> None:
    decline = {"decline_id": "d1", "amount": "12.30", "currency": "EUR", "reason": "other",
               "at": "2026-11-26T10:00:00Z", "merchant_name": "Shop\u202e Name"}
    assert parse_decline({"decline": decline}).merchant == "Shop Name"
    with pytest.raises(InvalidText, match=r"data\.decline\.merchant_name"):
        parse_decline({"decline": {**decline, "merchant_name": "\ud800"}})
    alert = {"alert_id": "a1", "amount": "-5.00", "currency": "EUR", "at": "2026-11-26T10:00:00Z",
             "expires_at": "2026-11-27T10:00:00Z", "merchant_name": "Shop"}
    assert parse_fraud_alert({"alert": alert}).merchant == "Shop"
    with pytest.raises(InvalidText, match=r"data\.alert\.reason"):
        parse_fraud_alert({"alert": {**alert, "reason": "\udfffx"}})
