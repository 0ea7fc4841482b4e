"""QIF statements with quiffen.

QIF says neither its currency nor its date order nor its decimal mark, and has no ids. This
module reads the file's structure itself (sections, `!Account` blocks, records, with their line
numbers), decides the date order from every date in the file, and hands each transaction
record to quiffen's `Transaction.from_list` with the dates already written as ISO and the
amounts as plain decimals. dateutil (which quiffen uses) would otherwise read 13/01/25 as
13 January in a month-first file without a word; and its `dayfirst` flag turns ISO dates into
year-day-month, so quiffen gets ISO dates and `day_first=False`, and its result is checked.

Dates: the orders (day-month-year, month-day-year, year-month-day) that fit *every* date are
found. One fits: it is used and reported (`ParsedFile.date_order`). Both DMY and MDY fit and
the caller gave no order: the file is read day-first and returned with
`ambiguous_date_orders=(DMY, MDY)`: nothing may be stored until the person confirms. The caller
gave an order: a date that does not fit it is an error naming its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ledgerlink.adapters.statements._common import (
    Notes,
    NumericDate,
    decimal_comma_of,
    decode,
    join_descriptor,
    money,
    orders_fitting,
    parse_amount,
    qif_date,
    require_currency,
    text,
)
from ledgerlink.domain.banking import AccountType
from ledgerlink.domain.statements import (
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

__all__ = ["parse_qif"]

QIF = StatementFormat.QIF
_TYPES = {"bank": AccountType.CHECKING, "cash": AccountType.OTHER, "ccard": AccountType.CREDIT_CARD,
          "otha": AccountType.OTHER, "othl": AccountType.LOAN, "invoice": AccountType.OTHER}  # fmt: skip
_SKIPPED = frozenset({"cat", "class", "memorized", "prices", "security", "bill", "tag"})
_INVESTMENT = frozenset({"invst", "port", "401(k)/403(b)", "401k", "invoice401k"})
_KNOWN_CODES = frozenset("DTUMCPALNSE$%F1234567X")
_AMOUNT_CODES = frozenset("TU$")


@dataclass(slots=True)
class _Record:
    kind: str  # "tx" or "account"
    line: int
    lines: list[tuple[int, str]] = field(default_factory=list)
    account: str | None = None
    qif_type: str | None = None


@dataclass(slots=True)
class _Account:
    name: str | None
    qif_type: str | None
    entries: list[StatementEntry] = field(default_factory=list)
    balance: tuple[str, str, int] | None = None  # ($ value, / date, line)


def parse_qif(data: bytes, options: ReadOptions) -> ParsedFile:
    notes = Notes()
    content, _codec = decode(data, declared=None, fmt=QIF, notes=notes)
    records = _records(content.splitlines(), notes)
    dates = [
        (ln, raw, qif_date(raw[1:]))
        for r in records
        for ln, raw in r.lines
        if raw[:1] == "D" and r.kind == "tx"
    ]
    for ln, _raw, parsed in dates:
        if parsed is None:
            raise StatementError("the D line is not a date", format=QIF, where=f"line {ln}", code="bad_date")
    order, ambiguous = _order([(ln, raw[1:].strip(), d) for ln, raw, d in dates if d is not None], options)
    comma = decimal_comma_of(v[1:] for r in records for _, v in r.lines if v[:1] in _AMOUNT_CODES)
    accounts: dict[str | None, _Account] = {}
    for record in records:
        acct = accounts.setdefault(record.account, _Account(record.account, record.qif_type))
        if record.kind == "account":
            _account_block(record, acct)
        else:
            currency = require_currency(None, options, fmt=QIF, where=f"line {record.line}")
            acct.entries.append(_transaction(record, order, comma, currency, notes))
    statements = []
    for acct in accounts.values():
        if not acct.entries and acct.balance is None:
            continue
        currency = require_currency(None, options, fmt=QIF)
        statements.append(
            ParsedStatement(
                account=StatementAccount(
                    identifier="",
                    currency=currency,
                    name=acct.name,
                    type=_TYPES.get((acct.qif_type or "").lower().replace(" ", "")),
                ),
                entries=tuple(acct.entries),
                balances=_balance(acct, order, currency, notes),
            )
        )
    return ParsedFile(
        format=QIF,
        statements=tuple(statements),
        warnings=notes.render(),
        ambiguous_date_orders=ambiguous,
        date_order=order if dates else None,
    )


def _records(lines: list[str], notes: Notes) -> list[_Record]:
    """The file's records in order, each with its own lines and the account it belongs to."""
    records: list[_Record] = []
    section: str | None = None  # "tx", "account", "skip"
    qif_type: str | None = None
    account: str | None = None
    autoswitch = False  # between !Option:AutoSwitch and !Clear:AutoSwitch: the account list
    current: _Record | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("!"):
            head = stripped[1:].lower().replace(" ", "")
            current = None
            if head.startswith("option:autoswitch"):
                autoswitch = True
            elif head.startswith("clear:autoswitch"):
                autoswitch = False
            elif head.startswith("account"):
                section = "skip" if autoswitch else "account"
            elif head.startswith("type:"):
                kind = head[5:]
                if kind in _INVESTMENT:
                    raise StatementError(
                        "investment accounts (!Type:Invst) are not supported: export the "
                        "cash or bank account instead",
                        format=QIF,
                        where=f"line {number}",
                        code="unsupported_qif_type",
                    )
                if kind in _SKIPPED:
                    section = "skip"
                elif kind in _TYPES:
                    section, qif_type = "tx", stripped.split(":", 1)[1].strip()
                else:
                    raise StatementError(
                        "unknown QIF section header", format=QIF, where=f"line {number}", code="bad_qif"
                    )
            elif not head.startswith(("option:", "clear:")):
                raise StatementError(
                    "unknown QIF header line", format=QIF, where=f"line {number}", code="bad_qif"
                )
            continue
        if section is None:
            raise StatementError(
                "the file does not start with a !Type or !Account header",
                format=QIF,
                where=f"line {number}",
                code="bad_qif",
            )
        if section == "skip":
            continue
        if stripped == "^" or stripped.startswith("^"):
            current = None
            continue
        if current is None:
            current = _Record(section, number, account=account, qif_type=qif_type)
            records.append(current)
        current.lines.append((number, stripped))
        if section == "account" and stripped[:1] == "N":
            account = stripped[1:].strip() or None
            current.account = account
        if section == "account" and stripped[:1] == "T":
            current.qif_type = stripped[1:].strip()
            qif_type = current.qif_type
    return records


