"""Tolerant pre-processing of MT940/MT942 text, before the `mt-940` library reads it.

What real files do, and what this does about it, keeping every physical line's number:

- bytes in UTF-8 (with or without BOM), Windows-1252 or Latin-1; CRLF, LF and lone CR mixed;
- SWIFT FIN wrappers: `{1:...}{2:O940...}{3:...}{4:` heads (on one line or several), `-}` ends,
  `{5:{CHK:...}}` trailers, SOH/ETX bytes: removed (block 2 still tells MT940 from MT942);
- non-SWIFT preambles (bank name, "940", ":940:" lines before the first `:20:`) and whatever
  sits between one message's end and the next `:20:`: dropped;
- one statement per `:20:` (several in one file);
- invalid calendar days, which banks really send (30 February, 31 April): read as the last day
  of that month, with a warning naming the line; a month 13 or a day 00 is an error;
- amounts the library would choke on ("1,2,3", ","): an error naming the line.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field

from ledgerlink.domain.statements import StatementError, StatementFormat

__all__ = ["Block", "decode", "split_blocks"]

FORMAT = StatementFormat.MT940
_LINES = re.compile(r"\r\n|\r|\n")
_HEAD = re.compile(r"^(?:\{[1-3]:(?:[^{}]|\{[^{}]*\})*\})*\{4:")  # {1:..}{2:..}{3:{108:..}}{4:
_HEADER_ONLY = re.compile(r"(?:\{[1-35]:(?:[^{}]|\{[^{}]*\})*\}|\{S:(?:[^{}]|\{[^{}]*\})*\})+")
_MESSAGE_TYPE = re.compile(r"\{2:[IO](9\d\d)")
# The tags the library knows (an unknown ":99:" is text of the tag before it, for it and for us).
TAG = re.compile(r":((?:13|2[0158]|34|6[0-2]|6[45]|86|90)[A-Z]?|NS):")
_BALANCE = re.compile(r"([CD])(\d\d)(\d\d)(\d\d)(.{3})([\d,]*)", re.IGNORECASE)
_LINE_61 = re.compile(r"(\d\d)(\d\d)(\d\d)(\d{4}|\s{4})?(R?[CD])([A-Z])?[ ]?([\d,]+)?", re.IGNORECASE)
_AMOUNT = re.compile(r"\d+(?:,\d*)?|,\d+")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip
BALANCE_TAGS = frozenset({"60", "60F", "60M", "62", "62F", "62M", "64", "65"})


@dataclass
class Block:
    """One statement (`:20:` to the end of its message) as (line number, text) pairs."""

    lines: list[tuple[int, str]] = field(default_factory=list)
    message_type: str | None = None  # "940" / "942" from a SWIFT block 2, if the file has one

    @property
    def first_line(self) -> int:
        return self.lines[0][0] if self.lines else 1

    def text(self) -> str:
        return "\n".join(text for _, text in self.lines)

    def tags(self) -> list[tuple[str, int, list[str]]]:
        """Each tag of the block: its id ("61", "86", "60F"...), its line number and its lines
        (the first without the tag, then the continuation lines)."""
        found: list[tuple[str, int, list[str]]] = []
        for number, text in self.lines:
            m = TAG.match(text)
            if m is not None:
                found.append((m[1].upper(), number, [text[m.end() :]]))
            elif found:
                found[-1][2].append(text)
        return found


def decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # maps every byte: the last resort never fails


def split_blocks(text: str, warnings: list[str]) -> list[Block]:
    blocks: list[Block] = []
    current: Block | None = None
    message_type: str | None = None
    for number, raw in enumerate(_LINES.split(text), start=1):
        line = raw.replace("\x01", "").replace("\x03", "").replace("\ufeff", "")
        kind = _MESSAGE_TYPE.search(line)
        if kind is not None:
            message_type = kind[1]
        head = _HEAD.match(line)
        if head is not None:
            line = line[head.end() :]
            current = None  # a new message begins
        stripped = line.strip()
        if not stripped or _HEADER_ONLY.fullmatch(stripped):
            continue
        if stripped == "-" or stripped.startswith("-}"):
            current = None  # the end of a message: what follows until the next :20: is not ours
            continue
        m = TAG.match(line)
        if m is not None and (m[1] == "20" or current is None):
            current = Block(message_type=message_type)
            blocks.append(current)
        if current is None:
            continue  # a preamble line
        if m is not None:
            line = _repair(m[1].upper(), line, m.end(), number, warnings)
        current.lines.append((number, line))
    return blocks


def _repair(tag: str, line: str, start: int, number: int, warnings: list[str]) -> str:
    """The first line of a tag, its impossible calendar days moved to the month's last day and
    its amount checked, so the library never sees what it cannot read."""
    value = line[start:]
    if tag in BALANCE_TAGS:
        m = _BALANCE.match(value)
        if m is None:
            raise _error(number, f":{tag}: a balance needs C or D, a date YYMMDD, a currency and an amount")
        _check_amount(m[6], tag, number)
        day = _day(m[2], m[3], m[4], tag, number, warnings)
        return line[:start] + value[:5] + day + value[7:]
    if tag == "61":
        m = _LINE_61.match(value)
        if m is None:
            raise _error(number, ":61: a statement line needs a value date YYMMDD, an optional entry date "
                                 "MMDD and a mark C, D, RC or RD")  # fmt: skip
        if m[7] is not None:
            _check_amount(m[7], tag, number)
        day = _day(m[1], m[2], m[3], tag, number, warnings)
        value = value[:4] + day + value[6:]
        entry = m[4]
        if entry is not None and entry.isdigit():
            year = _entry_year(int(m[1]), int(m[2]), int(entry[:2]))
            entry_day = _day(
                f"{year % 100:02d}", entry[:2], entry[2:], tag, number, warnings, what="entry date"
            )
            value = value[:8] + entry_day + value[10:]
        return line[:start] + value
    if tag == "13D":
        m = re.match(r"(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)", value)
        if m is None or int(m[4]) > 23 or int(m[5]) > 59:
            raise _error(number, ":13D: a date and time YYMMDDhhmm is expected")
        return line[:start] + value[:4] + _day(m[1], m[2], m[3], tag, number, warnings) + value[6:]
    return line


def _entry_year(value_yy: int, value_month: int, entry_month: int) -> int:
    """The year of a :61: entry date (MMDD): the value date's, across a new year if need be (the
    library decides the same way)."""
    year = 2000 + value_yy
    if value_month == 12 and entry_month == 1:
        return year + 1
    if value_month == 1 and entry_month == 12:
        return year - 1
    return year


def _day(yy: str, mm: str, dd: str, tag: str, number: int, warnings: list[str], *, what: str = "date") -> str:
    """DD of a YYMMDD date, moved to the month's last day when the bank wrote one past it."""
    year, month, day = 2000 + int(yy), int(mm), int(dd)
    if not 1 <= month <= 12 or day < 1 or day > 31:
        raise _error(number, f":{tag}: {what} {yy}{mm}{dd} is not a date (YYMMDD)")
    last = calendar.monthrange(year, month)[1]
    if day <= last:
        return dd
    name = _MONTHS[month - 1]
    warnings.append(
        f"line {number}: :{tag}: {what} {day} {name} {year} does not exist; read as {last} {name} {year}"
    )
    return f"{last:02d}"


def _check_amount(amount: str, tag: str, number: int) -> None:
    if not _AMOUNT.fullmatch(amount):
        shown = repr(amount[:20]) if amount else "an empty amount"
        raise _error(number, f":{tag}: {shown} is not an amount: expected digits with one decimal comma, "
                             "like 1234,56 or 100,")  # fmt: skip


def _error(number: int, detail: str) -> StatementError:
    return StatementError(detail, format=FORMAT, where=f"line {number}")
