"""The CSV preview's mapping form: what the page shows of a detected mapping, and the mapping
the person's corrections make (nothing else of the detected mapping changes: delimiter,
encoding, preamble lines stay as detected)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ledgerlink.adapters.statements.csv_columns import NAMED_FORMATS, NUMERIC_FORMATS
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.statements import CsvMapping, CsvPreview, DateOrder

# role -> (label, CsvMapping field, required)
ROLES: tuple[tuple[str, str, str, bool], ...] = (
    ("date", "Date", "date_column", True),
    ("description", "Description", "description_column", True),
    ("amount", "Amount (signed)", "amount_column", False),
    ("debit", "Money out", "debit_column", False),
    ("credit", "Money in", "credit_column", False),
    ("payee", "Payee", "payee_column", False),
)
_SAMPLE = date(2025, 1, 31)


class MappingError(ValueError):
    """A correction that makes no mapping (the preview page says which)."""


@dataclass(frozen=True, slots=True)
class DateChoice:
    format: str
    example: str
    order: DateOrder | None


def _date_choices() -> list[DateChoice]:
    numeric = [DateChoice(f, _SAMPLE.strftime(f), o) for f, o in NUMERIC_FORMATS]
    named = [DateChoice(f, _SAMPLE.strftime(f), None) for f in NAMED_FORMATS]
    return numeric + named


def _swapped(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def fields_of(preview: CsvPreview, staged: Any) -> dict[str, Any]:
    """What the preview page's form shows: the columns, each role's column, the date formats
    (the two readings of an ambiguous file first, and neither chosen: the person says which)."""
    m = preview.mapping
    width = max([len(preview.header)] + [len(r.cells) for r in preview.rows] + [1])
    names = [preview.header[i] if i < len(preview.header) and preview.header[i] else f"column {i + 1}"
             for i in range(width)]
    choices = _date_choices()
    ambiguous = bool(preview.ambiguous_date_orders) and staged.mapping is None
    if ambiguous:
        pair = {m.date_format, _swapped(m.date_format)}
        choices = [c for c in choices if c.format in pair] + [c for c in choices if c.format not in pair]
    elif m.date_format not in {c.format for c in choices}:
        choices.insert(0, DateChoice(m.date_format, _SAMPLE.strftime(m.date_format), None))
    return {
        "columns": list(enumerate(names)),
        "roles": [(role, label, getattr(m, attr), required) for role, label, attr, required in ROLES],
        "date_choices": choices,
        "date_format": None if ambiguous else m.date_format,
        "ambiguous": ambiguous,
        "decimal_comma": m.decimal_comma,
        "has_header": m.has_header,
        "negate": m.negate_amounts,
    }


def _column(fields: dict[str, str], role: str, label: str, width: int) -> int | None:
    value = fields.get(f"col_{role}", "").strip()
    if value in ("", "none"):
        return None
    if not value.isdigit() or int(value) >= width:
        raise MappingError(f"{label}: choose one of the file's columns")
    return int(value)


def mapping_from(fields: dict[str, str], staged: Any, *, base: CsvMapping, width: int = 200) -> CsvMapping:
    """The detected (or last) mapping with the person's corrections."""
    columns = {role: _column(fields, role, label, width) for role, label, _attr, _req in ROLES}
    for role, label, _attr, required in ROLES:
        if required and columns[role] is None:
            raise MappingError(f"{label}: choose the column it is in")
    fmt = fields.get("date_format", "")
    if fmt not in {c.format for c in _date_choices()} and fmt != base.date_format:
        raise MappingError("Date format: choose how the dates are written (is 03/04 the 3rd of April or "
                           "the 4th of March?)")
    used = [c for c in columns.values() if c is not None]
    if len(used) != len(set(used)):
        raise MappingError("one column is chosen for two roles: each role needs its own column")
    try:
        return replace(
            staged.mapping or base, date_column=columns["date"], description_column=columns["description"],
            amount_column=columns["amount"], debit_column=columns["debit"], credit_column=columns["credit"],
            payee_column=columns["payee"], date_format=fmt, decimal_comma=fields.get("decimal_comma") == "on",
            has_header=fields.get("has_header") == "on", negate_amounts=fields.get("negate") == "on",
            direction_column=None if columns["amount"] is None else (staged.mapping or base).direction_column,
            profile=None,
        )  # fmt: skip
    except InvalidInput as exc:
        raise MappingError("Amount: choose a signed amount column, or both the money out and money in "
                           f"columns ({exc.detail})") from None