def _order(
    dates: list[tuple[int, str, NumericDate]], options: ReadOptions
) -> tuple[DateOrder, tuple[DateOrder, ...]]:
    wanted = options.date_order
    if not dates:
        return wanted or DateOrder.DMY, ()
    if wanted is not None and orders_fitting(d for _, _, d in dates) != {DateOrder.YMD}:
        for ln, raw, parsed in dates:
            if parsed.read(wanted) is None:
                raise StatementError(
                    f"the date {raw[:12]!r} cannot be read as {_ORDER_NAMES[wanted]}",
                    format=QIF,
                    where=f"line {ln}",
                    code="bad_date",
                )
        return wanted, ()
    fits = orders_fitting(d for _, _, d in dates)
    if DateOrder.DMY in fits and DateOrder.MDY in fits:
        return DateOrder.DMY, (DateOrder.DMY, DateOrder.MDY)
    if fits:
        return sorted(fits)[0], ()
    raise StatementError(_mixed(dates), format=QIF, code="mixed_date_orders")


_ORDER_NAMES = {DateOrder.DMY: "day-month-year", DateOrder.MDY: "month-day-year",
                DateOrder.YMD: "year-month-day"}  # fmt: skip


def _mixed(dates: list[tuple[int, str, NumericDate]]) -> str:
    """Say which two lines disagree: no single date order reads every date of the file."""
    for order in (DateOrder.DMY, DateOrder.MDY, DateOrder.YMD):
        ok = next((ln for ln, _, d in dates if d.read(order)), None)
        bad = next((ln for ln, _, d in dates if not d.read(order)), None)
        if ok is not None and bad is not None:
            return (
                f"no date order reads every date: line {ok} can be {_ORDER_NAMES[order]}, line {bad} cannot"
            )
    return "no date order reads every date of the file"


