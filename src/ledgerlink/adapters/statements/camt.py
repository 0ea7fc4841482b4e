"""ISO 20022 camt.052 (account report), camt.053 (statement) and camt.054 (debit/credit
notification), every version (001.02 to 001.08 and later, e.g. 001.10, 001.12).

The file is read by streaming (`lxml.etree.iterparse`): each account, balance and entry element
is handled when it closes and then cleared and dropped, so the tree never holds more than one
entry, and memory stays flat however long the file. Entities are never resolved and no DTD or
network resource is loaded; a document with a DOCTYPE at all (the carrier of XXE and
"billion laughs") is refused before anything else is read.
"""

from __future__ import annotations

import io
import re
from datetime import date
from typing import NoReturn

from lxml import etree
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from ledgerlink.adapters.statements.camt_entries import NAME_LIMIT, read_entry
from ledgerlink.adapters.statements.camt_values import (
    FORMAT,
    Element,
    Names,
    fail,
    line,
    parse_date,
    read_amount,
    read_date,
    read_debit,
    text,
)
from ledgerlink.domain.banking import AccountType
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money, exponent
from ledgerlink.domain.statements import (
    ParsedFile,
    ParsedStatement,
    ReadOptions,
    StatementAccount,
    StatementBalance,
    StatementEntry,
    StatementError,
)

__all__ = ["BALANCE_KINDS", "parse_camt"]

_AT_LINE = re.compile(r"(?:, line \d+, column \d+| \(line \d+\))+$")  # the line is said in `where`
_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.05[234]\.001\.\d{2})")
_STATEMENTS = ("Stmt", "Rpt", "Ntfctn")  # camt.053, camt.052, camt.054
_CHILDREN = ("Acct", "Bal", "FrToDt", "Ntry")
_TAGS = ["{*}Document", *(f"{{*}}{name}" for name in _STATEMENTS + _CHILDREN)]
BALANCE_KINDS = {
    "OPBD": "opening_booked",
    "OPAV": "opening_available",
    "CLBD": "closing_booked",
    "CLAV": "closing_available",
    "ITBD": "interim_booked",
    "ITAV": "interim_available",
    "PRCD": "previously_closed_booked",  # the previous statement's closing balance
    "FWAV": "forward_available",
    "XPCD": "expected",
    "INFO": "information",
}
_ACCOUNT_TYPES = {"CACC": AccountType.CHECKING, "SVGS": AccountType.SAVINGS,
                  "CARD": AccountType.CREDIT_CARD, "LOAN": AccountType.LOAN}  # fmt: skip
_IBAN_PROBLEMS = {
    "InvalidChecksumDigits": "invalid checksum digits",
    "InvalidLength": "the wrong length for its country",
    "InvalidCountryCode": "an unknown country code",
    "InvalidStructure": "characters that do not belong in an IBAN of its country",
    "InvalidBBANChecksum": "an invalid national check digit",
    "InvalidBankCode": "an invalid bank code",
    "InvalidBranchCode": "an invalid branch code",
    "InvalidAccountCode": "an invalid account code",
}
_IDENTIFIER_LIMIT = 34  # Max34Text (Othr/Id), and the longest IBAN


def parse_camt(data: bytes, options: ReadOptions) -> ParsedFile:
    del options  # a camt file names its own currency and dates
    try:
        return _Reader().read(data)
    except StatementError:
        raise
    except etree.XMLSyntaxError as exc:
        reason = _AT_LINE.sub("", str(exc.msg or "malformed XML"))[:160]
        where = f"line {exc.lineno}" if exc.lineno else None
        raise StatementError(f"the XML is not well-formed: {reason}", format=FORMAT, where=where) from None
    except etree.LxmlError as exc:
        raise StatementError(f"the XML could not be read: {str(exc)[:160]}", format=FORMAT) from None
    except InvalidInput as exc:  # e.g. text that is not Unicode, from domain.text
        raise StatementError(exc.detail, format=FORMAT) from None


# What may come before a DOCTYPE: a byte-order mark, the XML declaration, comments, PIs, space.
_PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)


def _refuse_doctype(data: bytes) -> NoReturn:
    at = data.find(b"<!DOCTYPE")
    line_no = data.count(b"\n", 0, at) + 1
    raise StatementError(
        "a DOCTYPE is not allowed in a camt file: document type declarations and entities "
        "(XXE, entity expansion) are refused", format=FORMAT, code="xml_entities_refused",
        where=f"line {line_no}" if at >= 0 else None,
    )  # fmt: skip


