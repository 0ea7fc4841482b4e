"""SWIFT MT940 (customer statement) and MT942 (interim report), read with the `mt-940` library.

`mt940_lines` makes the text readable first (SWIFT wrappers, preambles, impossible days, line
numbers); each statement (`:20:` block) is then parsed by `mt940.models.Transactions` with every
fix of `mt940.Options` on (reversal signs, `?31` as the counterparty IBAN, unbounded `:86:`...),
and `mt940_details` reads its `:86:` dialect. Pages of one statement (`:28C: 5/1`, `5/2`: the
first ends on an intermediate `:62M:`, the next opens with `:60M:`) are joined into one.

Balances: `:60F:`/`:60:` opening_booked, `:60M:` interim_opening_booked, `:62F:`/`:62:`
closing_booked, `:62M:` interim_booked, `:64:` closing_available, `:65:` forward_available.
MT942 entries are interim but booked (posted); `:34F:` floor limits give the currency and `:13D:`
the report date. The entry id is the bank reference after `//` in `:61:`, when there is one.
"""

from __future__ import annotations

import decimal
import logging
import re
from datetime import date
from typing import Any

import mt940
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from ledgerlink.adapters.statements.mt940_details import describe
from ledgerlink.adapters.statements.mt940_lines import Block, decode, split_blocks
from ledgerlink.domain.banking import TransactionStatus
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import CURRENCIES, Money
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
from ledgerlink.domain.text import display_line

__all__ = ["parse_mt940"]

FORMAT = StatementFormat.MT940

_BALANCES = (  # library key, our kind, the tag it comes from
    ("final_opening_balance", "opening_booked", "60F"),
    ("opening_balance", "opening_booked", "60"),
    ("intermediate_opening_balance", "interim_opening_booked", "60M"),
    ("intermediate_closing_balance", "interim_booked", "62M"),
    ("final_closing_balance", "closing_booked", "62F"),
    ("closing_balance", "closing_booked", "62"),
    ("available_balance", "closing_available", "64"),
    ("forward_available_balance", "forward_available", "65"),
)
_HOW = {
    "61": "expected a value date YYMMDD, an optional entry date MMDD, a mark C, D, RC or RD, an amount, "
          "a transaction type such as NTRF and a reference",
    "28": "expected a statement number such as 00001/001",
    "13": "expected a date and time YYMMDDhhmm",
    "34": "expected a currency, an optional D or C and an amount",
    "90": "expected a count, a currency and an amount",
}  # fmt: skip
# "No reference", or only the name of a reference type (ING, Rabobank: "EREF", "PREF"; "KREF+").
_NO_REFERENCE = frozenset({"NONREF", "NOTPROVIDED", "", "EREF", "PREF", "MARF", "KREF", "KREF+"})
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_LONG_REFERENCE = re.compile(r"\d{6}(?:\d{4})?R?[CD][A-Z]?[\d,]+[A-Z][A-Z0-9 ]{3}(?:(?!//).){17,}//")
_BLZ_KONTO = re.compile(r"(\d{8})/\d{1,10}")
_BIC_ACCOUNT = re.compile(r"([A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?)/.+")
_LIBRARY_ERRORS = (RuntimeError, ValueError, ArithmeticError, KeyError, IndexError, TypeError, AttributeError)


def _quiet_library() -> None:
    """The library logs the raw text of a tag it cannot read (names, references, amounts) at
    error level, from loggers under "mt940": none of that may reach our logs (its errors reach
    us as exceptions anyway). Above CRITICAL nothing is even formatted; no propagation."""
    library = logging.getLogger("mt940")
    if library.propagate:
        library.setLevel(logging.CRITICAL + 1)
        library.propagate = False
        library.addHandler(logging.NullHandler())


def parse_mt940(data: bytes, options: ReadOptions) -> ParsedFile:
    _quiet_library()
    warnings: list[str] = []
    try:
        text = decode(data)
        blocks = split_blocks(text, warnings)
        if not blocks and text.strip("\x00\x01\x03\ufeff \t\r\n"):
            raise StatementError("no MT940/MT942 statement found: expected tags such as :20:, :25: and :61: "
                                 "at the start of lines", format=FORMAT, where="line 1")  # fmt: skip
        pages = [_Page.read(block, options, warnings) for block in blocks]
    except StatementError:
        raise
    except InvalidInput as exc:  # display text that is not Unicode text
        raise StatementError(exc.detail, format=FORMAT) from None
    statements: list[ParsedStatement] = []
    group: list[_Page] = []
    for page in pages:
        if group and not page.continues(group[-1]):
            statements.append(_join(group))
            group = []
        group.append(page)
    if group:
        statements.append(_join(group))
    kinds = {page.mt942 for page in pages}
    message = "MT942" if kinds == {True} else "MT940" if kinds <= {False} else "MT940/MT942"
    return ParsedFile(format=FORMAT, statements=tuple(statements), warnings=tuple(warnings),
                      extra={"message": message})  # fmt: skip


