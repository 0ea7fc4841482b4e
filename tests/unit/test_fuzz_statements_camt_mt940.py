"""Property-based fuzzing of the camt.05x and MT940/MT942 readers (issue 10): any bytes, and
published or our own fixture files mutated (bytes flipped, cut, spliced, hostile tokens
inserted), give a well-typed `ParsedFile` or a `StatementError`: never another exception (no
lxml, schwifty, mt-940, decimal or date error leaks out), never a float.

Bounded like tests/unit/test_fuzz_parsers.py: 200 examples per property, no deadline,
derandomized so a CI run is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ledgerlink.adapters.statements.camt import parse_camt
from ledgerlink.adapters.statements.mt940 import parse_mt940
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import ParsedFile, ReadOptions, StatementError, StatementFormat

FIXTURES = Path(__file__).parents[1] / "fixtures" / "statements"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
READERS: dict[str, tuple[Callable[[bytes, ReadOptions], ParsedFile], StatementFormat]] = {
    "camt": (parse_camt, StatementFormat.CAMT),
    "mt940": (parse_mt940, StatementFormat.MT940),
}
HOSTILE: dict[str, list[bytes]] = {
    "camt": [
        b"<Ntry>",
        b"</Ntry>",
        b"<Stmt>",
        b"</Stmt>",
        b"<Rpt>",
        b"<TxDtls>",
        b"</TxDtls>",
        b"<NtryDtls>",
        b'<Amt Ccy="EUR">',
        b'<Amt Ccy="JPY">1.5</Amt>',
        b"</Amt>",
        b"<CdtDbtInd>DBIT</CdtDbtInd>",
        b"<Sts><Cd>PDNG</Cd></Sts>",
        b"<Sts>",
        b"<RvslInd>true</RvslInd>",
        b"<Dt>2026-02-30</Dt>",
        b"<DtTm>9999-12-31T23:59:59.999999999+14:00</DtTm>",
        b"<IBAN>DE00000000000000000000</IBAN>",
        b"<Othr><Id>",
        b"9" * 30,
        b"0.000001",
        b"&amp;",
        b"&lol;",
        b"&#x0;",
        b"&#xD800;",
        b"<!DOCTYPE x [",
        b'<!ENTITY e SYSTEM "file:///etc/hostname">',
        b"]>",
        b"<![CDATA[",
        b"]]>",
        b"<?pi?>",
        b"<!--",
        b"-->",
        b'xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.99"',
        b'xmlns:x="y"',
        b"<x:Ntry>",
        b"\x00",
        b"\xff\xfe",
        b"\xef\xbb\xbf",
        "\u202e".encode(),
        b"\xc3",
    ],
    "mt940": [
        b":20:",
        b":25:",
        b":28C:",
        b":60F:",
        b":60M:",
        b":61:",
        b":62F:",
        b":62M:",
        b":64:",
        b":65:",
        b":86:",
        b":NS:",
        b":13D:",
        b":34F:",
        b":90D:",
        b"{1:F01X}{2:O942X}{4:\r\n",
        b"-}",
        b"{5:{CHK:1}}",
        b"\x01",
        b"\x03",
        b"\r",
        b"\n",
        b"\r\n",
        b"-\n",
        b"?20",
        b"?32",
        b"?00",
        b"166?00",
        b"SVWZ+",
        b"EREF+",
        b"/NAME/",
        b"/REMI/USTD//",
        b"/CNTP/",
        b"RC",
        b"RD",
        b"C",
        b"D",
        b"0230",
        b"1331",
        b"0000",
        b"9999999999999999,99",
        b",",
        b",,",
        b"EUR",
        b"DEM",
        b"XXX",
        b"//",
        b"NONREF",
        b"ASNB",
        b"\x85",
        b"\xff",
        b"\xef\xbb\xbf",
        "\u202e".encode(),
        b"\x00",
    ],
}


def _fixtures(kind: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((FIXTURES / kind).iterdir()) if p.is_file()]


def mutated(kind: str) -> st.SearchStrategy[bytes]:
    """A fixture file of that kind with a few edits at random places."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(_fixtures(kind))))
        for _ in range(draw(st.integers(1, 6))):
            pos = draw(st.integers(0, max(0, len(data))))
            edit = draw(st.sampled_from(["flip", "cut", "insert", "insert", "delete", "dup"]))
            if edit == "flip" and data:
                data[min(pos, len(data) - 1)] ^= draw(st.integers(1, 255))
            elif edit == "cut":
                del data[pos:]
            elif edit == "insert":
                data[pos:pos] = draw(st.sampled_from(HOSTILE[kind]) | st.binary(max_size=8))
            elif edit == "delete":
                del data[pos : pos + draw(st.integers(1, 40))]
            else:
                data[pos:pos] = data[max(0, pos - 200) : pos]
        return bytes(data)

    return build()


