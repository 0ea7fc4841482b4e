"""The CSV reader: encodings, delimiters, preambles, headers or none, date formats and their
ambiguity, decimal commas, signed amounts versus debit/credit columns or markers, the shipped bank
profiles, saved mappings, the preview, and errors that name the line and the column."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerlink.adapters.statements import detect_csv_mapping, preview_csv, read_statement
from ledgerlink.adapters.statements.csv_profiles import PROFILES
from ledgerlink.domain.banking import TransactionStatus
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import DateOrder, ParsedFile, ReadOptions, StatementError, StatementFormat

CSV = Path(__file__).parents[1] / "fixtures" / "statements" / "csv"


def read(name: str, currency: str | None = "EUR", **options: object) -> ParsedFile:
    return read_statement(
        (CSV / name).read_bytes(), filename=name, options=ReadOptions(currency=currency, **options)
    )  # type: ignore[arg-type]


def fails(name: str, **options: object) -> StatementError:
    with pytest.raises(StatementError) as info:
        read(name, **options)  # type: ignore[arg-type]
    return info.value


def m(amount: str, currency: str = "EUR") -> Money:
    return Money(Decimal(amount), currency)


def rows(parsed: ParsedFile) -> list[tuple[date | None, Money, str]]:
    return [(e.booking_date, e.amount, e.descriptor) for s in parsed.statements for e in s.entries]


# ------------------------------------------------------------------ published files


def test_windows_1252_is_recognised_and_dotted_iso_dates_read() -> None:
    parsed = read("actual_windows_1252.csv")
    assert parsed.csv_mapping is not None and parsed.csv_mapping.encoding == "cp1252"
    assert rows(parsed) == [(date(2025, 12, 4), m("100.25"), "Café Rémy"),
                            (date(2025, 12, 5), m("-42.10"), "Boulangerie Müller")]  # fmt: skip


def test_a_utf8_bom_file_with_hungarian_headers_finds_its_filled_columns() -> None:
    parsed = read("actual_utf_8_bom.csv", currency=None)
    (statement,) = parsed.statements
    assert statement.account.identifier == "11600006-XXXXXXXX-XXXXXXXX"  # Számlaszám
    assert [(e.booking_date, e.amount) for e in statement.entries] == [
        (date(2025, 12, 4), m("100.00", "HUF")), (date(2025, 12, 1), m("100.00", "HUF"))
    ]  # fmt: skip


def test_payee_and_notes_columns_are_merchant_and_descriptor() -> None:
    (statement,) = read("actual_data_payee_memo.csv").statements
    assert [(e.descriptor, e.merchant) for e in statement.entries] == [
        ("Note Text", "Payee Name"),
        ("Payee Name Only", "Payee Name Only"),
        ("Note Only Text", None),
        ("", None),
    ]


def test_a_csv_without_a_currency_column_needs_the_callers() -> None:
    error = fails("actual_data_payee_memo.csv", currency=None)
    assert (error.code, error.where, error.format) == ("currency_needed", "line 2", StatementFormat.CSV)


def test_a_headerless_file_with_debit_credit_markers_and_a_note_row() -> None:
    parsed = read("bank2ynab_cd_flag.csv")
    mapping = parsed.csv_mapping
    assert mapping is not None and not mapping.has_header and mapping.delimiter == ";"
    assert (mapping.date_column, mapping.amount_column, mapping.direction_column) == (0, 3, 4)
    assert mapping.decimal_comma and mapping.date_format == "%d.%m.%Y"
    got = rows(parsed)
    assert len(got) == 8
    assert got[0] == (date(2017, 9, 18), m("-33.87"), "HOFER DANKT 0527 K2 18.09. 17:20")
    assert got[2] == (date(2017, 9, 20), m("24.00"), "Überweisung")  # "I": money in
    assert parsed.statements[0].entries[1].value_date == date(2017, 9, 16)
    assert parsed.warnings == ("line 8: rows without an amount are not transactions and were not read",)


def test_a_headerless_tab_file_with_separate_debit_and_credit_columns() -> None:
    parsed = read("bank2ynab_delimiter_tab.csv")
    mapping = parsed.csv_mapping
    assert mapping is not None and mapping.delimiter == "\t"
    assert (mapping.debit_column, mapping.credit_column, mapping.amount_column) == (4, 3, None)
    assert [e.amount for e in parsed.statements[0].entries] == [
        m("-33.87"), m("-24.11"), m("24.00"), m("-907.90"), m("307.67"), m("-20.16"), m("-12.42")
    ]  # fmt: skip


def test_a_signed_inflow_column_and_a_short_note_row() -> None:
    parsed = read("bank2ynab_test_headers.csv")
    got = rows(parsed)
    assert got[0] == (date(2017, 9, 18), m("-33.87"), "HOFER DANKT 0527 K2 18.09. 17:20")
    assert got[4][1] == m("-1443.48") and len(got) == 7
    assert parsed.warnings == ("line 8: rows without an amount are not transactions and were not read",)


def test_abn_amro_tab_export_has_no_header_and_two_accounts() -> None:
    parsed = read("abn_amro_txt_sample.tab", currency=None)
    assert parsed.csv_mapping is not None and parsed.csv_mapping.profile == "abn-amro"
    first, second = parsed.statements
    assert (first.account.identifier, second.account.identifier) == ("123456789", "112233445")
    assert [e.amount for e in first.entries] == [m("-25.00"), m("25.00"), m("-6.50")]
    assert second.entries[1].booking_date == date(2023, 12, 30)
    assert second.entries[1].value_date == date(2023, 12, 31)


# ------------------------------------------------------------------ bank profiles

# (file, profile, currency, "booking date amount; ...") for every entry of the file, in order
PROFILE_CASES = [
    ("ours_chase_checking.csv", "chase-checking", "USD",
     "2025-01-31 -4.50; 2025-01-15 2500.00; 2025-01-10 -150.00"),
    ("ours_chase_credit.csv", "chase-credit", "USD", "2025-01-03 -52.10; 2025-01-06 500.00"),
    ("ours_bank_of_america.csv", "bank-of-america", "USD", "2025-01-03 -1234.56; 2025-01-15 2500.00"),
    ("ours_bank_of_america_credit.csv", "bank-of-america-credit", "USD", "2025-01-04 -18.75"),
    ("ours_wells_fargo.csv", "wells-fargo", "USD",
     "2025-01-28 -12.34; 2025-01-15 2500.00; 2025-01-10 -100.00"),
    ("ours_capital_one.csv", "capital-one", "USD", "2025-01-03 -40.00; 2025-01-10 250.00"),
    ("ours_amex.csv", "amex", "USD", "2025-01-05 -420.00; 2025-01-20 420.00"),
    ("ours_barclays.csv", "barclays", "GBP", "2025-01-03 -9.99; 2025-01-15 1800.00"),
    ("ours_monzo.csv", "monzo", "GBP", "2025-01-02 -3.20; 2025-01-13 1500.00"),
    ("bank2ynab_monzo_2018.csv", "monzo-2018", "GBP", "2018-02-25 -10.00"),
    ("ours_revolut.csv", "revolut", "EUR", "2025-01-02 -4.80; 2025-01-04 50.00; 2025-01-05 -12.00"),
    ("ours_n26.csv", "n26", "EUR", "2025-01-03 -23.45; 2025-01-10 2100.00"),
    ("ours_ing_nl.csv", "ing-nl", "EUR", "2025-01-02 -12.45; 2025-01-05 2500.00"),
    ("ours_rabobank.csv", "rabobank", "EUR", "2025-01-02 -7.50; 2025-01-03 100.00"),
    ("ours_deutsche_bank.csv", "deutsche-bank", "EUR", "2025-01-03 -80.00; 2025-01-15 2400.00"),
    ("ours_sparkasse_camt.csv", "sparkasse-camt", "EUR", "2025-01-02 -3.20; 2025-01-31 -750.00"),
    ("bank2ynab_sparkasse_umsatz.csv", "sparkasse-mt940", "EUR", "2018-02-22 -36.99"),
    ("ours_dkb.csv", "dkb", "EUR", "2025-01-30 -19.90; 2025-01-31 -55.00"),
    ("ours_dkb_legacy.csv", "dkb-legacy", "EUR", "2025-01-02 -12.00"),
    ("ours_commerzbank.csv", "commerzbank", "EUR", "2025-01-02 -29.99"),
    ("ours_santander_es.csv", "santander-es", "EUR", "2025-01-02 -35.40; 2025-01-01 1500.00"),
    ("ours_bbva.csv", "bbva", "EUR", "2025-01-31 -16.41; 2025-01-15 1500.00"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "profile", "currency", "expected"), PROFILE_CASES)
def test_each_shipped_bank_profile_reads_its_banks_export(
    name: str, profile: str, currency: str, expected: str
) -> None:
    parsed = read(name, currency=currency)
    assert parsed.csv_mapping is not None and parsed.csv_mapping.profile == profile
    got = [(e.booking_date, e.amount) for s in parsed.statements for e in s.entries]
    pairs = (p.split() for p in expected.split(";"))
    want = [(date.fromisoformat(day), m(amount, currency)) for day, amount in pairs]
    assert got == want


def test_every_profile_has_a_fixture_and_a_source() -> None:
    tested = {profile for _, profile, _, _ in PROFILE_CASES} | {"abn-amro"}
    shipped = {p.name for p in PROFILES}
    assert shipped - tested == {"n26-de", "n26-2023"}  # same reader paths as "n26"
    assert all(p.source for p in PROFILES)


def test_preamble_lines_give_the_account_and_are_skipped() -> None:
    dkb = read("ours_dkb.csv")
    assert dkb.csv_mapping is not None and dkb.csv_mapping.skip_rows == 4
    assert dkb.statements[0].account.identifier == "DE00120300000000000000"
    assert [e.status for e in dkb.statements[0].entries] == [
        TransactionStatus.POSTED,
        TransactionStatus.PENDING,
    ]
    legacy = read("ours_dkb_legacy.csv")
    assert legacy.statements[0].account.identifier == "DE00120300000000000000"
    bofa = read("ours_bank_of_america.csv", currency="USD")
    assert bofa.csv_mapping is not None and bofa.csv_mapping.skip_rows == 6
    assert [(b.amount, b.as_of) for b in bofa.statements[0].balances] == [
        (m("2265.44", "USD"), date(2025, 1, 15))
    ]
    assert bofa.warnings == ("line 8: rows without an amount are not transactions and were not read",)


def test_statuses_columns_and_running_balances() -> None:
    revolut = read("ours_revolut.csv")
    (statement,) = revolut.statements
    assert [e.status for e in statement.entries] == [TransactionStatus.POSTED] * 2 + [
        TransactionStatus.PENDING
    ]
    assert [(b.kind, b.amount, b.as_of) for b in statement.balances] == [
        ("closing_booked", m("145.20"), date(2025, 1, 4))
    ]
    assert revolut.warnings == ("line 5: rows marked reverted, declined or cancelled were not read",)
    chase = read("ours_chase_checking.csv", currency="USD")  # newest first: the first row's balance
    assert [(b.amount, b.as_of) for b in chase.statements[0].balances] == [
        (m("1245.50", "USD"), date(2025, 1, 31))
    ]


def test_account_columns_currency_columns_payees_and_ids() -> None:
    ing = read("ours_ing_nl.csv")
    assert ing.statements[0].account.identifier == "NL00INGB0001234567"
    assert [(e.merchant, e.descriptor) for e in ing.statements[0].entries] == [
        ("Bakkerij", "Pasvolgnr: 003"), ("Werkgever BV", "Salaris januari")
    ]  # fmt: skip
    rabo = read("ours_rabobank.csv", currency=None)  # "Munt" says EUR
    assert [e.entry_id for e in rabo.statements[0].entries] == ["000000000000001001", "000000000000001002"]
    monzo = read("ours_monzo.csv", currency=None)
    assert monzo.statements[0].account.currency == "GBP"
    assert [e.entry_id for e in monzo.statements[0].entries] == ["tx_0001", "tx_0002"]


# ------------------------------------------------------------------ amounts and dates


def test_negative_amounts_in_parentheses_trailing_minus_thousands_and_plus_signs() -> None:
    assert [e.amount for e in read("ours_generic_quirks.csv").statements[0].entries] == [
        m("-12.50"), m("-12.50"), m("1234.56"), m("7.00")
    ]  # fmt: skip


def test_ambiguous_dates_are_read_day_first_flagged_and_read_as_confirmed() -> None:
    parsed = read("ours_ambiguous_dates.csv")
    assert parsed.ambiguous_date_orders == (DateOrder.DMY, DateOrder.MDY)
    assert [e.booking_date for e in parsed.statements[0].entries] == [date(2025, 2, 1), date(2025, 4, 3)]
    confirmed = read("ours_ambiguous_dates.csv", date_order=DateOrder.MDY)
    assert confirmed.ambiguous_date_orders == () and confirmed.date_order is DateOrder.MDY
    assert confirmed.csv_mapping is not None and confirmed.csv_mapping.date_format == "%m/%d/%Y"
    assert [e.booking_date for e in confirmed.statements[0].entries] == [date(2025, 1, 2), date(2025, 3, 4)]


def test_a_confirmed_order_that_a_date_does_not_fit_is_refused_at_its_line_and_column() -> None:
    error = fails("ours_fail_mixed_orders.csv", date_order=DateOrder.DMY)
    assert (error.code, error.where) == ("bad_date", "line 3")
    assert error.detail == "CSV, line 3: column 1 (Date): a date that cannot be read as DMY"


@pytest.mark.parametrize(
    ("name", "code", "detail"),
    [
        ("ours_fail_mixed_orders.csv", "mixed_date_orders",
         "CSV, line 3: column 1 (Date): the dates mix orders: this one cannot be DMY like the first row"),
        ("ours_fail_bad_amount.csv", "bad_amount",
         "CSV, line 3, column 3 (Amount): not an amount (the mapping reads a decimal point)"),
        ("ours_fail_extra_column.csv", "bad_csv_row",
         "CSV, line 5: the row has 4 columns, the header 3: is a delimiter inside an unquoted field?"),
    ],
)  # fmt: skip
def test_a_bad_csv_is_refused_naming_line_and_column(name: str, code: str, detail: str) -> None:
    error = fails(name)
    assert (error.code, error.detail) == (code, detail)


def test_text_that_is_no_table_is_refused() -> None:
    with pytest.raises(StatementError) as info:
        read_statement(b"just one line\nand another\n", options=ReadOptions(format=StatementFormat.CSV))
    assert (info.value.code, info.value.where) == ("bad_csv", "line 1")


def test_a_file_without_date_column_is_refused() -> None:
    with pytest.raises(StatementError) as info:
        read_statement(
            b"a,b\nx,1.00\ny,2.00\n", options=ReadOptions(format=StatementFormat.CSV, currency="EUR")
        )
    assert info.value.code == "csv_no_date"


# ------------------------------------------------------------------ mappings and the preview


def test_a_saved_mapping_is_used_exactly_as_given() -> None:
    data = (CSV / "ours_ambiguous_dates.csv").read_bytes()
    detected = detect_csv_mapping(data)
    assert detected.date_format == "%d/%m/%Y"
    corrected = replace(detected, date_format="%m/%d/%Y", description_column=1, negate_amounts=True)
    parsed = read_statement(data, options=ReadOptions(currency="EUR", csv_mapping=corrected))
    assert parsed.csv_mapping == corrected and parsed.ambiguous_date_orders == ()
    assert [(e.booking_date, e.amount) for e in parsed.statements[0].entries] == [
        (date(2025, 1, 2), m("1.00")), (date(2025, 3, 4), m("2.00"))
    ]  # fmt: skip


def test_a_saved_mapping_that_does_not_fit_the_file_says_where() -> None:
    data = (CSV / "ours_generic_quirks.csv").read_bytes()
    mapping = replace(detect_csv_mapping(data), decimal_comma=False)
    with pytest.raises(StatementError) as info:
        read_statement(data, options=ReadOptions(currency="EUR", csv_mapping=mapping))
    assert info.value.where == "line 2, column 3 (Bedrag)"
    wrong_encoding = replace(
        detect_csv_mapping((CSV / "actual_windows_1252.csv").read_bytes()), encoding="utf-8"
    )
    with pytest.raises(StatementError) as info:
        read_statement(
            (CSV / "actual_windows_1252.csv").read_bytes(),
            options=ReadOptions(currency="EUR", csv_mapping=wrong_encoding),
        )
    assert info.value.code == "bad_encoding"


def test_the_preview_shows_header_rows_as_read_and_every_problem() -> None:
    data = (CSV / "ours_fail_bad_amount.csv").read_bytes()
    preview = preview_csv(data, rows=2, options=ReadOptions(currency="EUR"))
    assert preview.header == ("Date", "Description", "Amount")
    assert preview.mapping.amount_column == 2
    first, second = preview.rows
    assert (first.line, first.cells, first.problem) == (2, ("2025-01-02", "First", "-1.00"), None)
    assert first.entry is not None and first.entry.amount == m("-1.00")
    assert second.entry is None
    assert (
        second.problem == "CSV, line 3, column 3 (Amount): not an amount (the mapping reads a decimal point)"
    )
    assert preview.problems == (second.problem,)


def test_the_preview_of_ambiguous_dates_says_so_and_a_given_mapping_is_previewed() -> None:
    data = (CSV / "ours_ambiguous_dates.csv").read_bytes()
    preview = preview_csv(data, options=ReadOptions(currency="EUR"))
    assert preview.ambiguous_date_orders == (DateOrder.DMY, DateOrder.MDY)
    assert len(preview.rows) == 2 and preview.problems == ()
    other = preview_csv(
        data, replace(preview.mapping, date_format="%m/%d/%Y"), options=ReadOptions(currency="EUR")
    )
    assert [r.entry.booking_date for r in other.rows if r.entry] == [date(2025, 1, 2), date(2025, 3, 4)]
    no_currency = preview_csv(data)
    assert all(r.entry is None for r in no_currency.rows)
    assert (
        no_currency.problems[0]
        == "CSV, line 2: the file does not say its currency: choose one for the account (e.g. EUR)"
    )


def test_a_csv_without_extension_is_still_recognised_as_csv() -> None:
    parsed = read_statement((CSV / "ours_capital_one.csv").read_bytes(), options=ReadOptions(currency="USD"))
    assert parsed.format is StatementFormat.CSV and parsed.entry_count == 2


def test_rows_of_two_widths_are_refused_rather_than_half_read_as_a_preamble() -> None:
    rows = [f"2025-01-0{d},Shop {d},-{d}.00" for d in range(1, 6)] + [
        f"2025-01-1{d},Shop,{d},-{d}.00" for d in range(0, 9)
    ]
    data = ("\n".join(rows) + "\n").encode()
    with pytest.raises(StatementError) as info:
        read_statement(data, options=ReadOptions(format=StatementFormat.CSV, currency="EUR"))
    assert (info.value.code, info.value.where) == ("bad_csv_row", "line 1")
    assert "line 1 has 3, line 6 has 4" in info.value.detail