class _Page:
    """One :20: block, read."""

    def __init__(
        self,
        account: StatementAccount,
        entries: list[StatementEntry],
        balances: list[StatementBalance],
        *,
        mt942: bool,
        report_date: date | None,
    ) -> None:
        self.account = account
        self.entries = entries
        self.balances = balances
        self.mt942 = mt942
        self.report_date = report_date

    @classmethod
    def read(cls, block: Block, options: ReadOptions, warnings: list[str]) -> _Page:
        tags = block.tags()
        lines = {tag: number for tag, number, _ in reversed(tags)}  # the first line of each tag
        parsed = _library(block, tags)
        account, hint = _account(parsed.data.get("account_identification"), lines.get("25"), block, warnings)
        currency = parsed.currency or hint or options.currency
        balances = []
        for key, kind, tag in _BALANCES:
            balance = parsed.data.get(key)
            if isinstance(balance, mt940.models.Balance) and isinstance(balance.amount, mt940.models.Amount):
                where = f"line {lines.get(tag, block.first_line)}"
                amount = _money(balance.amount.amount, balance.amount.currency, where)
                balances.append(StatementBalance(kind=kind, amount=amount, as_of=_date(balance.date)))
        if account.currency is None and currency:
            account = StatementAccount(identifier=account.identifier, currency=currency, type=account.type,
                                       name=account.name, bank_id=account.bank_id)  # fmt: skip
        details = _details_by_entry(tags)
        entries = [
            _entry(t.data, number, raw, currency) for t, (number, raw) in zip(parsed, details, strict=False)
        ]
        mt942 = block.message_type == "942" or any(tag in ("34F", "13D", "34") for tag, _, _ in tags)
        stamp = parsed.data.get("date")
        return cls(account, entries, balances, mt942=mt942, report_date=_date(stamp) if stamp else None)

    def continues(self, previous: _Page) -> bool:
        """This page goes on the previous one: same account, which closed on an intermediate
        balance this one opens with."""
        kinds = {b.kind for b in self.balances}
        before = {b.kind for b in previous.balances}
        return (self.account.identifier == previous.account.identifier and "interim_opening_booked" in kinds
                and "interim_booked" in before and "closing_booked" not in before)  # fmt: skip


def _library(block: Block, tags: list[tuple[str, int, list[str]]]) -> Any:
    """The block through `mt940.models.Transactions`; its failures as errors naming the line."""
    overrides: dict[int | str, Any] = {}
    account_line = next((lines[0] for tag, _, lines in tags if tag == "25"), "")
    if "ASNB" in account_line.upper():  # ASN Bank writes the IBAN into the :61: reference
        overrides[61] = mt940.tags.StatementASNB()
    elif any(tag == "61" and _LONG_REFERENCE.match(lines[0]) for tag, _, lines in tags):
        # GLS / Atruvia banks: a customer reference past 16x before the //bank reference, which
        # the standard pattern would cut (losing the bank reference into the details).
        overrides[61] = mt940.tags.StatementGLS()
    transactions = mt940.models.Transactions(tags=overrides or None, options=mt940.Options.all())
    try:
        transactions.parse(block.text())
    except RuntimeError as exc:  # Tag.parse: RuntimeError(message, tag, value)
        tag_id = str(getattr(exc.args[1], "id", "")) if len(exc.args) > 2 else ""
        value = str(exc.args[2]).strip()[:40] if len(exc.args) > 2 else ""
        same_tag = [(t, n, lines[0].strip()) for t, n, lines in tags if t[:2] == tag_id[:2]]
        name, number = next(((t, n) for t, n, first in same_tag if first.startswith(value)),
                            same_tag[0][:2] if same_tag else (tag_id, block.first_line))  # fmt: skip
        how = _HOW.get(tag_id[:2], "its content does not follow the MT940 layout")
        where = f"line {number}"
        raise StatementError(f":{name}: could not be read: {how}", format=FORMAT, where=where) from None
    except _LIBRARY_ERRORS as exc:
        raise StatementError(f"the statement could not be read ({type(exc).__name__})", format=FORMAT,
                             where=f"line {block.first_line}") from None  # fmt: skip
    return transactions


