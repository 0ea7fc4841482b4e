"""The QIF reader on published test files (jemmyw/Qif, Actual) and our own: date orders detected,
confirmed or refused with their line; several accounts; splits; investment accounts refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerlink.adapters.statements import read_statement
from ledgerlink.domain.banking import AccountType
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import DateOrder, ParsedFile, ReadOptions, StatementError, StatementFormat

QIF = Path(__file__).parents[1] / "fixtures" / "statements" / "qif"


def read(name: str, currency: str | None = "EUR", order: DateOrder | None = None) -> ParsedFile:
    return read_statement(
        (QIF / name).read_bytes(), filename=name, options=ReadOptions(currency=currency, date_order=order)
    )


def fails(name: str, currency: str | None = "EUR", order: DateOrder | None = None) -> StatementError:
    with pytest.raises(StatementError) as info:
        read(name, currency, order)
    return info.value


def eur(amount: str, currency: str = "EUR") -> Money:
    return Money(Decimal(amount), currency)


def test_a_day_over_twelve_decides_day_month_year_and_it_is_reported() -> None:
    parsed = read("jemmyw_3_records_ddmmyy.qif")
    assert parsed.format is StatementFormat.QIF
    assert parsed.date_order is DateOrder.DMY and parsed.ambiguous_date_orders == ()
    (statement,) = parsed.statements
    assert [(e.booking_date, e.amount) for e in statement.entries] == [
        (date(2010, 1, 1), eur("-10.00")),
        (date(2010, 6, 1), eur("-20.00")),
        (date(2010, 12, 29), eur("30.00")),
    ]
    assert statement.entries[0].descriptor == "Description Reference"  # payee and memo
    assert statement.entries[0].merchant == "Description"
    assert all(e.entry_id is None for e in statement.entries)  # QIF has no ids
    assert statement.account.identifier == "" and statement.account.type is AccountType.CHECKING


def test_space_padded_dates_fit_month_day_year_only() -> None:
    parsed = read("jemmyw_3_records_spaced.qif")
    assert parsed.date_order is DateOrder.MDY
    assert [e.booking_date for e in parsed.statements[0].entries] == [
        date(2010, 1, 1), date(2010, 6, 1), date(2010, 12, 29)
    ]  # fmt: skip


def test_dates_that_fit_both_orders_are_read_day_first_and_flagged_for_confirmation() -> None:
    parsed = read("ours_ambiguous_dates.qif")
    assert parsed.ambiguous_date_orders == (DateOrder.DMY, DateOrder.MDY)
    assert parsed.needs_confirmation
    assert [e.booking_date for e in parsed.statements[0].entries] == [date(2025, 4, 3), date(2025, 5, 4)]
    confirmed = read("ours_ambiguous_dates.qif", order=DateOrder.MDY)
    assert not confirmed.needs_confirmation and confirmed.date_order is DateOrder.MDY
    assert [e.booking_date for e in confirmed.statements[0].entries] == [date(2025, 3, 4), date(2025, 4, 5)]
    assert confirmed.statements[0].account.type is AccountType.OTHER  # !Type:Cash


def test_a_given_date_order_that_a_date_does_not_fit_is_refused_at_that_line() -> None:
    error = fails("jemmyw_3_records_ddmmyy.qif", order=DateOrder.MDY)
    assert (error.code, error.where) == ("bad_date", "line 14")
    assert error.detail == "QIF, line 14: the date '29/12/10' cannot be read as month-day-year"


def test_dates_that_no_single_order_reads_are_refused_naming_both_lines() -> None:
    error = fails("ours_fail_mixed_orders.qif")
    assert error.code == "mixed_date_orders"
    assert error.detail == "QIF: no date order reads every date: line 2 can be day-month-year, line 6 cannot"


def test_iso_dates_need_no_confirmation_even_when_an_order_is_given() -> None:
    data = b"!Type:Bank\nD2022-09-23\nPFIRST\nT-184.8\n^\nD2022-09-08\nPSECOND\nT-13.16\n^\n"
    for order in (None, DateOrder.DMY):
        parsed = read_statement(data, options=ReadOptions(currency="USD", date_order=order))
        assert [e.booking_date for e in parsed.statements[0].entries] == [date(2022, 9, 23), date(2022, 9, 8)]
        assert [e.amount for e in parsed.statements[0].entries] == [
            eur("-184.80", "USD"),
            eur("-13.16", "USD"),
        ]


def test_quicken_export_with_several_accounts_apostrophe_years_splits_and_a_balance() -> None:
    parsed = read("ours_multi_account_autoswitch.qif", currency="USD")
    assert parsed.date_order is DateOrder.MDY
    everyday, card, loan = parsed.statements
    assert (everyday.account.name, everyday.account.type) == ("Everyday", AccountType.CHECKING)
    assert (card.account.name, card.account.type) == ("Travel card", AccountType.CREDIT_CARD)
    assert (loan.account.name, loan.account.type) == ("Car loan", AccountType.LOAN)
    assert [(e.booking_date, e.amount, e.descriptor) for e in everyday.entries] == [
        (date(2025, 1, 2), eur("-45.60", "USD"), "Grocer & Sons Weekly shop"),
        (date(2025, 1, 15), eur("2500.00", "USD"), "Employer Ltd"),
        (date(2025, 1, 20), eur("-120.00", "USD"), "Utility Co"),  # splits -80 + -40
    ]
    assert [(b.kind, b.amount, b.as_of) for b in everyday.balances] == [
        ("closing_booked", eur("1204.10", "USD"), date(2025, 1, 31))
    ]
    assert [(e.booking_date, e.merchant) for e in card.entries] == [
        (date(2025, 1, 5), "Bookshop"), (date(2024, 12, 31), "Café Nord")  # cp1252 bytes
    ]  # fmt: skip
    assert [e.where for e in card.entries] == ["line 45", "line 49"]
    assert parsed.warnings == ()


def test_thousands_separators_and_splits_that_do_not_add_up_are_read_and_said() -> None:
    parsed = read("jemmyw_account_block.qif", order=DateOrder.MDY)
    (statement,) = parsed.statements  # the !Account block after the transactions has none
    mortgage, deposit, film = statement.entries
    assert (mortgage.amount, mortgage.reference, mortgage.booking_date) == (
        eur("-1000.00"),
        "1005",
        date(1994, 6, 1),
    )
    assert (deposit.amount, film.descriptor) == (eur("75.00"), "Anthony Hopkins Film")
    assert parsed.warnings == (
        "line 13: split amounts that are not numbers were ignored",
        "line 2: split amounts that do not add up to the transaction's amount: the amount was kept",
    )


def test_decimal_commas_are_recognised_from_the_files_amounts() -> None:
    parsed = read("ours_decimal_comma.qif")
    assert parsed.date_order is DateOrder.DMY
    assert [e.amount for e in parsed.statements[0].entries] == [eur("-1234.56"), eur("12.50"), eur("-3.99")]


def test_payee_and_memo_each_alone_or_together_make_the_descriptor() -> None:
    (statement,) = read("actual_data_payee_memo.qif").statements
    assert [(e.descriptor, e.merchant) for e in statement.entries] == [
        ("Payee Name Note Text", "Payee Name"),
        ("Payee Name Only", "Payee Name Only"),
        ("Note Only Text", None),
        ("", None),
    ]
    (named,) = read("actual_qif_account.qif").statements
    assert named.account.name == "Checking Main" and named.entries[0].booking_date == date(2018, 12, 19)


def test_qif_never_invents_a_currency() -> None:
    error = fails("actual_qif_account.qif", currency=None)
    assert (error.code, error.where) == ("currency_needed", "line 6")


def test_investment_accounts_are_refused_clearly() -> None:
    error = fails("jemmyw_quicken_investment_account.qif")
    assert (error.code, error.where) == ("unsupported_qif_type", "line 1")
    assert "investment accounts (!Type:Invst) are not supported" in error.detail


@pytest.mark.parametrize(
    ("data", "code", "where"),
    [
        (b"!Type:Bank\nDnot a date\nT-1.00\n^\n", "bad_date", "line 2"),
        (b"!Type:Bank\nD01/02/2025\nTabc\n^\n", "bad_amount", "line 3"),
        (b"!Type:Bank\nPno date\nT-1.00\n^\n", "bad_date", "line 2"),
        (b"!Type:Bank\nD01/02/2025\nPno amount\n^\n", "bad_amount", "line 2"),
        (b"!Type:Wat\nD01/02/2025\n^\n", "bad_qif", "line 1"),
    ],
)
def test_broken_records_are_refused_at_their_line(data: bytes, code: str, where: str) -> None:
    with pytest.raises(StatementError) as info:
        read_statement(data, options=ReadOptions(currency="EUR"))
    assert (info.value.code, info.value.where, info.value.format) == (code, where, StatementFormat.QIF)


def test_a_file_of_categories_only_has_no_statements_and_needs_no_currency() -> None:
    parsed = read_statement(b"!Type:Cat\nNFood\nE\n^\n", options=ReadOptions())
    assert parsed.statements == () and parsed.date_order is None