class _Reader:
    def __init__(self) -> None:
        self.q: Names | None = None
        self.message = ""
        self.statements: list[ParsedStatement] = []
        self.warnings: list[str] = []
        self.current: _Statement | None = None
        self.children: dict[str, str] = {}  # Clark name -> local name, of this document's namespace
        self.statement_tags: frozenset[str] = frozenset()

    def read(self, data: bytes) -> ParsedFile:
        prolog = _PROLOG.match(data)  # refused before libxml2 sees it: its own entity limits
        if prolog is not None and data.startswith(b"<!DOCTYPE", prolog.end()):  # answer otherwise
            _refuse_doctype(data)
        events = etree.iterparse(
            io.BytesIO(data), events=("start", "end"), tag=_TAGS, resolve_entities=False,
            no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False,
            remove_comments=True, remove_pis=True,
        )  # fmt: skip
        root: Element | None = None
        for event, el in events:
            if root is None:
                root = self._document(el.getroottree(), data)
            if event == "end":
                self._end(el, root)
        if root is None:  # not one element we look for: still say what the document is
            self._document(events.root.getroottree(), data)
        return ParsedFile(format=FORMAT, statements=tuple(self.statements), warnings=tuple(self.warnings),
                          extra={"message": self.message})  # fmt: skip

    def _document(self, tree: Element, data: bytes) -> Element:
        """Refuse a DTD, and anything but a camt.052/053/054 Document; return the root."""
        docinfo = tree.docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.system_url:
            _refuse_doctype(data)
        root = tree.getroot()
        # By hand, not etree.QName: that refuses odd names ("}" in a namespace) with a ValueError.
        tag = str(root.tag)
        namespace, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
        match = _NAMESPACE.fullmatch(namespace)
        if local != "Document" or match is None:
            shown = (namespace or "no namespace")[:80]
            raise StatementError(
                f"not an ISO 20022 camt.052/053/054 document: the root is <{local[:40]}> in "
                f"{shown}; expected <Document> in urn:iso:std:iso:20022:tech:xsd:camt.05x.001.NN",
                format=FORMAT, where=f"line {root.sourceline or 1}", code="not_camt",
            )  # fmt: skip
        self.q = Names(namespace)
        self.children = {self.q(name): name for name in _CHILDREN}
        self.statement_tags = frozenset(self.q(name) for name in _STATEMENTS)
        self.message = match[1]
        return root

    def _end(self, el: Element, root: Element) -> None:
        tag = el.tag
        parent = el.getparent()
        local = self.children.get(tag)
        if local is not None:
            if parent is None or parent.tag not in self.statement_tags:
                return  # the same name nested elsewhere (read with its entry), or another namespace
            self._statement_of(parent).add(local, el)
        elif tag in self.statement_tags:
            started = self.current is not None and self.current.element is el
            if parent is None or (parent.getparent() is not root and not started):
                return  # not a statement of this message (and none of its parts was read)
            self.statements.append(self._statement_of(el).finish())
            self.current = None
        else:
            return
        # Done with it: drop it and everything before it, so the tree stays one entry deep.
        el.clear()
        if parent is not None:
            while el.getprevious() is not None:
                del parent[0]

    def _statement_of(self, element: Element) -> _Statement:
        if self.current is None or self.current.element is not element:
            assert self.q is not None
            index = len(self.statements) + 1
            local = element.tag[len(self.q.prefix) :]
            self.current = _Statement(element, f"{local}[{index}]", self.q, self.warnings)
        return self.current