def _transaction(
    record: _Record, order: DateOrder, comma: bool | None, currency: str, notes: Notes
) -> StatementEntry:
    from quiffen import Transaction

    where = f"line {record.line}"
    fields: list[str] = []
    booking: date | None = None
    total: Decimal | None = None
    splits: list[Decimal] = []
    for ln, value in record.lines:
        code, rest = value[:1], value[1:].strip()
        if code not in _KNOWN_CODES:
            notes.add("QIF lines with an unknown field code were ignored", f"line {ln}")
            continue
        if code == "D":
            parsed = qif_date(rest)
            day = parsed.read(order) if parsed is not None else None
            if day is None:
                raise StatementError(
                    "the D line is not a date", format=QIF, where=f"line {ln}", code="bad_date"
                )
            booking = booking or day
            rest = day.isoformat()
        elif code in _AMOUNT_CODES:
            amount = parse_amount(rest, decimal_comma=comma)
            if amount is None:
                if code == "$":
                    notes.add("split amounts that are not numbers were ignored", f"line {ln}")
                    continue
                raise StatementError(
                    f"the {code} line is not an amount", format=QIF, where=f"line {ln}", code="bad_amount"
                )
            if code == "$":
                splits.append(amount)
            elif total is None:
                total = amount
            rest = str(amount)
        fields.append(f"{code}{rest}")
    if booking is None:
        raise StatementError(
            "a transaction without a date (D line)", format=QIF, where=where, code="bad_date"
        )
    if total is None:
        if not splits:
            raise StatementError(
                "a transaction without an amount (T line)", format=QIF, where=where, code="bad_amount"
            )
        total = sum(splits, Decimal(0))
        fields.append(f"T{total}")
        notes.add("transactions without a T line were given the sum of their splits", where)
    elif splits and sum(splits, Decimal(0)) != total:
        notes.add("split amounts that do not add up to the transaction's amount: the amount was kept", where)
    try:
        tx, _classes = Transaction.from_list(fields, day_first=False, line_number=record.line)
    except Exception as exc:  # quiffen raises ValueError, pydantic errors, decimal errors
        raise StatementError(
            f"the transaction could not be read ({type(exc).__name__})",
            format=QIF,
            where=where,
            code="bad_qif",
        ) from None
    if tx.date.date() != booking or Decimal(tx.amount) != total:  # pragma: no cover - quiffen disagreeing
        raise StatementError(
            "the transaction was read inconsistently", format=QIF, where=where, code="bad_qif"
        )
    payee = text(tx.payee, "payee", fmt=QIF, where=where)
    memo = text(tx.memo, "memo", fmt=QIF, where=where)
    descriptor = join_descriptor(payee, memo)
    reference = text(str(tx.check_number), "check number", fmt=QIF, where=where) if tx.check_number else None
    return StatementEntry(
        amount=money(total, currency, fmt=QIF, where=where, notes=notes),
        booking_date=booking,
        descriptor=descriptor or "",
        merchant=payee,
        reference=reference,
        where=where,
    )


def _account_block(record: _Record, acct: _Account) -> None:
    values = {value[:1]: (ln, value[1:].strip()) for ln, value in record.lines}
    if record.qif_type:
        acct.qif_type = record.qif_type
    if "$" in values and "/" in values:
        acct.balance = (values["$"][1], values["/"][1], values["$"][0])


def _balance(acct: _Account, order: DateOrder, currency: str, notes: Notes) -> tuple[StatementBalance, ...]:
    if acct.balance is None:
        return ()
    amount_raw, date_raw, ln = acct.balance
    amount = parse_amount(amount_raw)
    parsed = qif_date(date_raw)
    day = parsed.read(order) if parsed is not None else None
    if amount is None or day is None:
        notes.add("an account balance that could not be read was left out", f"line {ln}")
        return ()
    return (
        StatementBalance(
            "closing_booked", money(amount, currency, fmt=QIF, where=f"line {ln}", notes=notes), day
        ),
    )
