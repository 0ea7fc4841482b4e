"""Reading single values out of a camt.05x element: amounts, signs, dates, text.

Each reader takes the element (or None when it is absent) and its element path, and raises a
`StatementError` naming that path ("Stmt[1]/Ntry[14]/Amt") and what is wrong. Values from the
file are echoed only when they cannot identify anyone (a malformed amount or date), never names,
references or account numbers.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import StatementError, StatementFormat
from ledgerlink.domain.text import display_line

__all__ = [
    "Names",
    "fail",
    "first",
    "is_true",
    "kids",
    "line",
    "parse_date",
    "read_amount",
    "read_date",
    "read_debit",
    "text",
]

FORMAT = StatementFormat.CAMT
Element = Any  # lxml.etree._Element: lxml ships no type information

# ISO 20022 ActiveOrHistoricCurrencyAndAmount: at most 18 digits, 5 of them decimals, no sign.
_AMOUNT = re.compile(r"\d{1,18}(?:\.\d{1,5})?")
# xs:date or xs:dateTime; only the date part is kept (the bank's own calendar day).
_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,12})?)?)?(?:Z|[+-]\d{2}:\d{2})?"
)
_SPACES = re.compile(r"\s{2,}")


class Names:
    """Clark names ("{urn:...}Amt", "{urn:...}Tp/{urn:...}Cd") of one document's namespace."""

    __slots__ = ("_cache", "dt", "dttm", "prefix")

    def __init__(self, namespace: str) -> None:
        self.prefix = "{" + namespace + "}"
        self.dt = self.prefix + "Dt"
        self.dttm = self.prefix + "DtTm"
        self._cache: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        found = self._cache.get(path)
        if found is None:
            found = self._cache[path] = "/".join(self.prefix + step for step in path.split("/"))
        return found


def fail(where: str, detail: str, *, code: str | None = None) -> StatementError:
    return StatementError(detail, format=FORMAT, where=where, code=code)


def text(el: Element | None) -> str | None:
    """The stripped text of an element; None when the element or its text is absent."""
    if el is None:
        return None
    raw = el.text
    if raw is None:
        return None
    raw = raw.strip()
    return raw or None


def line(el: Element | None, field: str, limit: int) -> str | None:
    """Display text of an element, on one line, runs of blanks collapsed, at most `limit` chars."""
    if el is None:
        return None
    raw = el.text
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isprintable() and "  " not in raw:
        # The common case, and the same answer: printable text holds no control, bidi, line
        # break or separator but the ASCII space, so neither rule below would change it.
        return raw[:limit].rstrip() or None
    shown = _SPACES.sub(" ", display_line(raw, field))[:limit].strip()
    return shown or None


def is_true(el: Element | None) -> bool:
    return text(el) in ("true", "1")


def read_amount(el: Element | None, where: str, *, negative: bool = False) -> Money:
    """An `<Amt Ccy="EUR">12.30</Amt>` element as Money; the file writes it unsigned (the sign is
    CdtDbtInd), `negative` gives it the minus."""
    if el is None:
        raise fail(where, "missing: every entry and balance needs an amount")
    raw = (el.text or "").strip()
    if not _AMOUNT.fullmatch(raw):
        raise fail(
            where,
            f"{raw[:24]!r} is not an amount: expected digits with at most 5 decimals "
            "after a point and no sign (the sign is CdtDbtInd)",
        )
    currency = (el.get("Ccy") or "").strip().upper()
    if not currency:
        raise fail(where, "the Ccy attribute (the ISO 4217 currency) is missing")
    value = Decimal(raw)
    try:
        return Money(-value if negative and value else value, currency)  # never a "-0.00"
    except InvalidInput:
        pass
    try:  # say what is wrong with the amount as the file writes it, unsigned
        Money(value, currency)
    except InvalidInput as exc:
        raise fail(where, exc.detail) from None
    raise fail(where, f"{raw[:24]!r} is not an amount")  # pragma: no cover - Money takes both or neither


def read_debit(mark_el: Element | None, where: str) -> bool:
    """A CdtDbtInd element: True for DBIT (money out), False for CRDT."""
    mark = text(mark_el)
    if mark == "DBIT":
        return True
    if mark == "CRDT":
        return False
    if mark is None:
        raise fail(f"{where}/CdtDbtInd", "missing: expected CRDT or DBIT")
    raise fail(f"{where}/CdtDbtInd", f"{mark[:8]!r} is not CRDT or DBIT")


def parse_date(raw: str | None, where: str) -> date:
    value = (raw or "").strip()
    m = _DATE.fullmatch(value)
    if m is None:
        raise fail(where, f"{value[:40]!r} is not an ISO 8601 date (YYYY-MM-DD) or date-time")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise fail(where, f"{value[:10]} is not a day of the calendar") from None


def read_date(container: Element | None, q: Names, where: str, *, required: bool = False) -> date | None:
    """A DateAndDateTimeChoice (`<BookgDt><Dt>...</Dt></BookgDt>` or `<DtTm>`): its day."""
    if container is None:
        if required:
            raise fail(where, "missing: a date is required here")
        return None
    for el in container:
        tag = el.tag
        if tag == q.dt or tag == q.dttm:
            return parse_date(el.text, f"{where}/{'Dt' if tag == q.dt else 'DtTm'}")
    raise fail(where, "neither Dt nor DtTm is given")


def kids(el: Element) -> dict[str, Element]:
    """The children of `el` by Clark name ("{urn:...}Amt"), in one pass: far cheaper than one
    `find` per child on a hot path. (Of a repeated name the last wins; repeated elements are
    read with `iterchildren`.)"""
    return {child.tag: child for child in el}


def first(el: Element, tag: str) -> Element | None:
    """The first child of `el` named `tag` (a Clark name), or None."""
    return next(el.iterchildren(tag), None)
