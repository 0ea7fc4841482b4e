"""The MT940/MT942 reader on published test files (wolph/mt940 and the jejik files it carries)
and our own nasty ones: every quirk asserted on its exact result, every failing file on its
precise error (format, line, reason)."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerlink.adapters.statements import read_statement
from ledgerlink.adapters.statements.mt940 import parse_mt940
from ledgerlink.domain.banking import TransactionStatus
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import ParsedFile, ReadOptions, StatementError, StatementFormat

MT940 = Path(__file__).parents[1] / "fixtures" / "statements" / "mt940"


def read(name: str, **options: object) -> ParsedFile:
    return parse_mt940((MT940 / name).read_bytes(), ReadOptions(**options))  # type: ignore[arg-type]


def fails(text: str | bytes, **options: object) -> StatementError:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(StatementError) as info:
        parse_mt940(data, ReadOptions(**options))  # type: ignore[arg-type]
    assert info.value.format is StatementFormat.MT940
    return info.value


def m(amount: str, currency: str = "EUR") -> Money:
    return Money(Decimal(amount), currency)


ONE = ":20:X\n:25:DE89370400440532013000\n:60F:C260301EUR100,00\n{line}\n:86:text\n:62F:C260301EUR100,00\n"


def test_a_bank_preamble_is_skipped_and_amounts_without_decimals_are_read() -> None:
    parsed = read("jejik-abnamro.sta")  # "ABNANL2A / 940 / ABNANL2A" before each :20:
    assert parsed.extra == {"message": "MT940"} and parsed.warnings == ()
    first, second = parsed.statements  # the first closes on :62F:, so the second is its own
    assert (first.account.identifier, first.account.currency) == ("517852257", "EUR")
    assert [(b.kind, b.amount, b.as_of) for b in first.balances] == [
        ("opening_booked", m("3236.28"), date(2011, 5, 22)),
        ("closing_booked", m("876.84"), date(2011, 5, 23)),
    ]
    assert [e.amount for e in first.entries] == [
        m("-9.00"),
        m("-11.59"),
        m("-11.63"),
        m("-11.80"),
        m("-13.45"),
        m("-15.49"),
        m("-107.00"),
        m("-141.48"),
    ]
    giro, card = first.entries[:2]  # "9," "11,8" and "107," are 9.00, 11.80 and 107.00
    assert (giro.where, giro.booking_date, giro.value_date) == (
        "line 8",
        date(2011, 5, 24),
        date(2011, 5, 24),
    )
    assert (card.booking_date, card.value_date) == (date(2011, 5, 23), date(2011, 5, 21))  # entry date MMDD
    assert giro.descriptor == (
        "GIRO 428428 KPN - DIGITENNE BETALINGSKENM. 0000000421886595314606715 BETREFT "
        "FACTUUR D.D. 20-05-2011 INCL. 1,44 BTW"
    )  # three :86: lines, one cut mid-number
    assert card.descriptor == "BEA NR:XXX1234 21.05.11/12.54 DIRCKIII FIL2500 KATWIJK,PAS999"
    assert [e.entry_id for e in first.entries] == [None] * 8  # NONREF, no //bank reference
    assert first.entries[6].where == "line 23"  # after a blank line
    assert [(b.kind, b.amount) for b in second.balances] == [
        ("interim_opening_booked", m("2876.84")),
        ("interim_booked", m("1849.75")),
    ]
    assert [(e.where, e.descriptor) for e in second.entries] == [
        ("line 36", "BEA NR:XXX1234 24.05.11/09.18 PETS PLACE KATWIJK KATWI,PAS999"),
        ("line 38", "52.89.39.882 MYCOM DEN HAAG"),
    ]


def test_the_pages_of_one_statement_are_joined_and_a_nonref_bank_reference_is_no_id() -> None:
    parsed = read("jejik-postfinance.sta")  # :28C: 999/1 ends on :62M:, 999/2 opens with :60M:
    (stmt,) = parsed.statements
    assert (stmt.account.identifier, stmt.account.currency) == ("123456789", "CHF")
    assert [(b.kind, b.amount, b.as_of) for b in stmt.balances] == [
        ("opening_booked", m("0.00", "CHF"), date(2013, 11, 30)),  # written "0,"
        ("interim_booked", m("229.20", "CHF"), date(2014, 4, 7)),
        ("closing_booked", m("159.60", "CHF"), date(2014, 4, 7)),
    ]
    assert (stmt.period_start, stmt.period_end) == (date(2013, 11, 30), date(2014, 4, 7))
    assert [(e.where, e.amount, e.entry_id, e.reference) for e in stmt.entries] == [
        ("line 5", m("79.70", "CHF"), None, "01916"),
        ("line 9", m("149.50", "CHF"), None, "01916"),
        ("line 19", m("-79.90", "CHF"), None, "01916"),
        ("line 24", m("10.10", "CHF"), None, "01651"),
    ]
    assert stmt.entries[2].descriptor == (
        "GIRO AUS ONLINE-SIC 80701 AUFTRAGGEBER: XXXXXXXXX XXX XXXXXXXXSTRASSE 111 1234 XXXXXXXXXXXX "
        "131216CH12345678 MITTEILUNGEN: 1 SONNENGLAESER"
    )  # lines cut at 65 inside words, joined
    assert stmt.entries[0].descriptor.endswith(
        "JANE DOE EXAMPLESTRASSE 10 1234 XXXX 131209CH98765432 MITTEILUNGEN: RECHNUNG XXXXXXXXXXXX"
    )


def test_the_dutch_structured_dialect_and_two_statements_without_a_separator() -> None:
    parsed = read("jejik-rabobank-iban.sta")  # ":940:" before the first :20:
    assert parsed.warnings == (
        "line 3: the :25: account has the shape of an IBAN but its check digits are wrong; kept as written",
        "line 15: the :25: account has the shape of an IBAN but its check digits are wrong; kept as written",
    )
    first, second = parsed.statements
    assert first.account.identifier == second.account.identifier == "NL71RABO0123456789"
    assert [(b.kind, b.amount) for b in second.balances] == [
        ("opening_booked", m("965.00")),
        ("closing_booked", m("930.00")),
    ]
    transfer, payment = first.entries
    assert (transfer.amount, transfer.where) == (m("-25.00"), "line 6")  # written 000000000025,00
    assert transfer.merchant == "CONTRA ACCOUNT HOLDER"  # /NAME/CONTRA ACCOUN + T HOLDER, wrapped
    assert transfer.reference == "01-01-2013 12:00 0030000987654321"  # /EREF/
    assert transfer.descriptor == "CONTRA ACCOUNT HOLDER"  # /REMI/ is empty
    assert (payment.descriptor, payment.merchant, payment.reference) == (
        "Reference 201301234",
        "JOHN DOE",
        None,
    )
    assert [e.booking_date for e in second.entries] == [date(2013, 1, 8), date(2013, 1, 9)]


def test_an_mt942_interim_report_takes_its_currency_from_the_floor_limit() -> None:
    parsed = read("mbank-mt942.sta")
    assert parsed.extra == {"message": "MT942"}
    (report,) = parsed.statements
    assert (report.account.identifier, report.account.currency) == ("PL29114010810000267002001002", "PLN")
    assert report.balances == () and (report.period_start, report.period_end) == (
        date(2017, 1, 19),
        date(2017, 1, 19),
    )
    assert [(e.amount, e.entry_id, e.status, e.where) for e in report.entries] == [
        (m("0.01", "PLN"), "MB170119012058", TransactionStatus.POSTED, "line 7"),
        (m("0.01", "PLN"), "MB170119012085", TransactionStatus.POSTED, "line 13"),
        (m("0.01", "PLN"), "MB170119012121", TransactionStatus.POSTED, "line 19"),
    ]
    assert report.entries[0].descriptor == (
        "911 TRANSAKCJA COLLECT; ID IPH: XX000000000001; Z RACH.: 56114010810000267002001001; OD: JAN NOWAK "
        "UL. NIJAKA 1 M 2 31-234 KRAKOW; TYT.: PRZELEW SRODKOW ; TNR: 179171073864111.010001"
    )


def test_german_structured_details_with_sepa_keywords_are_read_by_the_library() -> None:
    parsed = read("wolph-gv_codes.sta")
    (stmt,) = parsed.statements
    assert (stmt.account.identifier, stmt.account.bank_id) == ("12345678/1020304050", "12345678")  # BLZ/Konto
    debit, bare = stmt.entries
    assert debit.amount == m("-233.15") and debit.booking_date == date(2017, 9, 14)  # no entry date
    assert debit.descriptor == "SPOTIFY, Ihr Einkaufbei SPOTIFY"  # SVWZ+ across ?25 and ?26
    assert debit.merchant == "PayPal (Europe) S.a.r.l. et"  # ?32
    assert debit.reference == "1234567890123 PAYPAL"  # EREF+
    assert (bare.amount, bare.descriptor, bare.merchant, bare.where) == (
        m("-24.30"),
        "",
        None,
        "line 7",
    )  # no :86:


def test_a_historic_currency_is_refused_naming_its_line() -> None:
    error = fails((MT940 / "cmxl-mt940.sta").read_bytes())  # Deutsche Mark, 2013
    assert (error.where, error.detail) == (
        "line 4",
        "MT940, line 4: unknown currency code 'DEM': expected ISO 4217",
    )


def test_swift_wrappers_mixed_line_ends_and_reversal_marks() -> None:
    parsed = read("ours-swift-wrapped.sta")  # SOH {1:}{2:O940}{3:}{4: ... -}{5:{CHK:}} ETX, twice
    assert parsed.extra == {"message": "MT940"} and parsed.warnings == ()
    first, second = parsed.statements
    assert (first.account.identifier, first.account.bank_id) == ("DE89370400440532013000", None)
    assert [(b.kind, b.amount, b.as_of) for b in first.balances] == [
        ("opening_booked", m("1000.00"), date(2026, 3, 1)),
        ("closing_booked", m("1069.75"), date(2026, 3, 3)),
        ("closing_available", m("1069.75"), date(2026, 3, 3)),
        ("forward_available", m("1069.75"), date(2026, 3, 4)),
    ]
    assert [(e.where, e.amount, e.reversal, e.entry_id) for e in first.entries] == [
        ("line 6", m("-25.50"), False, "BREF-0001"),
        ("line 9", m("100.00"), False, "BREF-0002"),  # "C100": no decimal comma at all
        ("line 11", m("-12.00"), True, "BREF-0003"),  # RC: a credit reversed, money out
        ("line 13", m("7.25"), True, "BREF-0004"),  # RD: a debit reversed, money back (after a lone CR)
    ]
    debit = first.entries[0]
    assert (debit.descriptor, debit.merchant, debit.reference) == (
        "Mobile phone invoice 2026-02",
        "Mobile Network Example GmbH",
        "LL-E2E-0001",
    )  # ?22-?23, ?32+?33, EREF+
    assert (first.entries[1].descriptor, first.entries[1].merchant) == ("Refund order 4711", "Example Shop")
    assert sum((e.amount for e in first.entries), first.balances[0].amount) == first.balances[1].amount
    assert (second.account.identifier, second.account.bank_id) == ("37040044/0532013000", "37040044")
    assert [(b.kind, b.amount) for b in second.balances] == [
        ("opening_booked", m("-50.00")),
        ("closing_booked", m("0.00")),
    ]
    assert [(e.where, e.amount, e.entry_id) for e in second.entries] == [("line 24", m("50.00"), None)]


def test_impossible_days_are_read_as_the_last_day_of_their_month_with_a_warning() -> None:
    parsed = read("ours-february-30.sta")
    assert parsed.warnings == (
        "line 4: :60F: date 30 February 2016 does not exist; read as 29 February 2016",
        "line 5: :61: date 30 February 2016 does not exist; read as 29 February 2016",
        "line 7: :61: date 31 April 2016 does not exist; read as 30 April 2016",
        "line 9: :61: entry date 31 February 2016 does not exist; read as 29 February 2016",
    )
    (stmt,) = parsed.statements
    assert stmt.balances[0].as_of == date(2016, 2, 29)
    assert [(e.value_date, e.booking_date) for e in stmt.entries] == [
        (date(2016, 2, 29), date(2016, 3, 1)),
        (date(2016, 4, 30), date(2016, 4, 30)),
        (date(2016, 2, 29), date(2016, 2, 29)),
    ]
    assert stmt.entries[0].descriptor == "Pauschalen"  # ?20, posting text ?00 ENTGELTABSCHLUSS behind it


def test_ing_structured_details_and_a_currency_written_after_the_iban() -> None:
    parsed = read("ours-ing-structured.sta")
    (stmt,) = parsed.statements
    assert (stmt.account.identifier, stmt.account.currency) == ("NL69INGB0123456789", "EUR")  # ":25:NL..EUR"
    credit, debit, returned = stmt.entries
    assert (credit.merchant, credit.descriptor, credit.reference) == (
        "ING BANK NV INZAKE WEB",
        "EV10001REP1000000T1000",
        "EV12341REP1231456T1234",
    )  # /CNTP/, /REMI/USTD//
    assert (credit.entry_id, credit.amount) == ("00000000001005", m("1.56"))
    assert (debit.descriptor, debit.merchant, debit.reference) == (
        "TOTAAL 1 VZ",
        None,
        None,
    )  # :61: says "PREF"
    assert (returned.merchant, returned.descriptor) == ("J.Janssen", "Factuurnr 123456 Klantnr 00123")
    assert [b.kind for b in stmt.balances] == [
        "opening_booked",
        "closing_booked",
        "closing_available",
        "forward_available",
    ]  # the /SUM/ :86: after :62F: is no entry


def test_sepa_keywords_in_free_text_give_purpose_payee_and_reference() -> None:
    (stmt,) = read("ours-sepa-freetext.sta").statements  # a "Kontoauszug" line before :20:
    (entry,) = stmt.entries
    assert (entry.descriptor, entry.merchant, entry.reference, entry.entry_id) == (
        "Jahresbeitrag 2026 Verein Beispiel",
        "Beispielverein",
        "INV-2026-0210",
        "AT-REF-1",
    )


def test_a_customer_reference_longer_than_16_keeps_its_bank_reference() -> None:
    line = ":61:2207060706DR20,NTRFBIPI-dvT1FzfMqvzF5HaU4oetlH7SGRkonU//2022070616391534000"
    (stmt,) = parse_mt940(ONE.format(line=line).encode(), ReadOptions()).statements  # GLS / Atruvia
    (entry,) = stmt.entries
    assert (entry.entry_id, entry.reference) == ("2022070616391534000", "BIPI-dvT1FzfMqvzF5HaU4oetlH7SGRkonU")


def test_the_caller_s_currency_is_used_when_the_file_names_none() -> None:
    text = ":20:X\n:25:1234567\n:61:2603010301D12,50NTRFNONREF\n:86:text\n"
    error = fails(text)
    assert error.detail == (
        "MT940, line 3: no currency: the statement has no balance or floor limit naming one, "
        "and none was given for this file"
    )
    (stmt,) = parse_mt940(text.encode(), ReadOptions(currency="CHF")).statements
    assert (stmt.account.currency, stmt.entries[0].amount) == ("CHF", m("-12.50", "CHF"))


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (
            ONE.format(line=":61:2603010301D12,3,4NTRFNONREF"),
            "line 4",
            ":61: '12,3,4' is not an amount: expected digits with one decimal comma, like 1234,56 or 100,",
        ),
        (
            ONE.format(line=":61:2603010301D,NTRFNONREF"),
            "line 4",
            ":61: ',' is not an amount: expected digits with one decimal comma, like 1234,56 or 100,",
        ),
        (
            ONE.format(line=":61:2613010301D12,NTRFNONREF"),
            "line 4",
            ":61: date 261301 is not a date (YYMMDD)",
        ),
        (
            ONE.format(line=":61:2603000301D12,NTRFNONREF"),
            "line 4",
            ":61: date 260300 is not a date (YYMMDD)",
        ),
        (
            ONE.format(line=":61:2603011301D12,NTRFNONREF"),
            "line 4",
            ":61: entry date 261301 is not a date (YYMMDD)",
        ),
        (
            ONE.format(line=":61:ABCDEF"),
            "line 4",
            ":61: a statement line needs a value date YYMMDD, an optional "
            "entry date MMDD and a mark C, D, RC or RD",
        ),
        (
            ":20:X\n:25:1\n:60F:X260301EUR100,00\n",
            "line 3",
            ":60F: a balance needs C or D, a date YYMMDD, a currency and an amount",
        ),
        (
            ":20:X\n:25:1\n:62F:C260301EUR\n",
            "line 3",
            ":62F: an empty amount is not an amount: expected digits with one decimal comma, "
            "like 1234,56 or 100,",
        ),
        (":20:X\n:25:1\n:60F:C260301EU1100,00\n", "line 3", "unknown currency code 'EU1': expected ISO 4217"),
        (
            ":20:X\n:25:1\n:60F:C260301JPY100,5\n",
            "line 3",
            "amount 100.5 has more than 0 decimal places for JPY",
        ),
        (
            ":20:X\n:60F:C260301EUR100,00\n",
            "line 1",
            ":25: names no account (an IBAN or account number is required)",
        ),
        (
            ":20:X\n:25:1\n:28C:ABC\n",
            "line 3",
            ":28C: could not be read: expected a statement number such as 00001/001",
        ),
        (
            ":20:X\n:25:1\n:34F:EURX\n",
            "line 3",
            ":34F: could not be read: expected a currency, an optional D or C and an amount",
        ),
        (
            ":20:X\n:25:1\n:34F:EUR0,\n:13D:2603012500+0100\n",
            "line 4",
            ":13D: a date and time YYMMDDhhmm is expected",
        ),
        (
            "Dear customer,\nplease find your statement attached.\n",
            "line 1",
            "no MT940/MT942 statement found: expected tags such as :20:, :25: and :61: at the start of lines",
        ),
    ],
)
def test_a_bad_line_is_refused_naming_the_line_and_why(text: str, where: str, reason: str) -> None:
    error = fails(text)
    assert (error.where, error.detail) == (where, f"MT940, {where}: {reason}")


def test_the_library_never_logs_the_text_it_cannot_read(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        fails(":20:X\n:25:1\n:28C:SECRET NAME\n")
        read("jejik-abnamro.sta")
    assert [r for r in caplog.records if r.name.startswith("mt940")] == []


def test_an_empty_file_has_no_statements_and_a_blank_one_is_zero_transactions() -> None:
    assert parse_mt940(b"", ReadOptions()).statements == ()
    assert read_statement(b"\r\n  \r\n", options=ReadOptions(format=StatementFormat.MT940)).entry_count == 0


def test_every_mt940_fixture_is_detected_as_mt940_without_being_told() -> None:
    for path in sorted(MT940.glob("*.sta")):
        assert _format_read(path.read_bytes()) is StatementFormat.MT940, path.name


def _format_read(data: bytes) -> StatementFormat | None:
    """The format the file was read (or refused) as, detected from its bytes alone."""
    try:
        return read_statement(data, filename=None).format
    except StatementError as exc:
        return exc.format


def test_windows_1252_text_is_read_as_such() -> None:
    text = ONE.format(line=":61:2603010301D12,NTRFNONREF").replace(":86:text", ":86:Müller Café € 5")
    (stmt,) = parse_mt940(text.encode("cp1252"), ReadOptions()).statements
    assert stmt.entries[0].descriptor == "Müller Café € 5"
