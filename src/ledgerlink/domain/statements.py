"""Statement files, read: what every importer (OFX/QFX, QIF, CSV, camt.05x, MT940/942) yields.

A parser turns a file's bytes into a `ParsedFile`, or raises `StatementError` saying the format,
where in the file (line or element) and what was wrong. It stores nothing: matching, sealing
and storing are `services/imports`' job, and a file is imported whole or not at all.

File text is hostile: parsers pass every display string (descriptor, payee, memo, account name)
through `domain.text` before it lands here, and account identifiers stay in memory only (the
store keeps a keyed token and the last four characters, never the number).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date

from ledgerlink.domain.banking import AccountType, TransactionStatus
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money

# The status of the one "statement files" link per person (issue 10, ADR 0022): accounts known
# only from files hang off it. It is not "active": sync, delivery and unlink pass it by.
FILES_LINK_STATUS = "files"


class StatementFormat(enum.StrEnum):
    OFX = "ofx"  # OFX 1.x SGML and 2.x XML
    QFX = "qfx"  # Quicken's OFX with an INTU.BID header: read as OFX
    QIF = "qif"
    CSV = "csv"
    CAMT = "camt"  # ISO 20022 camt.052 / camt.053 / camt.054, any version
    MT940 = "mt940"  # SWIFT MT940 (statement) and MT942 (interim report)


class DateOrder(enum.StrEnum):
    """How a numeric date such as 03/04/2025 is read (QIF and CSV do not say)."""

    DMY = "dmy"
    MDY = "mdy"
    YMD = "ymd"


class StatementError(InvalidInput):
    """A file that cannot be imported. `where` is a line ("line 12") or an element path
    ("Stmt[2]/Ntry[14]/Amt"); the detail names the format, the place and the reason."""

    code = "bad_statement"

    def __init__(self, detail: str, *, format: StatementFormat | None, where: str | None = None,
                 code: str | None = None) -> None:
        self.format = format
        self.where = where
        prefix = ", ".join(p for p in ((format.value.upper() if format else None), where) if p)
        super().__init__(f"{prefix}: {detail}" if prefix else detail, code=code)


@dataclass(frozen=True, slots=True)
class StatementAccount:
    """The account a statement is about, as the file names it."""

    identifier: str  # ACCTID, IBAN, :25: ...: in memory only, never stored in clear
    currency: str | None = None  # ISO 4217; None: the file does not say (QIF, most CSV)
    type: AccountType | None = None
    name: str | None = None  # a display name the file gives, if any
    bank_id: str | None = None  # routing number, BIC or sort code, if the file gives it

    @property
    def last4(self) -> str:
        digits = "".join(ch for ch in self.identifier if ch.isalnum())
        return digits[-4:]


@dataclass(frozen=True, slots=True)
class StatementBalance:
    kind: str  # "closing_booked", "opening_booked", "closing_available", "interim_booked", ...
    amount: Money
    as_of: date


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One transaction line of a statement, signed: negative is money out."""

    amount: Money
    booking_date: date | None
    descriptor: str  # the line as the bank prints it (NAME/MEMO, :86:, RmtInf, CSV text...)
    status: TransactionStatus = TransactionStatus.POSTED
    value_date: date | None = None
    entry_id: str | None = None  # the bank's own id: FITID, AcctSvcrRef/NtryRef, bank reference
    merchant: str | None = None  # payee / counterparty name, if the file separates it
    reference: str | None = None  # remittance / end-to-end reference, check number
    reversal: bool = False  # camt RvslInd, MT940 RC/RD: this entry undoes an earlier one
    where: str | None = None  # line or element of the file, for messages
    pending_entry_id: str | None = None  # a posted entry that names the pending one it follows


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    account: StatementAccount
    entries: tuple[StatementEntry, ...]
    balances: tuple[StatementBalance, ...] = ()
    period_start: date | None = None
    period_end: date | None = None


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """How the columns of a CSV file are read: detected, shown in a preview, corrected by the
    person, and saved per account so the next file of that bank imports in one step."""

    delimiter: str
    encoding: str
    has_header: bool
    date_column: int
    date_format: str  # strptime format, e.g. "%d.%m.%Y"
    description_column: int
    amount_column: int | None = None  # a signed amount ...
    debit_column: int | None = None  # ... or separate debit / credit columns
    credit_column: int | None = None
    decimal_comma: bool = False
    payee_column: int | None = None
    id_column: int | None = None
    balance_column: int | None = None
    value_date_column: int | None = None
    currency_column: int | None = None
    skip_rows: int = 0  # preamble lines before the header (bank name, account, period)
    profile: str | None = None  # the shipped bank profile it came from, if any
    # Added for the CSV reader (all optional, so saved mappings stay valid):
    direction_column: int | None = None  # unsigned amount + a debit/credit marker ("Af"/"Bij", "S"/"H")
    account_column: int | None = None  # the account's own IBAN/number, one statement per value
    negate_amounts: bool = False  # the file writes money out as positive (Amex-style card exports)
    status_column: int | None = None  # "Gebucht"/"Vorgemerkt", "COMPLETED"/"PENDING"/"REVERTED"
    quotechar: str = '"'

    def __post_init__(self) -> None:
        if self.amount_column is None and (self.debit_column is None or self.credit_column is None):
            raise InvalidInput("a CSV mapping needs an amount column, or both debit and credit columns",
                               code="bad_csv_mapping")


@dataclass(frozen=True, slots=True)
class CsvPreviewRow:
    """One data row of a CSV as read under a mapping: the raw cells, the entry it gives (None when
    the row is no transaction or is wrong), and what is wrong with it, if anything
    ("CSV, line 7, column 3 (Betrag): not an amount (the mapping reads a decimal comma)")."""

    line: int
    cells: tuple[str, ...]
    entry: StatementEntry | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class CsvPreview:
    """What the import page shows before anything is stored: the detected (or given) mapping,
    the header, the first rows as read, and the problems found in the whole file."""

    mapping: CsvMapping
    header: tuple[str, ...]
    rows: tuple[CsvPreviewRow, ...]
    problems: tuple[str, ...] = ()
    ambiguous_date_orders: tuple[DateOrder, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What the caller knows that the file may not say."""

    format: StatementFormat | None = None  # None: detect
    date_order: DateOrder | None = None  # the person's confirmation for QIF / CSV dates
    csv_mapping: CsvMapping | None = None  # a saved or corrected mapping
    currency: str | None = None  # for files that do not name one (QIF, CSV)


@dataclass(frozen=True, slots=True)
class ParsedFile:
    format: StatementFormat
    statements: tuple[ParsedStatement, ...]
    # Repaired quirks worth telling, e.g. "line 40: 30 February read as 28 February".
    warnings: tuple[str, ...] = ()
    # Set when the dates fit more than one order and the caller gave none: nothing may be
    # stored until the person picks one (the preview shows both readings).
    ambiguous_date_orders: tuple[DateOrder, ...] = ()
    date_order: DateOrder | None = None  # the order used to read the dates, if it mattered
    csv_mapping: CsvMapping | None = None  # CSV only: the mapping used (detected or given)
    extra: dict[str, str] = field(default_factory=dict)  # e.g. {"message": "camt.053.001.08"}

    @property
    def entry_count(self) -> int:
        return sum(len(s.entries) for s in self.statements)

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.ambiguous_date_orders)
