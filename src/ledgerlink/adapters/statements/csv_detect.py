"""How a CSV file is laid out, found from its bytes: encoding, delimiter (csv.Sniffer checked by
the shape of the rows), preamble lines before the table, header or none, which column is which
(a shipped bank profile when the header is one, else names in several languages, else the cells
themselves), date format (tried on every row), decimal comma, and signed amount versus
debit/credit columns or an unsigned amount with a debit/credit marker.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from ledgerlink.adapters.statements import csv_columns as cols
from ledgerlink.adapters.statements._common import Notes, decimal_comma_of, decode, parse_amount
from ledgerlink.adapters.statements.csv_profiles import Profile, match_header, match_shape
from ledgerlink.adapters.statements.csv_roles import cell as _cell
from ledgerlink.adapters.statements.csv_roles import from_cells, from_names, from_profile
from ledgerlink.domain.statements import CsvMapping, DateOrder, ReadOptions, StatementError, StatementFormat

CSV = StatementFormat.CSV
DELIMITERS = (",", ";", "\t", "|")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_ACCOUNT_LABELS = (
    "konto",
    "kontonummer",
    "iban",
    "account",
    "account number",
    "rekening",
    "rekeningnummer",
    "girokonto",
    "tagesgeld",
    "cuenta",
    "numero de cuenta",
    "szamlaszam",
)


@dataclass(slots=True)
class Table:
    encoding: str
    delimiter: str
    quotechar: str
    records: list[tuple[int, list[str]]]  # (line, cells) of every record, blank ones too


@dataclass(slots=True)
class Detection:
    mapping: CsvMapping
    table: Table
    header: tuple[str, ...]
    ambiguous: tuple[DateOrder, ...] = ()
    notes: list[str] = field(default_factory=list)


def read_table(
    data: bytes,
    *,
    notes: Notes,
    encoding: str | None = None,
    delimiter: str | None = None,
    quotechar: str = '"',
) -> Table:
    if encoding is None:
        text, encoding = decode(data, declared=None, fmt=CSV, notes=notes)
    else:
        try:
            text = data.decode(encoding).lstrip("\ufeff")
        except (UnicodeDecodeError, LookupError):
            raise StatementError(
                f"the file is not {encoding}, as its saved mapping says", format=CSV, code="bad_encoding"
            ) from None
    text = text.replace("\x00", "")
    if delimiter is None:
        delimiter, quotechar = _sniff(text)
    return Table(encoding, delimiter, quotechar, records_of(text, delimiter, quotechar))


def records_of(text: str, delimiter: str, quotechar: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar)
    out: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for row in reader:
            out.append((line, row))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise StatementError(
            f"the CSV cannot be read: {exc}", format=CSV, where=f"line {line}", code="bad_csv"
        ) from None
    return out


def _sniff(text: str) -> tuple[str, str]:
    sample = text[:65536]
    sample = sample[: sample.rfind("\n") + 1] or sample
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS))
        sniffed, quote = dialect.delimiter, dialect.quotechar or '"'
    except csv.Error:
        sniffed, quote = None, '"'
    best: tuple[int, int, int, str] | None = None
    for cand in DELIMITERS:
        records = records_of(sample, cand, quote if quote in "\"'" else '"')
        run, width = _longest_run(records)
        score = (run, width, 1 if cand == sniffed else 0, cand)
        if width >= 2 and (best is None or score[:3] > best[:3]):
            best = score
    if best is None:
        raise StatementError(
            "this is not a table: no delimiter (, ; tab |) splits its lines into columns",
            format=CSV,
            where="line 1",
            code="bad_csv",
        )
    return best[3], quote if quote in "\"'" else '"'


def _longest_run(records: list[tuple[int, list[str]]]) -> tuple[int, int]:
    """(length, width) of the longest stretch of consecutive non-blank records of equal width."""
    best = (0, 0)
    run, width = 0, -1
    for _, cells in records:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) == width:
            run += 1
        else:
            run, width = 1, len(cells)
        if len(cells) >= 2 and (run, width) > best:
            best = (run, width)
    return best


def locate(records: list[tuple[int, list[str]]]) -> tuple[int, int, bool]:
    """(index of the header or first data record, table width, has header). The table is where
    the rows with a date are; the header, if any, is the line just above the first of them.
    Preamble lines (account, period, summary) above it are skipped."""
    rows = [(i, cells) for i, (_, cells) in enumerate(records) if any(c.strip() for c in cells)]
    if not rows:
        raise StatementError("the file has no rows", format=CSV, code="bad_csv")
    runs: list[tuple[int, int, int]] = []  # (start, length, width) of consecutive dated rows
    dated_before: list[int] = []
    for i, cells in rows[:400]:
        if not any(_is_date(c) for c in cells):
            runs.append((i, 0, 0))
            continue
        dated_before.append(i)
        start_, length, width_ = runs[-1] if runs else (i, 0, 0)
        if length and width_ == len(cells):
            runs[-1] = (start_, length + 1, width_)
        else:
            runs.append((i, 1, len(cells)))
    best = max((r for r in runs if r[1]), key=lambda r: (r[1] * r[2], -r[0]), default=None)
    if best is not None:
        first, _length, width = best
        stray = [i for i in dated_before if i < first]
        if len(stray) > 3:  # more than a "from/to" preamble: rows of the table itself disagree
            line = records[stray[0]][0]
            raise StatementError(
                f"the rows do not have the same number of columns (line {line} has "
                f"{len(records[stray[0]][1])}, line {records[first][0]} has {width})",
                format=CSV,
                where=f"line {line}",
                code="bad_csv_row",
            )
    else:
        _run, width = _longest_run(records)
        first = next((i for i, cells in rows if len(cells) == width), rows[0][0])
    before = [i for i, _ in rows if i < first]
    if before and abs(len(records[before[-1]][1]) - width) <= 1 and _is_header(records[before[-1]][1]):
        return before[-1], width, True
    if best is None and _is_header(records[first][1]):
        return first, width, True
    return first, width, False


def _is_date(cell: str) -> bool:
    cell = cell.strip()
    return 6 <= len(cell) <= 40 and any(ch.isdigit() for ch in cell) and bool(cols.fitting_formats([cell]))


def _is_header(cells: list[str]) -> bool:
    filled = [c.strip() for c in cells if c.strip()]
    if len(filled) < 2:
        return False
    if any(parse_amount(c) is not None or cols.fitting_formats([c]) for c in filled):
        return False
    return sum(1 for c in filled if re.search(r"[^\W\d_]", c)) * 2 >= len(filled)


def preamble_account(records: list[tuple[int, list[str]]]) -> str | None:
    """An IBAN or account number printed above the table (German and Dutch banks do)."""
    for _, cells in records:
        for i, cell in enumerate(cells):
            m = _IBAN.search(cell.upper())
            if m:
                return m.group(0).replace(" ", "")
            label = cols.norm(cell).rstrip(":")
            if label in _ACCOUNT_LABELS and i + 1 < len(cells):
                value = cells[i + 1].strip()
                iban = _IBAN.search(value.upper())
                token = iban.group(0).replace(" ", "") if iban else (value.split() or [""])[0]
                if sum(ch.isalnum() for ch in token) >= 6:
                    return token
    return None


# ------------------------------------------------------------------------------ the mapping


def detect(data: bytes, options: ReadOptions, notes: Notes) -> Detection:
    table = read_table(data, notes=notes)
    start, width, has_header = locate(table.records)
    header = tuple(c.strip() for c in table.records[start][1]) if has_header else ()
    body = [
        cells
        for _, cells in table.records[start + (1 if has_header else 0) :]
        if any(c.strip() for c in cells)
    ]
    if not body:
        raise StatementError("the table has no rows", format=CSV, code="bad_csv")
    profile = match_header(header) if header else match_shape(body, table.delimiter)
    roles = from_profile(profile, header) if profile else (from_names(header, body) if header else {})
    if profile is None:
        from_cells(roles, body, width)
    if "date" not in roles:
        raise StatementError(
            "no column holds dates", format=CSV, where=f"line {table.records[start][0]}", code="csv_no_date"
        )
    if "amount" not in roles and not ("debit" in roles and "credit" in roles):
        raise StatementError(
            "no column holds amounts",
            format=CSV,
            where=f"line {table.records[start][0]}",
            code="csv_no_amount",
        )
    money_cols = [roles[k] for k in ("amount", "debit", "credit") if k in roles]
    body = [r for r in body if any(_cell(r, i) for i in money_cols)] or body  # the transactions
    fmt, ambiguous = _date_format(roles["date"], body, header, profile, options, table, start + has_header)
    value_fmt = None
    if "value_date" in roles:
        fits = cols.fitting_formats([_cell(r, roles["value_date"]) for r in body])
        same = [f for f in fits if cols.ORDER_OF.get(f) in (cols.ORDER_OF.get(fmt), None)]
        value_fmt = same[0] if same else None
        if value_fmt is None:
            del roles["value_date"]
    if value_fmt not in (None, fmt):
        notes.add(
            "the value-date column uses another date format than the booking date: value dates not read"
        )
        del roles["value_date"]
    comma = decimal_comma_of(
        _cell(r, roles[k]) for r in body for k in ("amount", "debit", "credit", "balance") if k in roles
    )
    if "description" not in roles:
        roles["description"] = roles.get("payee", roles["date"])
    mapping = CsvMapping(
        delimiter=table.delimiter,
        encoding=table.encoding,
        has_header=has_header,
        date_column=roles["date"],
        date_format=fmt,
        description_column=roles["description"],
        amount_column=roles.get("amount"),
        debit_column=roles.get("debit") if "amount" not in roles else None,
        credit_column=roles.get("credit") if "amount" not in roles else None,
        decimal_comma=bool(comma),
        payee_column=roles.get("payee"),
        id_column=roles.get("id"),
        balance_column=roles.get("balance"),
        value_date_column=roles.get("value_date"),
        currency_column=roles.get("currency"),
        skip_rows=start,
        profile=profile.name if profile else None,
        direction_column=roles.get("direction") if "amount" in roles else None,
        account_column=roles.get("account"),
        negate_amounts=bool(profile and profile.negate),
        status_column=roles.get("status"),
        quotechar=table.quotechar,
    )
    return Detection(mapping, table, header, ambiguous)


def _date_format(
    index: int,
    body: list[list[str]],
    header: tuple[str, ...],
    profile: Profile | None,
    options: ReadOptions,
    table: Table,
    first: int,
) -> tuple[str, tuple[DateOrder, ...]]:
    cells = [_cell(r, index) for r in body]
    fits = cols.fitting_formats(cells)
    if profile is not None and profile.date_format in fits:
        return profile.date_format, ()
    name = header[index] if index < len(header) else f"column {index + 1}"
    wanted = options.date_order
    if wanted is not None:
        ok = [f for f in fits if cols.ORDER_OF.get(f) in (wanted, DateOrder.YMD, None)]
        if ok:
            return ok[0], ()
        bad = _first_bad(table, first, index, wanted)
        raise StatementError(
            f"column {index + 1} ({name}): a date that cannot be read as {wanted.value.upper()}",
            format=CSV,
            where=bad,
            code="bad_date",
        )
    if not fits:
        bad = _first_bad(table, first, index, None)
        if bad is None:  # every cell is a date, but no one order reads them all
            first_cell = next((c for c in cells if c), "")
            order = next((o for f in cols.fitting_formats([first_cell]) if (o := cols.ORDER_OF.get(f))), None)
            mixed = _first_bad(table, first, index, order) if order else None
            raise StatementError(
                f"column {index + 1} ({name}): the dates mix orders: this one cannot be "
                f"{order.value.upper() if order else 'read'} like the first row",
                format=CSV,
                where=mixed,
                code="mixed_date_orders",
            )
        raise StatementError(
            f"column {index + 1} ({name}): not a date in any known format",
            format=CSV,
            where=bad,
            code="bad_date",
        )
    orders = {cols.ORDER_OF.get(f) for f in fits}
    if DateOrder.DMY in orders and DateOrder.MDY in orders:
        return next(f for f in fits if cols.ORDER_OF.get(f) is DateOrder.DMY), (DateOrder.DMY, DateOrder.MDY)
    return fits[0], ()


def _first_bad(table: Table, first: int, index: int, order: DateOrder | None) -> str | None:
    """The line of the first cell no candidate format (of that order) reads, if there is one."""
    formats = [f for f, o in cols.NUMERIC_FORMATS if order in (None, o)] + (
        [] if order else list(cols.NAMED_FORMATS)
    )
    for line, cells in table.records[first:]:
        value = _cell(cells, index)
        if value and not any(cols.parse_date(value, f) for f in formats):
            return f"line {line}"
    return None