def _details_by_entry(tags: list[tuple[str, int, list[str]]]) -> list[tuple[int, list[str]]]:
    """For each :61: in order: its line number and the raw lines of the :86: that follows it."""
    out: list[tuple[int, list[str]]] = []
    for tag, number, lines in tags:
        if tag == "61":
            out.append((number, []))
        elif tag == "86" and out and not out[-1][1]:
            out[-1] = (out[-1][0], lines)
    return out


def _entry(data: dict[str, Any], number: int, raw: list[str], currency: str | None) -> StatementEntry:
    where = f"line {number}"
    amount = data.get("amount")
    if not isinstance(amount, mt940.models.Amount):
        raise StatementError(":61: has no amount", format=FORMAT, where=where)
    code = amount.currency or currency
    if not code:
        raise StatementError("no currency: the statement has no balance or floor limit naming one, and "
                             "none was given for this file", format=FORMAT, where=where)  # fmt: skip
    value_date = _date(data.get("date"))
    entry_date = data.get("entry_date")
    mark = str(data.get("status") or "").upper()
    bank_ref = str(data.get("bank_reference") or "").strip()
    descriptor, merchant, reference = describe(data, raw, data.get("extra_details"))
    customer_ref = str(data.get("customer_reference") or "").strip()
    if reference is None and customer_ref.upper() not in _NO_REFERENCE:
        reference = display_line(customer_ref, "reference")[:140] or None
    return StatementEntry(
        amount=_money(amount.amount, code, where),
        booking_date=_date(entry_date) if entry_date else value_date,
        value_date=value_date,
        descriptor=descriptor,
        status=TransactionStatus.POSTED,
        entry_id=None if bank_ref.upper() in _NO_REFERENCE else display_line(bank_ref, "bank ref")[:128],
        merchant=merchant,
        reference=reference,
        reversal=mark in ("RC", "RD"),
        where=where,
    )  # fmt: skip


def _money(amount: Any, currency: str | None, where: str) -> Money:
    if not isinstance(amount, decimal.Decimal) or not amount.is_finite():
        raise StatementError("the amount is not a number", format=FORMAT, where=where)
    try:
        return Money(amount, (currency or "").strip().upper())
    except InvalidInput as exc:
        raise StatementError(exc.detail, format=FORMAT, where=where) from None


def _date(value: Any) -> date:
    return date(value.year, value.month, value.day)


def _account(
    raw: Any, number: int | None, block: Block, warnings: list[str]
) -> tuple[StatementAccount, str | None]:
    """The :25: account (IBAN, "BLZ/Konto", "BIC/number" or a plain number), and the currency
    some banks append to it ("NL..RABO..EUR")."""
    where = f"line {number or block.first_line}"
    compact = display_line(str(raw or ""), "account").replace(" ", "").upper()
    if not compact:
        raise StatementError(":25: names no account (an IBAN or account number is required)",
                             format=FORMAT, where=where)  # fmt: skip
    currency = None
    if len(compact) > 3 and compact[-3:] in CURRENCIES:
        rest = compact[:-3].rstrip("/")
        if re.fullmatch(r"[\d/]+", rest) or _valid_iban(rest):
            compact, currency = rest, compact[-3:]
    bank_id = None
    if _IBAN_SHAPE.fullmatch(compact):
        if not _valid_iban(compact):
            warnings.append(f"{where}: the :25: account has the shape of an IBAN but its check digits are "
                            "wrong; kept as written")  # fmt: skip
    else:  # German "BLZ/Konto", or "BIC/account"
        m = _BLZ_KONTO.fullmatch(compact) or _BIC_ACCOUNT.fullmatch(compact)
        bank_id = m[1] if m else None
    return StatementAccount(identifier=compact[:35], currency=currency, bank_id=bank_id), currency


def _valid_iban(value: str) -> bool:
    try:
        IBAN(value)
    except SchwiftyException:
        return False
    return True


def _join(pages: list[_Page]) -> ParsedStatement:
    """Pages of one statement as one: every entry, the first page's opening, the last page's
    closing (a page's intermediate opening repeats the previous page's intermediate closing)."""
    entries = [entry for page in pages for entry in page.entries]
    balances = list(pages[0].balances)
    for page in pages[1:]:
        balances.extend(b for b in page.balances if b.kind != "interim_opening_booked")
    days = [e.booking_date for e in entries if e.booking_date is not None]
    starts = [b.as_of for b in balances if b.kind in ("opening_booked", "interim_opening_booked")]
    ends = [b.as_of for b in balances if b.kind in ("closing_booked", "interim_booked")]
    ends += [page.report_date for page in pages if page.report_date is not None]
    return ParsedStatement(
        account=pages[0].account, entries=tuple(entries), balances=tuple(balances),
        period_start=min(days + starts) if days or starts else None,
        period_end=max(days + ends) if days or ends else None,
    )  # fmt: skip
