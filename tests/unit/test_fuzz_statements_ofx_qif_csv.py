"""Property-based fuzzing of the OFX, QIF and CSV readers (issue 10): any bytes, and published or
our own fixture files mutated (bytes flipped, cut, spliced, hostile tokens inserted), give a
well-typed `ParsedFile` or a `StatementError`: never another exception, never a float.

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

from ledgerlink.adapters.statements.csv import parse_csv, preview_csv
from ledgerlink.adapters.statements.ofx import parse_ofx
from ledgerlink.adapters.statements.qif import parse_qif
from ledgerlink.domain.statements import ParsedFile, ReadOptions, StatementError, StatementFormat

FIXTURES = Path(__file__).parents[1] / "fixtures" / "statements"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

READERS: dict[str, Callable[[bytes, ReadOptions], ParsedFile]] = {
    "ofx": lambda data, options: parse_ofx(data, options, StatementFormat.OFX),
    "qif": parse_qif,
    "csv": parse_csv,
}
OPTIONS = ReadOptions(currency="EUR")

HOSTILE = [
    b"<", b">", b"</", b"<OFX>", b"</STMTTRN>", b"<STMTTRN>", b"<TRNAMT>", b"&amp;", b"&#xD800;", b"\x00",
    b"\xff\xfe", b"\xef\xbb\xbf", b"\r", b"\n", b"^", b"!Type:Invst", b"!Account", b"D31/02/25", b"T1e999",
    b"NaN", b"Infinity", b'"', b";", b",", b"\t", b"99999999999999999999999.99", b"-0", b"\xc3",
    "\u202e".encode(), b"20250230", b"[-99:XXX]", b"<![CDATA[", b"]]>", b"(", b"1.234,56-",
]  # fmt: skip


def _fixtures(kind: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((FIXTURES / kind).iterdir()) if p.is_file()]


def mutated(kind: str) -> st.SearchStrategy[bytes]:
    """A fixture file of that kind with a few edits at random places."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(_fixtures(kind))))
        for _ in range(draw(st.integers(1, 6))):
            pos = draw(st.integers(0, max(0, len(data))))
            edit = draw(st.sampled_from(["flip", "cut", "insert", "delete", "dup"]))
            if edit == "flip" and data:
                data[min(pos, len(data) - 1)] ^= draw(st.integers(1, 255))
            elif edit == "cut":
                del data[pos:]
            elif edit == "insert":
                data[pos:pos] = draw(st.sampled_from(HOSTILE) | st.binary(max_size=8))
            elif edit == "delete":
                del data[pos : pos + draw(st.integers(1, 40))]
            else:
                data[pos:pos] = data[max(0, pos - 200) : pos]
        return bytes(data)

    return build()


def _check(result: ParsedFile) -> None:
    assert isinstance(result, ParsedFile)
    for statement in result.statements:
        assert isinstance(statement.account.identifier, str)
        for entry in statement.entries:
            assert isinstance(entry.amount.amount, Decimal) and entry.amount.amount.is_finite()
            assert entry.booking_date is None or isinstance(entry.booking_date, date)
            assert isinstance(entry.descriptor, str) and len(entry.descriptor) <= 1000
        for balance in statement.balances:
            assert isinstance(balance.amount.amount, Decimal) and isinstance(balance.as_of, date)
    assert all(isinstance(w, str) for w in result.warnings)


def _run(kind: str, data: bytes) -> None:
    refusal: StatementError | None = None
    try:
        result = READERS[kind](data, OPTIONS)
    except StatementError as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.format in (StatementFormat.OFX, StatementFormat.QIF, StatementFormat.CSV)
        assert refusal.detail
        return
    _check(result)


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(data=st.binary(max_size=2048))
def test_any_bytes_give_a_parsed_file_or_a_statement_error(kind: str, data: bytes) -> None:
    _run(kind, data)


@FUZZ
@given(data=mutated("ofx"))
def test_mutated_ofx_files_give_a_parsed_file_or_a_statement_error(data: bytes) -> None:
    _run("ofx", data)


@FUZZ
@given(data=mutated("qif"))
def test_mutated_qif_files_give_a_parsed_file_or_a_statement_error(data: bytes) -> None:
    _run("qif", data)


@FUZZ
@given(data=mutated("csv"))
def test_mutated_csv_files_give_a_parsed_file_or_a_statement_error(data: bytes) -> None:
    _run("csv", data)
    try:
        preview = preview_csv(data, options=OPTIONS)
    except StatementError:
        return
    assert all(row.entry is None or isinstance(row.entry.amount.amount, Decimal) for row in preview.rows)