class _Statement:
    """One Stmt / Rpt / Ntfctn being read, element by element."""

    def __init__(self, element: Element, where: str, q: Names, warnings: list[str]) -> None:
        self.element = element
        self.where = where
        self.q = q
        self.warnings = warnings
        self.statement_id = text(element.find(q("Id")))
        self.account: StatementAccount | None = None
        self.balances: list[StatementBalance] = []
        self.entries: list[StatementEntry] = []
        self.period: tuple[date | None, date | None] = (None, None)
        self.counts = {"Ntry": 0, "Bal": 0}

    def add(self, local: str, el: Element) -> None:
        if local == "Ntry":
            self.counts["Ntry"] += 1
            where = f"{self.where}/Ntry[{self.counts['Ntry']}]"
            self.entries.extend(read_entry(el, self.q, where, statement_id=self.statement_id,
                                           warnings=self.warnings))  # fmt: skip
        elif local == "Bal":
            self.counts["Bal"] += 1
            balance = self._balance(el, f"{self.where}/Bal[{self.counts['Bal']}]")
            if balance is not None:
                self.balances.append(balance)
        elif local == "Acct":
            self.account = _account(el, self.q, f"{self.where}/Acct")
        else:  # FrToDt
            where = f"{self.where}/FrToDt"
            start, end = el.find(self.q("FrDtTm")), el.find(self.q("ToDtTm"))
            self.period = (parse_date(start.text, f"{where}/FrDtTm") if start is not None else None,
                           parse_date(end.text, f"{where}/ToDtTm") if end is not None else None)  # fmt: skip

    def _balance(self, el: Element, where: str) -> StatementBalance | None:
        q = self.q
        code = text(el.find(q("Tp/CdOrPrtry/Cd")))
        kind = BALANCE_KINDS.get((code or "").upper())
        if kind is None:
            shown = repr(code[:8]) if code else "a proprietary type"
            self.warnings.append(f"{where}: a balance of {shown} is not one we know; skipped")
            return None
        negative = read_debit(el.find(q("CdtDbtInd")), where)
        amount = read_amount(el.find(q("Amt")), f"{where}/Amt", negative=negative)
        as_of = read_date(el.find(q("Dt")), q, f"{where}/Dt", required=True)
        assert as_of is not None
        return StatementBalance(kind=kind, amount=amount, as_of=as_of)

    def finish(self) -> ParsedStatement:
        if self.account is None:
            raise fail(f"{self.where}/Acct", "missing: the statement does not say which account it is for")
        account = self.account
        if account.currency is None:
            known: list[Money] = [b.amount for b in self.balances] + [e.amount for e in self.entries]
            if known:
                account = StatementAccount(
                    identifier=account.identifier,
                    currency=known[0].currency,
                    type=account.type,
                    name=account.name,
                    bank_id=account.bank_id,
                )
        start, end = self.period
        return ParsedStatement(account=account, entries=tuple(self.entries), balances=tuple(self.balances),
                               period_start=start, period_end=end)  # fmt: skip


def _account(el: Element, q: Names, where: str) -> StatementAccount:
    iban = el.find(q("Id/IBAN"))
    if iban is not None:
        compact = (text(iban) or "").replace(" ", "").upper()
        try:
            identifier = str(IBAN(compact).compact)
        except SchwiftyException as exc:
            # schwifty's own messages can quote the number: say what is wrong in our words only.
            reason = _IBAN_PROBLEMS.get(type(exc).__name__, "not an IBAN")
            raise fail(f"{where}/Id/IBAN", f"not a valid IBAN ({reason})", code="bad_iban") from None
    else:
        other = line(el.find(q("Id/Othr/Id")), "account id", 64)
        if other is None:
            raise fail(f"{where}/Id", "neither an IBAN nor Othr/Id names the account")
        if len(other) > _IDENTIFIER_LIMIT:
            raise fail(f"{where}/Id/Othr/Id", f"longer than {_IDENTIFIER_LIMIT} characters")
        identifier = other
    currency = text(el.find(q("Ccy")))
    if currency is not None:
        try:
            exponent(currency.upper())
        except InvalidInput as exc:
            raise fail(f"{where}/Ccy", exc.detail) from None
        currency = currency.upper()
    name = line(el.find(q("Nm")), "account name", NAME_LIMIT) or line(el.find(q("Ownr/Nm")), "account owner",
                                                                       NAME_LIMIT)  # fmt: skip
    bic = text(el.find(q("Svcr/FinInstnId/BICFI"))) or text(el.find(q("Svcr/FinInstnId/BIC")))
    if bic is not None and not re.fullmatch(r"[A-Z0-9]{8}(?:[A-Z0-9]{3})?", bic):
        bic = None
    kind = _ACCOUNT_TYPES.get((text(el.find(q("Tp/Cd"))) or "").upper())
    return StatementAccount(identifier=identifier, currency=currency, type=kind, name=name, bank_id=bic)
