"""The OFX/QFX reader on published test files (ofxparse, Actual) and our own nasty ones:
every quirk is asserted on its exact result, every failing file on its precise error."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from bench.gen_ofx import ofx_file, parse_only

from ledgerlink.adapters.statements import read_statement
from ledgerlink.domain.banking import AccountType
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import ParsedFile, ReadOptions, StatementError, StatementFormat

OFX = Path(__file__).parents[1] / "fixtures" / "statements" / "ofx"


def read(name: str, **options: object) -> ParsedFile:
    return read_statement((OFX / name).read_bytes(), filename=name, options=ReadOptions(**options))  # type: ignore[arg-type]


def fails(name: str, **options: object) -> StatementError:
    with pytest.raises(StatementError) as info:
        read(name, **options)
    return info.value


def usd(amount: str, currency: str = "USD") -> Money:
    return Money(Decimal(amount), currency)


def test_two_bank_statements_in_one_sgml_file_are_two_statements_with_their_own_entries() -> None:
    parsed = read("ofxparse_multiple_accounts.ofx")
    assert parsed.format is StatementFormat.OFX
    first, second = parsed.statements
    assert first.account.identifier == "78934567889" and second.account.identifier == "89273829182"
    assert first.account.bank_id == "18206" and first.account.type is AccountType.CHECKING
    assert first.account.currency == "EUR"
    assert (first.period_start, first.period_end) == (date(2011, 7, 25), date(2011, 8, 10))
    assert [(e.entry_id, e.amount, e.booking_date) for e in first.entries] == [
        ("1015000017", usd("219.33", "EUR"), date(2011, 8, 9)),
        ("1015000016", usd("-43.20", "EUR"), date(2011, 8, 9)),
        ("1014000010", usd("130.00", "EUR"), date(2011, 7, 28)),
        ("1014000009", usd("-123.00", "EUR"), date(2011, 7, 28)),
    ]
    assert first.entries[1].descriptor == "qtgiuaretnaruise tsriuenrauise"  # NAME and MEMO
    assert first.entries[1].merchant == "qtgiuaretnaruise"
    assert first.entries[1].where == "line 46"
    assert [(b.kind, b.amount, b.as_of) for b in first.balances] == [
        ("closing_booked", usd("123450.00", "EUR"), date(2011, 8, 29))
    ]
    assert [e.entry_id for e in second.entries] == ["1107000001"]
    assert parsed.warnings == ()


def test_a_qfx_credit_card_statement_keeps_its_cp1252_text_and_both_balances() -> None:
    parsed = read("ofxparse_chase_cc.qfx")
    assert parsed.format is StatementFormat.QFX  # INTU.BID in the sign-on
    (statement,) = parsed.statements
    assert statement.account.type is AccountType.CREDIT_CARD
    assert statement.account.identifier == "0123012301230123"
    (entry,) = statement.entries
    assert entry.descriptor == "SQ *ECCO UN POCO ¦ NATURA"
    assert entry.amount == usd("-10.00") and entry.booking_date == date(2020, 1, 1)
    assert entry.entry_id == "2020010112341234123412341234123"
    assert [(b.kind, b.amount) for b in statement.balances] == [
        ("closing_booked", usd("-10.00")),
        ("closing_available", usd("90.00")),
    ]


def test_an_investment_statement_gives_its_cash_transactions_in_their_own_currency() -> None:
    parsed = read("ofxparse_investment_medium.ofx")
    (statement,) = parsed.statements
    assert statement.account.identifier == "ABC123" and statement.account.bank_id == "404"
    assert statement.account.type is AccountType.OTHER and statement.account.currency == "CAD"
    assert [(e.amount, e.descriptor) for e in statement.entries] == [
        (usd("-3.65"), "CASH TRADE: AUD.USD"),
        (usd("3.35"), "CASH TRADE: AUD.USD"),
        (usd("-3.65"), "CASH TRADE: AUD.USD"),
    ]
    assert statement.entries[0].booking_date == date(2009, 12, 15)
    assert [(b.kind, b.amount, b.as_of) for b in statement.balances] == [
        ("closing_available", usd("1.00", "CAD"), date(2009, 12, 15))
    ]
    assert (statement.period_start, statement.period_end) == (date(2009, 12, 14), date(2009, 12, 15))
    assert parsed.warnings == (
        "line 32: some transactions are in another currency than the statement's (CURRENCY)",
    )


def test_an_unclosed_banktranlist_is_closed_where_the_schema_says_and_the_balance_is_kept() -> None:
    parsed = read("ours_unclosed_banktranlist.ofx")
    (statement,) = parsed.statements
    assert statement.account.type is AccountType.CREDIT_CARD and statement.account.currency == "BRL"
    assert [e.entry_id for e in statement.entries] == [f"b7e1c0a2-000{n}" for n in range(1, 7)]
    assert sum(e.amount.amount for e in statement.entries) == Decimal("-1287.34")
    assert (statement.period_start, statement.period_end) == (date(2025, 3, 15), date(2025, 4, 15))
    assert [(b.kind, b.amount, b.as_of) for b in statement.balances] == [
        ("closing_booked", usd("-1287.34", "BRL"), date(2025, 4, 15))
    ]  # LEDGERBAL after the unclosed list still belongs to the statement
    assert parsed.warnings == ("line 38: elements left open were closed",)  # <BANKTRANLIST>


def test_empty_elements_are_dropped_and_an_empty_curdef_takes_the_transactions_currency() -> None:
    parsed = read("ofxparse_v102_empty_tags.ofx")
    (statement,) = parsed.statements
    assert statement.account.currency == "AUD" and statement.account.type is AccountType.OTHER
    (entry,) = statement.entries
    assert entry.amount == usd("12.34", "AUD") and entry.entry_id is None
    assert entry.descriptor == "CBA:Transfer" and entry.booking_date == date(2018, 5, 7)
    assert statement.balances == ()  # <BALAMT></BALAMT>
    assert parsed.warnings == (
        "line 23: the statement has no CURDEF: its transactions' currency was used",
        "line 23: a balance without an amount or a date was not read",
    )


def test_html_entities_are_decoded_even_when_the_bank_escaped_them_twice() -> None:
    (statement,) = read("actual_html_vals.qfx").statements
    first, second = statement.entries
    assert (
        first.descriptor
        == "000000000000000 PREAUTHORIZED DEBIT;B.C. HYDRO & POWER AUTHORITY;Electronic Funds Transfer"
    )
    assert second.merchant == "TPAY <DEFTPYMT>"
    assert first.booking_date == date(2023, 5, 9)  # 20230509120000.000[-5:EST]


def test_amounts_with_three_to_five_decimals_are_rounded_half_even_and_said() -> None:
    parsed = read("actual_data_multi_decimal.ofx")
    assert [e.amount for e in parsed.statements[0].entries] == [usd("-30.00"), usd("-3.77")]
    assert parsed.warnings == (
        "line 46: amounts written with more decimals than USD has were rounded half-even to 2 (2 times)",
    )


@pytest.mark.parametrize(
    ("name", "merchant", "warnings"),
    [
        ("actual_1252.qfx", "Café Métro €uro", ()),
        ("actual_utf_8.qfx", "Café Métro €uro", ()),
        ("actual_8859_1.qfx", "Paiement facture/Carte prépayée", ()),
        (
            "ours_declared_1252_bytes_utf8.qfx",
            "Café Métro €uro",
            ("the file says its charset is cp1252 but its bytes are UTF-8: read as UTF-8",),
        ),
    ],
)
def test_text_is_decoded_by_what_the_bytes_are_not_by_what_the_header_claims(
    name: str, merchant: str, warnings: tuple[str, ...]
) -> None:
    parsed = read(name)
    (entry,) = parsed.statements[0].entries
    assert entry.merchant == merchant
    assert parsed.warnings == warnings
    if "Métro" in merchant:
        assert entry.descriptor == "Café Métro €uro Paiement 5€ — débit"


def test_a_file_without_a_header_reads_and_checks_without_a_name_are_described_by_their_type() -> None:
    parsed = read("ours_stmtrs_no_header.ofx")
    assert parsed.format is StatementFormat.OFX and parsed.warnings == ()
    (statement,) = parsed.statements
    assert statement.account.identifier == "5550001234" and statement.account.bank_id == "011000015"
    check, atm = statement.entries
    assert (check.descriptor, check.reference, check.amount) == ("CHECK 2317", "2317", usd("-145.60"))
    assert check.merchant is None and check.entry_id == "EX-0507-01"
    assert (atm.descriptor, atm.value_date, atm.booking_date) == (
        "ATM",
        date(2024, 5, 23),
        date(2024, 5, 24),
    )
    assert [(b.kind, b.amount, b.as_of) for b in statement.balances] == [
        ("closing_booked", usd("1374.40"), date(2024, 6, 1)),  # DTASOF 202406010700: minutes, no seconds
        ("closing_available", usd("1324.40"), date(2024, 6, 1)),
    ]


def test_ofx2_xml_reads_payee_names_user_dates_and_reference_numbers() -> None:
    (statement,) = read("ours_v2_xml.ofx").statements
    card, salary = statement.entries
    assert (card.merchant, card.descriptor) == ("Marks & Spencer", "Marks & Spencer CONTACTLESS")
    assert (card.booking_date, card.value_date, card.amount) == (
        date(2025, 2, 28),
        date(2025, 2, 27),
        usd("-4.20", "GBP"),
    )
    assert (salary.reference, salary.entry_id) == ("SAL FEB", "202502250007")
    assert [(b.kind, b.amount) for b in statement.balances] == [
        ("closing_booked", usd("3120.55", "GBP")),
        ("closing_available", usd("3020.55", "GBP")),
    ]


def test_sgml_as_banks_write_it_reads_exactly() -> None:
    parsed = read("ours_sgml_nasty.ofx")
    bank, card = parsed.statements
    assert bank.account.type is AccountType.SAVINGS and bank.account.bank_id == "12345678"
    first, refund, lower, check = bank.entries
    # 23:00 EST on 3 January is 4 January in UTC: the bank's day is kept
    assert (first.booking_date, first.value_date) == (date(2025, 1, 3), date(2025, 1, 2))
    assert first.amount == usd("-12.35", "EUR")  # -12.34567, half-even
    assert (
        first.merchant == "CAFÉ MÜLLER & SÖHNE"
        and first.descriptor == "CAFÉ MÜLLER & SÖHNE Card payment 4711"
    )
    assert (refund.amount, refund.descriptor) == (usd("100.50", "EUR"), "AT&T REFUND")  # "+100,5"
    assert (lower.entry_id, lower.merchant, lower.amount) == ("A3", "A < B & C", usd("0.00", "EUR"))
    assert str(lower.amount) == "0.00 EUR"  # -0.005 does not become "-0.00"
    assert (check.reference, check.descriptor) == ("1001", "CHECK 1001")
    assert [(b.amount, b.as_of) for b in bank.balances] == [(usd("1037.15", "EUR"), date(2025, 1, 31))]
    assert card.account.type is AccountType.CREDIT_CARD and card.account.currency == "USD"
    assert [(e.entry_id, e.amount, e.where) for e in card.entries] == [("C1", usd("-9.99"), "line 25")]
    assert parsed.warnings == (
        "line 10: tags without their closing '>' were read as closed",
        "line 9: elements left open were closed (2 times)",
        "line 9: amounts written with more decimals than EUR has were rounded half-even to 2 (2 times)",
    )


def test_a_valid_file_without_statements_imports_as_nothing() -> None:
    parsed = read("ofxparse_bank_small.ofx")
    assert parsed.statements == () and parsed.entry_count == 0


def test_a_missing_curdef_needs_the_callers_currency_and_takes_it_when_given() -> None:
    error = fails("ours_no_curdef.ofx")
    assert (error.code, error.format, error.where) == ("currency_needed", StatementFormat.OFX, "line 3")
    (statement,) = read("ours_no_curdef.ofx", currency="USD").statements
    assert statement.entries[0].amount == usd("-1.50")
    assert statement.account.identifier == "99887766" and statement.account.bank_id == "021000021"


@pytest.mark.parametrize(
    ("name", "code", "where", "detail"),
    [
        ("ofxparse_error_message.ofx", "bank_error", None,
         "OFX: the bank sent an error instead of a statement: code 2000 (General Server Error)"),
        ("ofxparse_fail_date_missing.ofx", "bad_date", "line 33",
         "OFX, line 33: a transaction has no date (DTPOSTED)"),
        ("ofxparse_fail_decimal_error.ofx", "bad_amount", "line 34", "OFX, line 34: TRNAMT is not a number"),
        ("ofxparse_empty_balance.ofx", None, None, None),
        ("ours_fail_truncated.ofx", "truncated", "line 16",
         "OFX, line 16: the file ends inside <STMTTRN> opened at line 16: it looks cut off"),
        ("ours_fail_no_ofx.ofx", "not_ofx", "line 1",
         "OFX, line 1: no <OFX> element: this is not an OFX file"),
        ("ours_fail_text_outside.ofx", "bad_ofx", "line 6", "OFX, line 6: text outside any element"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_with_its_format_line_and_reason(
    name: str, code: str | None, where: str | None, detail: str | None
) -> None:
    if code is None:  # empty balances are no reason to refuse the file: they are left out
        parsed = read(name)
        assert parsed.statements[0].balances == ()
        assert parsed.statements[0].entries[0].amount == usd("120.00", "CAD")
        return
    error = fails(name)
    assert (error.code, error.format, error.where, error.detail) == (code, StatementFormat.OFX, where, detail)


def test_an_invalid_calendar_date_is_refused_at_its_line() -> None:
    data = (
        "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>1</BANKACCTFROM>\n"
        "<BANKTRANLIST>\n"
        "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20120231<TRNAMT>-1.00<FITID>X</STMTTRN>\n"
        "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    )
    with pytest.raises(StatementError) as info:
        read_statement(data.encode(), options=ReadOptions(format=StatementFormat.OFX))
    assert (info.value.code, info.value.where) == ("bad_date", "line 3")
    assert info.value.detail.startswith("OFX, line 3: DTPOSTED is not a date")


def test_the_benchmark_file_reads_whole_with_ofxtools_alone_and_with_this_reader() -> None:
    data = ofx_file(300, seed=7)
    assert data == ofx_file(300, seed=7)
    assert parse_only(data) == 300
    (statement,) = read_statement(data, filename="bench.ofx").statements
    assert len(statement.entries) == 300
    assert len({e.entry_id for e in statement.entries}) == 300
    months = {e.booking_date.month for e in statement.entries if e.booking_date}
    assert len(months) >= 3
    closing = statement.balances[0].amount.amount
    assert closing == Decimal("2500.00") + sum(e.amount.amount for e in statement.entries)
