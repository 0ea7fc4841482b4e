"""The ISO 20022 camt.052/053/054 reader on published test files (genkgo/camt) and our own
nasty ones: every quirk asserted on its exact result, every failing file on its precise error
(format, element path, reason)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from bench.gen_camt import camt053_file, parse_only, transactions_in

from ledgerlink.adapters.statements import read_statement
from ledgerlink.adapters.statements.camt import parse_camt
from ledgerlink.domain.banking import AccountType, TransactionStatus
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import ParsedFile, ReadOptions, StatementError, StatementFormat

CAMT = Path(__file__).parents[1] / "fixtures" / "statements" / "camt"
POSTED, PENDING = TransactionStatus.POSTED, TransactionStatus.PENDING


def read(name: str) -> ParsedFile:
    return parse_camt((CAMT / name).read_bytes(), ReadOptions())


def fails(data: bytes) -> StatementError:
    with pytest.raises(StatementError) as info:
        parse_camt(data, ReadOptions())
    assert info.value.format is StatementFormat.CAMT
    return info.value


def m(amount: str, currency: str = "EUR") -> Money:
    return Money(Decimal(amount), currency)


def camt(
    entries: str,
    *,
    account: str = "<Id><IBAN>GB29NWBK60161331926819</IBAN></Id><Ccy>GBP</Ccy>",
    version: str = "camt.053.001.08",
    balances: str = "",
) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{version}">'
        f"<BkToCstmrStmt><GrpHdr><MsgId>T</MsgId></GrpHdr><Stmt><Id>S-1</Id><Acct>{account}</Acct>{balances}"
        f"{entries}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def ntry(
    amount: str = '<Amt Ccy="GBP">12.30</Amt>',
    mark: str = "DBIT",
    status: str = "<Sts><Cd>BOOK</Cd></Sts>",
    rest: str = "<BookgDt><Dt>2026-04-14</Dt></BookgDt><AcctSvcrRef>R1</AcctSvcrRef>",
) -> str:
    return f"<Ntry>{amount}<CdtDbtInd>{mark}</CdtDbtInd>{status}{rest}</Ntry>"


def test_two_statements_in_one_camt053_file_are_two_statements_with_their_own_entries() -> None:
    parsed = read("genkgo-camt053.v2.multi.statement.xml")
    assert parsed.format is StatementFormat.CAMT and parsed.extra == {"message": "camt.053.001.02"}
    first, second = parsed.statements
    assert first.account.identifier == second.account.identifier == "NL26VAYB8060476890"
    assert first.account.currency == "EUR"
    assert (first.period_start, first.period_end) == (date(2007, 10, 18), date(2007, 10, 18))
    assert (second.period_start, second.period_end) == (None, None)  # no FrToDt
    assert [(b.kind, b.amount, b.as_of) for b in first.balances] == [
        ("opening_booked", m("18.15"), date(2014, 12, 30)),
        ("closing_booked", m("27.00"), date(2014, 12, 31)),
    ]
    assert [(b.kind, b.amount) for b in second.balances] == [
        ("opening_booked", m("27.00")),
        ("closing_booked", m("20.00")),
    ]
    (credit,) = first.entries
    assert (credit.amount, credit.booking_date, credit.value_date) == (
        m("8.85"),
        date(2014, 12, 31),
        date(2015, 1, 2),
    )
    assert (credit.descriptor, credit.reference, credit.entry_id) == (
        "Transaction Description 1",
        "000000001",
        None,
    )
    assert credit.merchant is None  # money in: the debtor is the other side, and it has none
    (debit,) = second.entries
    assert (debit.amount, debit.merchant, debit.where) == (m("-7.00"), "Company Name 2", "Stmt[2]/Ntry[1]")
    assert parsed.warnings == ()


def test_the_001_08_status_form_a_datetime_booking_day_and_the_party_form_are_read() -> None:
    parsed = read("genkgo-camt053.v8.xml")
    assert parsed.extra == {"message": "camt.053.001.08"}
    (stmt,) = parsed.statements
    assert stmt.account.identifier == "NL26VAYB8060476890"  # Othr/Id, kept as given
    assert stmt.account.name == "FINPETROL" and stmt.account.bank_id is None
    assert stmt.account.currency == "EUR"  # no Acct/Ccy: the first balance's
    assert [(b.kind, b.amount) for b in stmt.balances] == [
        ("opening_booked", m("18.15")),
        ("closing_booked", m("-27.00", "SEK")),
        ("opening_available", m("35.00", "CHF")),
        ("closing_available", m("-2700", "JPY")),
    ]
    (entry,) = stmt.entries
    assert entry.status is POSTED  # <Sts><Cd>BOOK</Cd></Sts>
    assert entry.booking_date == date(2014, 12, 31)  # <DtTm>2014-12-31T13:15:00+01:00</DtTm>: the bank's day
    assert entry.entry_id == "AAAASESS-FP-CN_98765/01"
    assert entry.amount == m("8.85")  # the entry's amount, not its TxDtls' "0 SEK"
    assert entry.merchant == "NAME NAME"  # a credit: <Dbtr><Pty><Nm>
    assert entry.reference == entry.descriptor == "4654654654654654"  # Strd/CdtrRefInf/Ref, no Ustrd


def test_a_camt052_report_with_one_transaction_of_a_batch_is_one_entry() -> None:
    parsed = read("genkgo-camt052.v2.xml")
    assert parsed.extra == {"message": "camt.052.001.02"}
    (report,) = parsed.statements
    assert report.account.identifier == "CH2801234000123456789" and report.account.currency == "SEK"
    (entry,) = report.entries
    assert (entry.amount, entry.booking_date, entry.value_date) == (
        m("-200000.00", "SEK"),
        date(2007, 10, 18),
        date(2007, 10, 18),
    )
    assert (entry.entry_id, entry.where) == ("AAAASESS-FP-ACCR-01", "Rpt[1]/Ntry[1]")
    assert entry.merchant == "Company Name"  # a debit: the creditor
    assert entry.descriptor == "Credit"  # AddtlNtryInf: the transaction has no remittance
    assert entry.reference is None and entry.reversal is False


def test_a_batch_whose_transaction_amounts_do_not_add_up_is_kept_whole_with_a_warning() -> None:
    parsed = read("genkgo-camt054.v8.xml")
    assert parsed.extra == {"message": "camt.054.001.08"}
    (notification,) = parsed.statements
    assert notification.account.bank_id == "UBSWCHZH80A" and notification.account.name == "UNIFITS GmbH"
    (entry,) = notification.entries  # three TxDtls in CHF (9.50) under an entry of 200000 SEK
    assert (entry.amount, entry.entry_id, entry.where) == (
        m("-200000", "SEK"),
        "ACSR160617103200001",
        "Ntfctn[1]/Ntry[1]",
    )
    assert (entry.descriptor, entry.merchant, entry.reference) == ("Order", None, None)
    assert parsed.warnings == (
        "Ntfctn[1]/Ntry[1]: a batch of 3 transactions whose own amounts do not add up "
        "to the entry; imported as one entry",
    )


def test_every_iso_balance_type_has_its_kind() -> None:
    (stmt,) = read("genkgo-camt053.v2.all-balance-types.xml").statements
    assert [(b.kind, b.amount, b.as_of) for b in stmt.balances] == [
        ("opening_booked", m("1.01"), date(2015, 1, 21)),
        ("previously_closed_booked", m("2.02"), date(2015, 1, 21)),
        ("opening_available", m("3.03"), date(2015, 1, 22)),
        ("closing_booked", m("4.04"), date(2015, 1, 22)),
        ("closing_available", m("5.05"), date(2015, 1, 23)),
        ("forward_available", m("6.06"), date(2015, 1, 26)),
        ("information", m("7.07"), date(2015, 1, 27)),
        ("interim_available", m("8.08"), date(2015, 1, 28)),
        ("interim_booked", m("9.09"), date(2015, 1, 21)),
        ("expected", m("10.10"), date(2015, 1, 21)),
    ]
    (entry,) = stmt.entries
    assert entry.amount == m("8.85")  # written "8.850": trailing zeros beyond the currency's 2 are fine


def test_nanosecond_date_times_and_a_statement_with_a_balance_but_no_entries() -> None:
    parsed = read("genkgo-camt53.only-Dt-with-DtTm.xml")
    (stmt,) = parsed.statements
    assert stmt.entries == () and parsed.entry_count == 0
    assert stmt.account.identifier == "GB33BUKB20201555555555" and stmt.account.currency == "RON"
    assert [(b.kind, b.amount, b.as_of) for b in stmt.balances] == [
        ("opening_booked", m("5442.09", "RON"), date(2025, 7, 23))
    ]  # <DtTm>2025-07-23T00:00:00.000000000


def test_a_batch_booking_becomes_one_entry_per_transaction_and_a_reversal_is_marked() -> None:
    parsed = read("ours-camt053-batch-reversal.xml")  # no <?xml?> declaration at all
    assert parsed.warnings == ()
    (stmt,) = parsed.statements
    assert stmt.account.identifier == "NL91ABNA0417164300"
    assert (stmt.account.name, stmt.account.bank_id) == ("Voorbeeld Werkplaats", "ABNANL2A")
    assert [(e.amount, e.reversal, e.where) for e in stmt.entries] == [
        (m("-312.40"), False, "Stmt[1]/Ntry[1]"),
        (m("-400.00"), True, "Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[1]"),  # the batch of 437.60, split
        (m("-37.60"), True, "Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[2]"),
        (m("790.00"), False, "Stmt[1]/Ntry[3]"),
    ]
    first, split1, split2, credit = stmt.entries
    assert (first.descriptor, first.merchant) == (
        "Energy contract 4402 instalment 09/2025",  # RmtInf/Ustrd before AddtlTxInf
        "EXAMPLE ENERGY SUPPLY",
    )
    assert first.reference == "LL-E2E-20250915-0001"  # EndToEndId
    assert (split1.reference, split2.reference) == ("LL-DD-0915-A", "LL-DD-0915-B")
    assert split1.descriptor == split2.descriptor == "Membership fee returned"
    assert split1.merchant == split2.merchant == "Example Member"
    assert credit.descriptor == "EXAMPLE PRINT STUDIO INVOICE 2025-118 CUSTOMER 3305"  # AddtlTxInf: no RmtInf
    assert (credit.merchant, credit.reference) == ("Example Print Studio", None)  # EndToEndId NOTPROVIDED
    # The entries carry no AcctSvcrRef / NtryRef; the split transactions have distinct ones of their own.
    assert [e.entry_id for e in stmt.entries] == [None, "LL-RVSL-0915-A", "LL-RVSL-0915-B", None]
    assert split1.amount + split2.amount == m("-437.60")  # the entry's own amount


def test_an_account_iban_with_a_wrong_check_digit_is_refused_naming_the_element() -> None:
    error = fails((CAMT / "ours-camt053-txdtls-shared-ref.xml").read_bytes())  # CH93 ... 2958: last digit off
    assert error.where == "Stmt[1]/Acct/Id/IBAN" and error.code == "bad_iban"
    assert error.detail == "CAMT, Stmt[1]/Acct/Id/IBAN: not a valid IBAN (invalid checksum digits)"
    assert "CH93" not in error.detail and "2958" not in error.detail  # the number is never echoed


def test_split_transactions_sharing_one_reference_get_ids_derived_from_the_entry() -> None:
    data = (
        (CAMT / "ours-camt053-txdtls-shared-ref.xml")
        .read_bytes()
        .replace(b"CH9300762011623852958", b"CH9300762011623852957")
    )
    (stmt,) = parse_camt(data, ReadOptions()).statements
    assert [(e.entry_id, e.amount, e.merchant, e.descriptor) for e in stmt.entries] == [
        (
            "LLCH20250702000000000000000131/1",
            m("640.00", "CHF"),
            "Exemple Fiduciaire SA",
            "000000000000000702500000013",
        ),
        (
            "LLCH20250702000000000000000131/2",
            m("325.50", "CHF"),
            "Exemple Fiduciaire SA",
            "000000000000000702500000029",
        ),
    ]  # both TxDtls carry Refs/AcctSvcrRef LLPKG0702CHF: not distinct, so "<entry>/<n>"
    assert stmt.account.identifier == "CH9300762011623852957"
    assert stmt.account.name == "Exemple Atelier Sàrl, Genève"  # Ownr/Nm
    assert (stmt.entries[0].booking_date, stmt.entries[0].value_date) == (
        date(2025, 7, 1),
        date(2025, 7, 2),
    )


def test_pending_and_information_entries_reversals_ntryref_ids_and_the_ultimate_party() -> None:
    parsed = read("ours-camt052.001.10-pending.xml")
    assert parsed.extra == {"message": "camt.052.001.10"}
    assert parsed.warnings == ("Rpt[1]/Bal[2]: a balance of a proprietary type is not one we know; skipped",)
    (report,) = parsed.statements
    account = report.account
    assert account.identifier == "DE89370400440532013000"  # written with spaces
    assert (account.type, account.currency, account.name, account.bank_id) == (
        AccountType.CHECKING,
        "EUR",
        "Girokonto",
        "COBADEFFXXX",
    )
    assert [(b.kind, b.amount, b.as_of) for b in report.balances] == [
        ("interim_booked", m("1250.40"), date(2026, 3, 6))
    ]
    pending, info, reversal = report.entries
    assert (pending.status, pending.amount, pending.entry_id) == (PENDING, m("-42.99"), "LLPEND0001")
    assert pending.merchant == "Corner Bakery"  # UltmtCdtr before the processor in Cdtr
    assert pending.descriptor == "Card payment 0306 Corner Bakery Berlin"  # two Ustrd lines
    assert pending.reference is None  # EndToEndId NOTPROVIDED
    assert (info.status, info.entry_id, info.value_date) == (PENDING, "LL-RPT-2026-03-06-1/7", None)
    assert (info.reference, info.merchant) == ("RF18539007547034", "Music Streaming Co")
    assert (reversal.status, reversal.reversal, reversal.amount) == (
        POSTED,
        True,
        m("25.00"),
    )  # CRDT + RvslInd
    assert (reversal.booking_date, reversal.value_date) == (date(2026, 3, 6), date(2026, 3, 5))
    assert (reversal.descriptor, reversal.merchant, reversal.reference) == (
        "Return of direct debit",
        "Example Utility GmbH",
        "E2E-2026-0042",
    )


def test_a_001_12_statement_in_yen_with_entries_without_details() -> None:
    parsed = read("ours-camt053.001.12-no-details.xml")
    assert parsed.extra == {"message": "camt.053.001.12"}
    (stmt,) = parsed.statements
    assert (stmt.account.identifier, stmt.account.currency) == ("1234567", "JPY")
    assert (stmt.period_start, stmt.period_end) == (date(2026, 1, 1), date(2026, 1, 31))
    assert [(b.kind, b.amount) for b in stmt.balances] == [
        ("previously_closed_booked", m("1000", "JPY")),
        ("closing_booked", m("-500", "JPY")),
    ]
    (entry,) = stmt.entries
    assert (entry.amount, entry.entry_id) == (
        m("-1500", "JPY"),
        "LL-STMT-2026-01/1",
    )  # NtryRef, in its statement
    assert entry.descriptor == "ATM WITHDRAWAL SHINJUKU"  # AddtlNtryInf over two lines, blanks collapsed


@pytest.mark.parametrize("name", ["ours-xxe.xml", "ours-billion-laughs.xml"])
def test_a_doctype_is_refused_before_any_entity_is_touched(name: str) -> None:
    error = fails((CAMT / name).read_bytes())
    assert error.code == "xml_entities_refused" and error.where == "line 3"
    assert error.detail == (
        "CAMT, line 3: a DOCTYPE is not allowed in a camt file: document type declarations "
        "and entities (XXE, entity expansion) are refused"
    )
    assert "root:" not in error.detail


def test_a_doctype_without_entities_is_refused_too() -> None:
    data = camt(ntry()).replace(
        b"<Document", b'<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/x.dtd">\n<Document', 1
    )
    assert fails(data).code == "xml_entities_refused"


def test_other_xml_is_refused_saying_what_it_is() -> None:
    error = fails((CAMT / "ours-pain001-not-a-statement.xml").read_bytes())
    assert error.code == "not_camt" and error.where == "line 3"
    assert error.detail == (
        "CAMT, line 3: not an ISO 20022 camt.052/053/054 document: the root is <Document> in "
        "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03; expected <Document> in "
        "urn:iso:std:iso:20022:tech:xsd:camt.05x.001.NN"
    )
    assert fails(b"<Document><BkToCstmrStmt/></Document>").detail.endswith(
        "the root is <Document> in no namespace; expected <Document> in "
        "urn:iso:std:iso:20022:tech:xsd:camt.05x.001.NN"
    )
    assert fails(b'<Stmt xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>').code == "not_camt"
    assert fails(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.056.001.08"/>').code == "not_camt"
    # found by fuzzing: a "}" in the namespace made lxml's QName raise ValueError
    odd = fails(b'<Document xmlns="}urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><Stmt/></Document>')
    assert odd.code == "not_camt" and "}urn:iso:std:iso:20022:tech:xsd:camt.053.001.02" in odd.detail


def test_a_missing_entry_amount_names_the_entry() -> None:
    error = fails((CAMT / "ours-missing-amount.xml").read_bytes())
    assert error.where == "Stmt[1]/Ntry[2]/Amt"
    assert error.detail == "CAMT, Stmt[1]/Ntry[2]/Amt: missing: every entry and balance needs an amount"


@pytest.mark.parametrize(
    ("entry", "where", "reason"),
    [
        (
            ntry(amount='<Amt Ccy="GBP">12,30</Amt>'),
            "Stmt[1]/Ntry[1]/Amt",
            "'12,30' is not an amount: expected digits with at most 5 decimals after a point and no sign "
            "(the sign is CdtDbtInd)",
        ),
        (
            ntry(amount='<Amt Ccy="GBP">-12.30</Amt>'),
            "Stmt[1]/Ntry[1]/Amt",
            "'-12.30' is not an amount: expected digits with at most 5 decimals after a point and no sign "
            "(the sign is CdtDbtInd)",
        ),
        (
            ntry(amount="<Amt>12.30</Amt>"),
            "Stmt[1]/Ntry[1]/Amt",
            "the Ccy attribute (the ISO 4217 currency) is missing",
        ),
        (
            ntry(amount='<Amt Ccy="EURO">1.00</Amt>'),
            "Stmt[1]/Ntry[1]/Amt",
            "unknown currency code 'EURO': expected ISO 4217",
        ),
        (
            ntry(amount='<Amt Ccy="GBP">1.005</Amt>'),
            "Stmt[1]/Ntry[1]/Amt",
            "amount 1.005 has more than 2 decimal places for GBP",
        ),
        (ntry(mark="DEBIT"), "Stmt[1]/Ntry[1]/CdtDbtInd", "'DEBIT' is not CRDT or DBIT"),
        (ntry(mark=""), "Stmt[1]/Ntry[1]/CdtDbtInd", "missing: expected CRDT or DBIT"),
        (
            ntry(status="<Sts><Cd>DONE</Cd></Sts>"),
            "Stmt[1]/Ntry[1]/Sts",
            "'DONE' is not an entry status: expected BOOK, PDNG or INFO",
        ),
        (ntry(status=""), "Stmt[1]/Ntry[1]/Sts", "missing: expected BOOK, PDNG or INFO"),
        (
            ntry(rest="<BookgDt><Dt>2026-02-30</Dt></BookgDt>"),
            "Stmt[1]/Ntry[1]/BookgDt/Dt",
            "2026-02-30 is not a day of the calendar",
        ),
        (
            ntry(rest="<BookgDt><Dt>14.04.2026</Dt></BookgDt>"),
            "Stmt[1]/Ntry[1]/BookgDt/Dt",
            "'14.04.2026' is not an ISO 8601 date (YYYY-MM-DD) or date-time",
        ),
        (ntry(rest="<ValDt><Tm>10:00</Tm></ValDt>"), "Stmt[1]/Ntry[1]/ValDt", "neither Dt nor DtTm is given"),
        (
            ntry() + ntry(rest='<NtryDtls><TxDtls><Amt Ccy="GBP">x</Amt></TxDtls><TxDtls/></NtryDtls>'),
            "Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[1]/Amt",
            "'x' is not an amount: expected digits with at most 5 "
            "decimals after a point and no sign (the sign is CdtDbtInd)",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_its_element_and_why(entry: str, where: str, reason: str) -> None:
    error = fails(camt(entry))
    assert (error.where, error.detail) == (where, f"CAMT, {where}: {reason}")


@pytest.mark.parametrize(
    ("account", "where", "reason"),
    [
        (
            "<Id><IBAN>GB29NWBK60161331926818</IBAN></Id>",
            "Stmt[1]/Acct/Id/IBAN",
            "not a valid IBAN (invalid checksum digits)",
        ),
        (
            "<Id><IBAN>999999999999999999</IBAN></Id>",
            "Stmt[1]/Acct/Id/IBAN",
            "not a valid IBAN (characters that do not belong in an IBAN of its country)",
        ),  # schwifty quotes it
        (
            "<Id><IBAN>GB29NWBK6016133192681</IBAN></Id>",
            "Stmt[1]/Acct/Id/IBAN",
            "not a valid IBAN (the wrong length for its country)",
        ),
        (
            "<Id><IBAN>XX29NWBK60161331926819</IBAN></Id>",
            "Stmt[1]/Acct/Id/IBAN",
            "not a valid IBAN (an unknown country code)",
        ),
        (
            "<Id><Othr><SchmeNm><Cd>BBAN</Cd></SchmeNm></Othr></Id>",
            "Stmt[1]/Acct/Id",
            "neither an IBAN nor Othr/Id names the account",
        ),
        (
            "<Id><Othr><Id>" + "1" * 35 + "</Id></Othr></Id>",
            "Stmt[1]/Acct/Id/Othr/Id",
            "longer than 34 characters",
        ),
        (
            "<Id><Othr><Id>1</Id></Othr></Id><Ccy>ABC</Ccy>",
            "Stmt[1]/Acct/Ccy",
            "unknown currency code 'ABC': expected ISO 4217",
        ),
    ],
)
def test_a_bad_account_is_refused_naming_its_element(account: str, where: str, reason: str) -> None:
    error = fails(camt(ntry(), account=account))
    assert (error.where, error.detail) == (where, f"CAMT, {where}: {reason}")


def test_a_statement_without_an_account_and_a_balance_without_a_date_are_refused() -> None:
    no_account = camt(ntry()).replace(
        b"<Acct><Id><IBAN>GB29NWBK60161331926819</IBAN></Id><Ccy>GBP</Ccy></Acct>", b""
    )
    assert (
        fails(no_account).detail
        == "CAMT, Stmt[1]/Acct: missing: the statement does not say which account it is for"
    )
    undated = (
        '<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">1.00</Amt>'
        "<CdtDbtInd>CRDT</CdtDbtInd></Bal>"
    )
    assert (
        fails(camt(ntry(), balances=undated)).detail
        == "CAMT, Stmt[1]/Bal[1]/Dt: missing: a date is required here"
    )


def test_xml_that_is_not_well_formed_names_its_line() -> None:
    error = fails(
        b'<?xml version="1.0"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">\n'
        b"<BkToCstmrStmt><Stmt>\n<Ntry></Stmt>"
    )
    assert error.where == "line 4"
    assert error.detail.startswith(
        "CAMT, line 4: the XML is not well-formed: Opening and ending tag mismatch"
    )
    assert fails(b"\x00\x01garbage").detail.startswith("CAMT, line 1: the XML is not well-formed")


def test_display_text_from_the_file_is_cleaned_and_bounded() -> None:
    rest = (
        "<NtryDtls><TxDtls><RltdPties><Cdtr><Nm>Evil\u202e\u0085Shop\u009c</Nm></Cdtr></RltdPties>"
        f"<RmtInf><Ustrd>{'x' * 300}</Ustrd><Ustrd>{'y' * 300}</Ustrd></RmtInf></TxDtls></NtryDtls>"
    )
    (stmt,) = parse_camt(camt(ntry(rest=rest)), ReadOptions()).statements
    (entry,) = stmt.entries
    assert entry.merchant == "Evil Shop"  # bidi override and C1 control removed, NEL a space
    assert entry.descriptor == "x" * 300 + " " + "y" * 199  # 500 characters at most
    assert (entry.entry_id, entry.booking_date) == (None, None)


def test_a_zero_debit_is_zero_not_minus_zero() -> None:
    (stmt,) = parse_camt(camt(ntry(amount='<Amt Ccy="GBP">0</Amt>')), ReadOptions()).statements
    assert str(stmt.entries[0].amount) == "0.00 GBP"


def test_the_generated_benchmark_file_reads_completely_and_adds_up() -> None:
    data = camt053_file(120, seed=7)
    assert camt053_file(120, seed=7) == data  # the same seed, the same bytes
    assert parse_only(data) == 120
    parsed = parse_camt(data, ReadOptions())
    (stmt,) = parsed.statements
    assert len(stmt.entries) == transactions_in(120) == 144 and parsed.warnings == ()
    opening, closing = stmt.balances
    assert sum((e.amount for e in stmt.entries), opening.amount) == closing.amount
    assert len({e.entry_id for e in stmt.entries}) == 144  # batch transactions have their own ids
    assert stmt.entries[9].where == "Stmt[1]/Ntry[10]/NtryDtls[1]/TxDtls[1]"


def test_every_camt_fixture_is_detected_as_camt_without_being_told() -> None:
    for path in sorted(CAMT.glob("*.xml")):
        assert _format_read(path.read_bytes()) is StatementFormat.CAMT, path.name


def _format_read(data: bytes) -> StatementFormat | None:
    """The format the file was read (or refused) as, detected from its bytes alone."""
    try:
        return read_statement(data, filename=None).format
    except StatementError as exc:
        return exc.format


def test_a_statement_directly_under_the_document_is_still_read_not_dropped() -> None:
    data = (
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><Stmt><Id>1</Id>'
        b'<Acct><Id><Othr><Id>1</Id></Othr></Id></Acct><Ntry><Amt Ccy="EUR">1</Amt>'
        b"<CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts></Ntry></Stmt></Document>"
    )  # no BkToCstmrStmt between them
    (stmt,) = parse_camt(data, ReadOptions()).statements
    assert [(e.amount, e.entry_id) for e in stmt.entries] == [(m("-1.00"), None)]