# Values that camt elements get wrong: amounts, dates, codes, identifiers, text.
NASTY_VALUES = [
    "",
    " ",
    "0",
    "-1.00",
    "1.005",
    "12,30",
    "1e5",
    "NaN",
    "9" * 19,
    "0.00000",
    "CRDT",
    "DBIT",
    "BOOK",
    "PDNG",
    "INFO",
    "FUTR",
    "XXXX",
    "true",
    "false",
    "1",
    "2026-02-30",
    "2026-13-01",
    "0000-01-01",
    "9999-12-31",
    "2026-03-06T25:00:00",
    "2026-03-06T10:00:00.123456789+01:00",
    "2026-03-06Z",
    "DE89370400440532013000",
    "DE89370400440532013001",
    "GB29 NWBK 6016 1331 9268 19",
    "x" * 600,
    "\u202eevil",
    "a\u0085b",
    "NOTPROVIDED",
    "EUR",
    "XXX",
    "JPY",
    "BHD",
    "OPBD",
    "CLBD",
    "ITAV",
    "PRTRY",
    "CACC",
    "ÄÖÜ €",
]


XML_CHARS = st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff")


def _camt_trees() -> list[bytes]:
    """The camt fixtures that parse as XML without a DOCTYPE: the ones worth editing element-wise."""
    return [data for data in _fixtures("camt") if b"<!DOCTYPE" not in data]


@st.composite
def camt_values(draw: st.DrawFn) -> bytes:
    """A camt fixture, still well-formed XML, with 1-6 elements edited: a leaf's text or an
    attribute replaced by a nasty value, an element dropped, or an element repeated."""
    root = etree.fromstring(draw(st.sampled_from(_camt_trees())))
    elements = list(root.iter(etree.Element))
    for _ in range(draw(st.integers(1, 6))):
        el = draw(st.sampled_from(elements))
        action = draw(st.sampled_from(["text", "text", "text", "attr", "drop", "repeat"]))
        parent = el.getparent()
        if action == "text" and len(el) == 0:
            el.text = draw(st.sampled_from(NASTY_VALUES) | st.text(XML_CHARS, max_size=12))
        elif action == "attr":
            el.set("Ccy", draw(st.sampled_from(NASTY_VALUES)))
        elif action == "drop" and parent is not None:
            parent.remove(el)
            elements = list(root.iter(etree.Element))
        elif action == "repeat" and parent is not None:
            parent.insert(parent.index(el), etree.fromstring(etree.tostring(el)))
            elements = list(root.iter(etree.Element))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _money(value: Money) -> None:
    assert isinstance(value, Money) and isinstance(value.amount, Decimal) and value.amount.is_finite()


def _check(result: ParsedFile, fmt: StatementFormat) -> None:
    assert isinstance(result, ParsedFile) and result.format is fmt
    for statement in result.statements:
        assert isinstance(statement.account.identifier, str) and statement.account.identifier
        for entry in statement.entries:
            _money(entry.amount)
            assert entry.booking_date is None or isinstance(entry.booking_date, date)
            assert entry.value_date is None or isinstance(entry.value_date, date)
            assert isinstance(entry.descriptor, str) and len(entry.descriptor) <= 500
            assert entry.merchant is None or (isinstance(entry.merchant, str) and len(entry.merchant) <= 140)
            assert entry.entry_id is None or (isinstance(entry.entry_id, str) and len(entry.entry_id) <= 128)
        for balance in statement.balances:
            _money(balance.amount)
            assert isinstance(balance.as_of, date) and isinstance(balance.kind, str)
    assert all(isinstance(w, str) for w in result.warnings)


def _run(kind: str, data: bytes) -> None:
    reader, fmt = READERS[kind]
    refusal: StatementError | None = None
    try:
        result = reader(data, ReadOptions())
    except StatementError as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.format is fmt and refusal.detail and isinstance(refusal.code, str)
        return
    _check(result, fmt)


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(data=st.binary(max_size=2048))
def test_any_bytes_give_a_parsed_file_or_a_statement_error(kind: str, data: bytes) -> None:
    _run(kind, data)


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(data=st.data())
def test_hostile_tokens_alone_give_a_parsed_file_or_a_statement_error(kind: str, data: st.DataObject) -> None:
    tokens = data.draw(st.lists(st.sampled_from(HOSTILE[kind]) | st.binary(max_size=6), max_size=30))
    _run(kind, b"".join(tokens))


@FUZZ
@given(data=mutated("camt"))
def test_mutated_camt_files_give_a_parsed_file_or_a_statement_error(data: bytes) -> None:
    _run("camt", data)


@FUZZ
@given(data=camt_values())
def test_camt_files_with_nasty_element_values_give_a_parsed_file_or_a_statement_error(data: bytes) -> None:
    _run("camt", data)


@FUZZ
@given(data=mutated("mt940"))
def test_mutated_mt940_files_give_a_parsed_file_or_a_statement_error(data: bytes) -> None:
    _run("mt940", data)
