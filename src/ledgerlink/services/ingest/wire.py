"""The bank wire format (JSON) shared by pushed events and the data API: parse, never trust.

Both the ingest path and the HTTP bank connector use these parsers, so a transaction
reported by webhook and by cursor sync becomes the very same `BankTransaction`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from ledgerlink.domain.banking import BankTransaction, TransactionStatus
from ledgerlink.domain.clock import ensure_utc
from ledgerlink.domain.countries import is_country
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money
from ledgerlink.domain.text import display_line
from ledgerlink.services.linking.ports import BankBalance


def _field(obj: Any, name: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where} must be a JSON object", code="malformed_payload")
    if name not in obj or obj[name] is None:
        raise InvalidInput(f"{where}.{name} is required", code="malformed_payload")
    return obj[name]


def _str(obj: dict[str, Any], name: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"{where}.{name} is required", code="malformed_payload")
        return None
    if not isinstance(value, str) or len(value) > 512:
        raise InvalidInput(
            f"{where}.{name} must be a string of at most 512 characters", code="malformed_payload"
        )
    return value


def _display(obj: dict[str, Any], name: str, where: str) -> str | None:
    """An optional one-line display field (merchant name, statement text): Unicode text only
    (a lone surrogate is refused as ``invalid_text``), control and bidi characters removed."""
    value = _str(obj, name, where, required=False)
    return None if value is None else display_line(value, f"{where}.{name}")


_MCC = re.compile(r"^[0-9]{4}$")
MAX_ID = 128


def _id(obj: dict[str, Any], name: str, where: str) -> str:
    """A bank's identifier: required, printable, at most 128 characters (our column size)."""
    value = _str(obj, name, where)
    assert value is not None
    if not value or len(value) > MAX_ID or not value.isprintable():
        raise InvalidInput(
            f"{where}.{name} must be a printable id of 1-{MAX_ID} characters", code="malformed_payload"
        )
    return value


def _date(obj: dict[str, Any], name: str, where: str) -> date | None:
    raw = _str(obj, name, where, required=False)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{where}.{name} must be a YYYY-MM-DD date", code="malformed_payload") from None


def parse_instant(raw: Any, where: str) -> datetime:
    if not isinstance(raw, str):
        raise InvalidInput(f"{where} must be an ISO 8601 instant", code="malformed_payload")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return ensure_utc(value)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved past UTC
        raise InvalidInput(
            f"{where} must be an ISO 8601 instant with a UTC offset", code="malformed_payload"
        ) from None


def parse_money(obj: dict[str, Any], name: str, currency: str, where: str) -> Money:
    raw = _field(obj, name, where)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InvalidInput(
            f'{where}.{name} must be a decimal string such as "-12.30"', code="malformed_payload"
        )
    return Money.parse(raw, currency)


def parse_transaction(obj: Any, where: str = "transaction") -> BankTransaction:
    """Parse one transaction object of the bank wire format (see docs/sandbox-bank.md)."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where} must be a JSON object", code="malformed_payload")
    currency = _str(obj, "currency", where)
    assert currency is not None
    status_raw = _str(obj, "status", where)
    try:
        status = TransactionStatus(status_raw or "")
        if status is TransactionStatus.REMOVED:
            raise ValueError(status)
    except ValueError:
        raise InvalidInput(f"{where}.status must be pending or posted", code="malformed_payload") from None
    txn_id = _id(obj, "transaction_id", where)
    account_id = _id(obj, "account_id", where)
    mcc = _str(obj, "mcc", where, required=False)
    if mcc is not None and not _MCC.match(mcc):
        raise InvalidInput(f"{where}.mcc must be a 4-digit merchant category code", code="malformed_payload")
    pending_id = _str(obj, "pending_transaction_id", where, required=False)
    if pending_id is not None:
        pending_id = _id(obj, "pending_transaction_id", where)
    merchant_country = country(obj, "merchant_country", where)
    card_present = flag(obj, "card_present", where)
    assert txn_id is not None and account_id is not None
    return BankTransaction(
        bank_transaction_id=txn_id,
        bank_account_id=account_id,
        status=status,
        amount=parse_money(obj, "amount", currency, where),
        booking_date=_date(obj, "booking_date", where),
        value_date=_date(obj, "value_date", where),
        merchant=_display(obj, "merchant_name", where),
        descriptor=_display(obj, "descriptor", where) or "",
        mcc=mcc,
        pending_transaction_id=pending_id,
        merchant_country=merchant_country,
        card_present=card_present,
    )


# Field parsers shared with the account events of other modules (services/dialogue/declines.py).


def text(obj: dict[str, Any], name: str, where: str, *, required: bool = True) -> str | None:
    """A string of at most 512 characters; None when absent and not required."""
    return _str(obj, name, where, required=required)


def display_text(obj: dict[str, Any], name: str, where: str) -> str | None:
    """An optional one-line display field of at most 512 characters (see `_display`)."""
    return _display(obj, name, where)


def bank_id(obj: dict[str, Any], name: str, where: str) -> str:
    """A bank's identifier: required, printable, 1-128 characters."""
    return _id(obj, name, where)


def country(obj: dict[str, Any], name: str, where: str) -> str | None:
    """An optional ISO 3166-1 alpha-2 country code in capitals, e.g. "FR"."""
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not is_country(value):
        raise InvalidInput(
            f'{where}.{name} must be an ISO 3166-1 alpha-2 country code in capitals, such as "FR"',
            code="malformed_payload",
        )
    return value


def flag(obj: dict[str, Any], name: str, where: str) -> bool | None:
    """An optional JSON boolean (never a string or a number)."""
    value = obj.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidInput(f"{where}.{name} must be true or false", code="malformed_payload")


def parse_balance(obj: Any, where: str = "balance") -> BankBalance:
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where} must be a JSON object", code="malformed_payload")
    currency = _str(obj, "currency", where)
    account_id = _id(obj, "account_id", where)
    assert currency is not None
    available = parse_money(obj, "available", currency, where) if obj.get("available") is not None else None
    return BankBalance(
        bank_account_id=account_id,
        current=parse_money(obj, "current", currency, where),
        available=available,
        as_of=parse_instant(_field(obj, "as_of", where), f"{where}.as_of"),
    )
