"""OFX / QFX statements (1.x SGML and 2.x XML) with ofxtools.

The bytes are decoded (`_common.decode`: the declared CHARSET only when the bytes agree), made
well-formed (`ofx_repair.Repairer`), and parsed by ofxtools' `TreeBuilder` (the parser of
`ofxtools.Parser.OFXTree`), element by element: each transaction is mapped when it closes and
then dropped from the tree, so memory stays flat on large files. Values are converted with
ofxtools' own types (`Types.Decimal` for amounts; `Types.DT_REGEX` for dates, of which the
bank's local calendar day is kept: `20250103120000.000[-5:EST]` is 3 January, whatever UTC says).

Mapping: FITID -> entry_id; NAME (or PAYEE/NAME) -> merchant; NAME and MEMO -> descriptor;
CHECKNUM / REFNUM -> reference; TRNAMT (sign kept) -> amount; DTPOSTED -> booking_date; DTUSER ->
value_date; LEDGERBAL / AVAILBAL (and INVBAL/AVAILCASH) -> balances; BANKACCTFROM / CCACCTFROM /
INVACCTFROM -> the account; BANKTRANLIST / INVTRANLIST DTSTART and DTEND -> the period. Of an
investment statement only the cash transactions (INVBANKTRAN) are read.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ofxtools.Parser import ParseError, TreeBuilder
from ofxtools.Types import DT_REGEX
from ofxtools.Types import Decimal as OfxDecimal

from ledgerlink.adapters.statements._common import (
    MAX_ID,
    Notes,
    decode,
    join_descriptor,
    money,
    require_currency,
    text,
)
from ledgerlink.adapters.statements.ofx_repair import Repairer, declared_charset, split_header
from ledgerlink.domain.banking import AccountType
from ledgerlink.domain.statements import (
    ParsedFile,
    ParsedStatement,
    ReadOptions,
    StatementAccount,
    StatementBalance,
    StatementEntry,
    StatementError,
    StatementFormat,
)

__all__ = ["parse_ofx"]

_STATEMENTS = {"STMTRS": "BANKACCTFROM", "CCSTMTRS": "CCACCTFROM", "INVSTMTRS": "INVACCTFROM"}
_RESPONSES = frozenset({"STMTTRNRS", "CCSTMTTRNRS", "INVSTMTTRNRS"})
_ACCOUNT_TYPES = {"CHECKING": AccountType.CHECKING, "SAVINGS": AccountType.SAVINGS,
                  "MONEYMRKT": AccountType.SAVINGS, "CD": AccountType.SAVINGS,
                  "CREDITLINE": AccountType.LOAN}  # fmt: skip
_LOOSE_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})(?:\d{2,6}(?:[.:]\d{1,6})?)?\s*(?:\[[^\]]*\])?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+)?(?:Z|[+-]\d{2}:?\d{2})?")
_AMOUNT = OfxDecimal()


def parse_ofx(data: bytes, options: ReadOptions, fmt: StatementFormat = StatementFormat.OFX) -> ParsedFile:
    notes = Notes()
    content, _codec = decode(data, declared=declared_charset(data), fmt=fmt, notes=notes)
    start, line = split_header(content, fmt=fmt, notes=notes)
    reader = _Reader(fmt=fmt, options=options, notes=notes)
    repairer = Repairer(fmt=fmt, notes=notes)
    builder = _Builder(reader, repairer)
    try:
        for chunk in repairer.run(content, start, line):
            if chunk is None:
                builder.close()
                builder = _Builder(reader, repairer)
            else:
                builder.feed(chunk)
    except (
        ParseError,
        ET.ParseError,
    ):  # the repaired markup is well-formed; this would be our bug, said plainly
        raise StatementError("the OFX markup could not be parsed", format=fmt, code="bad_ofx") from None
    reader.finish()
    return ParsedFile(format=fmt, statements=tuple(reader.statements), warnings=notes.render())


class _Builder(TreeBuilder):  # type: ignore[misc]
    """ofxtools' tree builder, telling the reader when an element starts (with its line) and
    when it ends, so the reader can map it and prune it."""

    def __init__(self, reader: _Reader, repairer: Repairer) -> None:
        super().__init__()
        self._reader = reader
        self._lines = repairer.lines
        self._open: list[ET.Element] = []

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        elem: ET.Element = super().start(tag, attrs)
        self._open.append(elem)
        self._reader.started(tag, self._lines.popleft() if self._lines else 0)
        return elem

    def end(self, tag: str) -> ET.Element:
        elem: ET.Element = super().end(tag)
        self._open.pop()
        if self._reader.ended(elem, self._open) and self._open:
            self._open[-1].remove(elem)
        return elem


@dataclass(slots=True)
class _Raw:
    amount: Decimal
    currency: str | None
    booking: date
    value: date | None
    entry_id: str | None
    merchant: str | None
    descriptor: str
    reference: str | None
    where: str


@dataclass(slots=True)
class _Statement:
    kind: str
    line: int
    entries: list[_Raw] = field(default_factory=list)


class _Reader:
    def __init__(self, *, fmt: StatementFormat, options: ReadOptions, notes: Notes) -> None:
        self.fmt = fmt
        self.options = options
        self.notes = notes
        self.statements: list[ParsedStatement] = []
        self._current: _Statement | None = None
        self._entry_line = 0
        self._errors: list[str] = []
        self._fitids: set[str] = set()

    def started(self, tag: str, line: int) -> None:
        if tag in _STATEMENTS:
            self._current = _Statement(tag, line)
        elif tag == "STMTTRN":
            self._entry_line = line
            if self._current is None:
                raise StatementError(
                    "a transaction (STMTTRN) outside any statement",
                    format=self.fmt,
                    where=f"line {line}",
                    code="bad_ofx",
                )

    def ended(self, elem: ET.Element, open_: list[ET.Element]) -> bool:
        """Map what just closed; True when it may be dropped from the tree."""
        tag = elem.tag
        if tag == "STMTTRN" and self._current is not None:
            self._current.entries.append(self._entry(elem, f"line {self._entry_line}"))
            return True
        if tag in _STATEMENTS and self._current is not None:
            self.statements.append(self._statement(elem, self._current))
            self._current = None
            return True
        parent = open_[-1].tag if open_ else None
        if parent == "INVTRANLIST" and tag not in ("DTSTART", "DTEND"):
            if tag != "INVBANKTRAN":
                self.notes.add(
                    "investment transactions (trades, income) were not read: only cash "
                    "transactions (INVBANKTRAN) are"
                )
            return True
        if tag in _RESPONSES or tag == "SONRS":
            self._status(elem)
            return tag != "SONRS"
        return False

    def finish(self) -> None:
        if not self.statements and self._errors:
            raise StatementError(
                f"the bank sent an error instead of a statement: {self._errors[0]}",
                format=self.fmt,
                code="bank_error",
            )

    # ------------------------------------------------------------------ mapping

    def _status(self, elem: ET.Element) -> None:
        if any(child.tag in _STATEMENTS for child in elem):
            return
        severity = (_value(elem, "STATUS/SEVERITY") or "").upper()
        code = _value(elem, "STATUS/CODE") or "?"
        if severity == "ERROR" or (elem.tag == "SONRS" and code not in ("0", "?")):
            message = text(_value(elem, "STATUS/MESSAGE"), "MESSAGE", fmt=self.fmt, where=None)
            self._errors.append(f"code {code[:10]}" + (f" ({message[:120]})" if message else ""))

    def _entry(self, elem: ET.Element, where: str) -> _Raw:
        raw_amount = _value(elem, "TRNAMT")
        if raw_amount is None:
            raise StatementError(
                "a transaction has no amount (TRNAMT)", format=self.fmt, where=where, code="bad_amount"
            )
        try:
            amount = _AMOUNT.convert(raw_amount)
        except (InvalidOperation, ValueError):
            raise StatementError(
                "TRNAMT is not a number", format=self.fmt, where=where, code="bad_amount"
            ) from None
        posted = _value(elem, "DTPOSTED")
        if posted is None:
            raise StatementError(
                "a transaction has no date (DTPOSTED)", format=self.fmt, where=where, code="bad_date"
            )
        booking = self._date(posted, "DTPOSTED", where)
        user = _value(elem, "DTUSER")
        fitid = _value(elem, "FITID")
        if fitid is not None and len(fitid) > MAX_ID:
            raise StatementError(
                f"FITID is longer than {MAX_ID} characters", format=self.fmt, where=where, code="bad_ofx"
            )
        if fitid is not None:
            if fitid in self._fitids:
                self.notes.add("several transactions share one FITID: each is kept", where)
            self._fitids.add(fitid)
        name = text(_value(elem, "NAME") or _value(elem, "PAYEE/NAME"), "NAME", fmt=self.fmt, where=where)
        memo = text(_value(elem, "MEMO"), "MEMO", fmt=self.fmt, where=where)
        reference = text(
            _value(elem, "CHECKNUM") or _value(elem, "REFNUM"), "CHECKNUM", fmt=self.fmt, where=where
        )
        return _Raw(
            amount=amount,
            currency=_value(elem, "CURRENCY/CURSYM"),
            booking=booking,
            value=self._date(user, "DTUSER", where) if user else None,
            entry_id=text(fitid, "FITID", fmt=self.fmt, where=where),
            merchant=name,
            descriptor=_descriptor(name, memo, _value(elem, "TRNTYPE"), reference),
            reference=reference,
            where=where,
        )

    def _statement(self, elem: ET.Element, st: _Statement) -> ParsedStatement:
        where = f"line {st.line}"
        currency = self._currency(_value(elem, "CURDEF"), st, where)
        acct = elem.find(_STATEMENTS[st.kind])
        identifier = (
            text(_value(acct, "ACCTID"), "ACCTID", fmt=self.fmt, where=where) if acct is not None else None
        )
        if not identifier:
            self.notes.add("a statement names no account (ACCTID): you will be asked which account", where)
        kind = (_value(acct, "ACCTTYPE") or "").upper() if acct is not None else ""
        account = StatementAccount(
            identifier=(identifier or "")[:64],
            currency=currency,
            type=(
                AccountType.CREDIT_CARD
                if st.kind == "CCSTMTRS"
                else _ACCOUNT_TYPES.get(kind, AccountType.OTHER)
            ),
            bank_id=text(
                _value(acct, "BANKID") or _value(acct, "BROKERID"), "BANKID", fmt=self.fmt, where=where
            )
            if acct is not None
            else None,
        )
        entries = tuple(
            StatementEntry(
                amount=money(
                    r.amount,
                    r.currency.upper() if r.currency else currency,
                    fmt=self.fmt,
                    where=r.where,
                    notes=self.notes,
                ),
                booking_date=r.booking,
                value_date=r.value,
                descriptor=r.descriptor,
                entry_id=r.entry_id,
                merchant=r.merchant,
                reference=r.reference,
                where=r.where,
            )
            for r in st.entries
        )
        if any(e.amount.currency != currency for e in entries):
            self.notes.add("some transactions are in another currency than the statement's (CURRENCY)", where)
        tranlist = elem.find("BANKTRANLIST") if st.kind != "INVSTMTRS" else elem.find("INVTRANLIST")
        start = _value(tranlist, "DTSTART") if tranlist is not None else None
        end = _value(tranlist, "DTEND") if tranlist is not None else None
        period_end = self._date(end, "DTEND", where) if end else None
        return ParsedStatement(
            account=account,
            entries=entries,
            balances=self._balances(elem, currency, period_end, where),
            period_start=self._date(start, "DTSTART", where) if start else None,
            period_end=period_end,
        )

    def _currency(self, curdef: str | None, st: _Statement, where: str) -> str:
        if not curdef:
            used = {r.currency.upper() for r in st.entries if r.currency}
            if len(used) == 1 and all(r.currency for r in st.entries):
                self.notes.add("the statement has no CURDEF: its transactions' currency was used", where)
                return require_currency(used.pop(), self.options, fmt=self.fmt, where=where)
        return require_currency(curdef, self.options, fmt=self.fmt, where=where)

    def _balances(
        self, elem: ET.Element, currency: str, period_end: date | None, where: str
    ) -> tuple[StatementBalance, ...]:
        found: list[tuple[str, str | None, str | None]] = [
            (kind, _value(elem, f"{tag}/BALAMT"), _value(elem, f"{tag}/DTASOF"))
            for tag, kind in (("LEDGERBAL", "closing_booked"), ("AVAILBAL", "closing_available"))
            if elem.find(tag) is not None
        ]
        if elem.find("INVBAL") is not None:
            found.append(("closing_available", _value(elem, "INVBAL/AVAILCASH"), _value(elem, "DTASOF")))
        out = []
        for kind, amount, as_of in found:
            try:
                value = _AMOUNT.convert(amount) if amount else None
            except (InvalidOperation, ValueError):
                value = None
            day = self._date(as_of, "DTASOF", where) if as_of else period_end
            if value is None or day is None:
                self.notes.add("a balance without an amount or a date was not read", where)
                continue
            out.append(
                StatementBalance(
                    kind, money(value, currency, fmt=self.fmt, where=where, notes=self.notes), day
                )
            )
        return tuple(out)

    def _date(self, raw: str, element: str, where: str) -> date:
        """The calendar day the bank wrote: the first eight digits, checked by ofxtools' pattern."""
        m: Any = DT_REGEX.match(raw) or _LOOSE_DATE.fullmatch(raw) or _ISO_DATE.fullmatch(raw)
        if m is not None:
            groups = m.groupdict() or dict(zip(("year", "month", "day"), m.groups()[:3], strict=True))
            try:
                return date(int(groups["year"]), int(groups["month"]), int(groups["day"]))
            except (TypeError, ValueError):
                pass
        raise StatementError(
            f"{element} is not a date (expected YYYYMMDD[HHMMSS[.XXX][[offset:TZ]]])",
            format=self.fmt,
            where=where,
            code="bad_date",
        )


def _value(elem: ET.Element | None, path: str) -> str | None:
    """The text of a leaf, entities decoded (twice at most: banks double-escape, `&amp;lt;`)."""
    if elem is None:
        return None
    found = elem.findtext(path)
    if found is None:
        return None
    value = found.strip()
    for _ in range(2):
        if "&" not in value:
            break
        value = _ENTITY.sub(lambda m: html.unescape(m.group(0)), value)
    return value or None


_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _descriptor(name: str | None, memo: str | None, trntype: str | None, reference: str | None) -> str:
    if name or memo:
        return join_descriptor(name, memo)
    return " ".join(p for p in ((trntype or "").strip().upper(), reference) if p)
