"""CSV statements: a detected mapping (`csv_detect`), or the one given (`ReadOptions.csv_mapping`,
the person's saved or corrected mapping, used exactly as given), applied row by row.

Rows without any amount (summary lines, "Abschluss" rows, blank-ish separators) are not
transactions: they are left out and said in a warning. Rows marked reverted or declined in a
status column are left out too; pending ones are read as pending. Rows shorter than the table
after its last full row are a footer and are ignored; anywhere else a short row is an error.
Every error names the line and the column. The account is the account column's value (one
statement per value), else an IBAN or number printed above the table, else "" (the caller asks).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from ledgerlink.adapters.statements import csv_columns as cols
from ledgerlink.adapters.statements._common import Notes, money, parse_amount, require_currency, text
from ledgerlink.adapters.statements.csv_detect import Table, detect, preamble_account, read_table
from ledgerlink.domain.banking import TransactionStatus
from ledgerlink.domain.statements import (
    CsvMapping,
    CsvPreview,
    CsvPreviewRow,
    DateOrder,
    ParsedFile,
    ParsedStatement,
    ReadOptions,
    StatementAccount,
    StatementBalance,
    StatementEntry,
    StatementError,
    StatementFormat,
)

__all__ = ["detect_csv_mapping", "parse_csv", "preview_csv"]

CSV = StatementFormat.CSV
MAX_PROBLEMS = 100


def parse_csv(data: bytes, options: ReadOptions) -> ParsedFile:
    notes = Notes()
    mapping, table, ambiguous = _mapping(data, options, notes)
    rows = _Rows(mapping, table, options, notes)
    for line, cells in rows.data():
        rows.add(line, cells)
    return ParsedFile(
        format=CSV,
        statements=rows.statements(),
        warnings=notes.render(),
        ambiguous_date_orders=ambiguous,
        date_order=cols.ORDER_OF.get(mapping.date_format),
        csv_mapping=mapping,
    )


def detect_csv_mapping(data: bytes, *, options: ReadOptions | None = None) -> CsvMapping:
    """The mapping a file would be read with: for the preview page to show and correct."""
    return detect(data, options or ReadOptions(), Notes()).mapping


def preview_csv(
    data: bytes, mapping: CsvMapping | None = None, rows: int = 10, *, options: ReadOptions | None = None
) -> CsvPreview:
    """The header, the first `rows` rows as read under the mapping (detected when None), and the
    problems of the whole file, one per bad row: what the import page shows before storing."""
    notes = Notes()
    options = replace(options or ReadOptions(), csv_mapping=mapping)
    mapping, table, ambiguous = _mapping(data, options, notes)
    reader = _Rows(mapping, table, options, notes)
    shown: list[CsvPreviewRow] = []
    problems: list[str] = []
    for line, cells in reader.data():
        try:
            entry = reader.add(line, cells)
            problem = None
        except StatementError as exc:
            entry, problem = None, exc.detail
            if len(problems) < MAX_PROBLEMS:
                problems.append(problem)
        if len(shown) < rows:
            shown.append(CsvPreviewRow(line=line, cells=tuple(cells), entry=entry, problem=problem))
    return CsvPreview(
        mapping=mapping,
        header=reader.header,
        rows=tuple(shown),
        problems=tuple(problems),
        ambiguous_date_orders=ambiguous,
        warnings=notes.render(),
    )


def _mapping(
    data: bytes, options: ReadOptions, notes: Notes
) -> tuple[CsvMapping, Table, tuple[DateOrder, ...]]:
    given = options.csv_mapping
    if given is None:
        found = detect(data, options, notes)
        return found.mapping, found.table, found.ambiguous
    table = read_table(
        data, notes=notes, encoding=given.encoding, delimiter=given.delimiter, quotechar=given.quotechar
    )
    return given, table, ()


@dataclass(slots=True)
class _Account:
    identifier: str
    currency: str
    entries: list[StatementEntry] = field(default_factory=list)
    balances: list[tuple[date, Decimal, str]] = field(default_factory=list)


class _Rows:
    def __init__(self, mapping: CsvMapping, table: Table, options: ReadOptions, notes: Notes) -> None:
        self.m = mapping
        self.table = table
        self.options = options
        self.notes = notes
        start = mapping.skip_rows
        if start >= len(table.records):
            raise StatementError(
                f"the mapping skips {start} lines but the file has {len(table.records)}",
                format=CSV,
                code="bad_csv_mapping",
            )
        self.header: tuple[str, ...] = (
            tuple(c.strip() for c in table.records[start][1]) if mapping.has_header else ()
        )
        self._body = table.records[start + (1 if mapping.has_header else 0) :]
        used = [
            i
            for i in (
                mapping.date_column,
                mapping.description_column,
                mapping.amount_column,
                mapping.debit_column,
                mapping.credit_column,
                mapping.payee_column,
                mapping.id_column,
                mapping.balance_column,
                mapping.value_date_column,
                mapping.currency_column,
                mapping.direction_column,
                mapping.account_column,
                mapping.status_column,
            )
            if i is not None
        ]
        self._need = max(used) + 1
        self._preamble = preamble_account(table.records[:start]) if mapping.account_column is None else None
        self._accounts: dict[str, _Account] = {}

    def data(self) -> list[tuple[int, list[str]]]:
        rows = [(line, cells) for line, cells in self._body if any(c.strip() for c in cells)]
        last_full = max((k for k, (_, cells) in enumerate(rows) if len(cells) >= self._need), default=-1)
        if last_full < len(rows) - 1:
            self.notes.add(
                "lines after the table that are not transactions were ignored",
                f"line {rows[last_full + 1][0]}",
            )
        return rows[: last_full + 1]

    def _where(self, line: int, index: int) -> str:
        name = self.header[index] if index < len(self.header) and self.header[index] else None
        return f"line {line}, column {index + 1}" + (f" ({name[:40]})" if name else "")

    def _fail(self, line: int, index: int, what: str, code: str) -> StatementError:
        return StatementError(what, format=CSV, where=self._where(line, index), code=code)

    def add(self, line: int, cells: list[str]) -> StatementEntry | None:
        m = self.m
        if len(cells) < self._need:  # trailing empty fields left out: read as empty
            cells = cells + [""] * (self._need - len(cells))
        if (
            self.header
            and len(cells) > len(self.header)
            and any(c.strip() for c in cells[len(self.header) :])
        ):
            raise StatementError(
                f"the row has {len(cells)} columns, the header {len(self.header)}: is a "
                "delimiter inside an unquoted field?",
                format=CSV,
                where=f"line {line}",
                code="bad_csv_row",
            )
        status = TransactionStatus.POSTED
        if m.status_column is not None:
            word = " ".join(cells[m.status_column].lower().split())
            if word in cols.DROPPED:
                self.notes.add("rows marked reverted, declined or cancelled were not read", f"line {line}")
                return None
            if word in cols.PENDING:
                status = TransactionStatus.PENDING
        amount = self._amount(line, cells)
        if amount is None:
            self.notes.add("rows without an amount are not transactions and were not read", f"line {line}")
            return None
        booking = self._date(line, cells, m.date_column, required=True)
        value = (
            self._date(line, cells, m.value_date_column, required=False)
            if m.value_date_column is not None
            else None
        )
        where = f"line {line}"
        found = cells[m.currency_column].strip() if m.currency_column is not None else ""
        place = self._where(line, m.currency_column) if m.currency_column is not None and found else where
        currency = require_currency(found or None, self.options, fmt=CSV, where=place)
        account = (cells[m.account_column].strip() if m.account_column is not None else self._preamble) or ""
        payee = (
            text(cells[m.payee_column], "payee", fmt=CSV, where=where) if m.payee_column is not None else None
        )
        described = text(cells[m.description_column], "description", fmt=CSV, where=where)
        entry = StatementEntry(
            amount=money(amount, currency, fmt=CSV, where=where, notes=self.notes),
            booking_date=booking,
            value_date=value,
            descriptor=described or payee or "",
            status=status,
            merchant=payee,
            entry_id=text(cells[m.id_column], "id", fmt=CSV, where=where)
            if m.id_column is not None
            else None,
            where=where,
        )
        bucket = self._accounts.setdefault(account[:64], _Account(account[:64], currency))
        bucket.entries.append(entry)
        if m.balance_column is not None and cells[m.balance_column].strip() and booking is not None:
            balance = parse_amount(cells[m.balance_column], decimal_comma=m.decimal_comma)
            if balance is None:
                raise self._fail(line, m.balance_column, "not an amount", "bad_amount")
            bucket.balances.append((booking, balance, where))
        return entry

    def _amount(self, line: int, cells: list[str]) -> Decimal | None:
        m = self.m
        if m.amount_column is not None:
            raw = cells[m.amount_column].strip()
            if not raw:
                return None
            value = self._number(line, m.amount_column, raw)
            if m.direction_column is not None:
                marker = cells[m.direction_column].strip().lower()
                if marker in cols.OUT_MARKERS and marker not in cols.IN_MARKERS:
                    value = -abs(value)
                elif marker in cols.IN_MARKERS:
                    value = abs(value)
                else:
                    raise self._fail(line, m.direction_column, "not a debit/credit marker", "bad_csv_row")
            return -value if m.negate_amounts else value
        debit_raw = cells[m.debit_column].strip() if m.debit_column is not None else ""
        credit_raw = cells[m.credit_column].strip() if m.credit_column is not None else ""
        if not debit_raw and not credit_raw:
            return None
        debit = (
            abs(self._number(line, m.debit_column, debit_raw))
            if m.debit_column is not None and debit_raw
            else Decimal(0)
        )
        credit = (
            abs(self._number(line, m.credit_column, credit_raw))
            if m.credit_column is not None and credit_raw
            else Decimal(0)
        )
        value = credit - debit
        return -value if m.negate_amounts else value

    def _number(self, line: int, index: int, raw: str) -> Decimal:
        value = parse_amount(raw, decimal_comma=self.m.decimal_comma)
        if value is None:
            sep = "comma" if self.m.decimal_comma else "point"
            raise self._fail(line, index, f"not an amount (the mapping reads a decimal {sep})", "bad_amount")
        return value

    def _date(self, line: int, cells: list[str], index: int | None, *, required: bool) -> date | None:
        if index is None:
            return None
        raw = cells[index].strip()
        if not raw:
            if required:
                raise self._fail(line, index, "the date is missing", "bad_date")
            return None
        day = cols.parse_date(raw, self.m.date_format)
        if day is None and not required:
            day = next(
                (
                    d
                    for f in cols.fitting_formats([raw])
                    if cols.ORDER_OF.get(f) in (cols.ORDER_OF.get(self.m.date_format), None)
                    and (d := cols.parse_date(raw, f))
                ),
                None,
            )
        if day is None:
            raise self._fail(line, index, f"not a date in the format {self.m.date_format}", "bad_date")
        return day

    def statements(self) -> tuple[ParsedStatement, ...]:
        out = []
        for acct in self._accounts.values():
            balances: tuple[StatementBalance, ...] = ()
            if acct.balances:
                newest_last = acct.balances[0][0] <= acct.balances[-1][0]
                day, value, where = acct.balances[-1] if newest_last else acct.balances[0]
                balances = (
                    StatementBalance(
                        "closing_booked",
                        money(value, acct.currency, fmt=CSV, where=where, notes=self.notes),
                        day,
                    ),
                )
            out.append(
                ParsedStatement(
                    account=StatementAccount(identifier=acct.identifier, currency=acct.currency),
                    entries=tuple(acct.entries),
                    balances=balances,
                )
            )
        return tuple(out)
