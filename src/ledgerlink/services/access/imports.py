"""Statement imports at the gate (ADR 0022): the person's token key, the reads that match a file
with what is stored, the sealed write of a file's rows, the saved CSV mapping, and the hook by
which a bank report confirms a row first seen in a file (registered with `accounts`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from ledgerlink.domain.banking import BankTransaction, Transaction
from ledgerlink.domain.import_matching import WINDOW_DAYS, FileLine, StoredRow, id_identity, plan, words
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.statements import CsvMapping
from ledgerlink.services.access import accounts as _accounts
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.imports.ports import (
    FILE_SOURCE_PREFIX,
    CsvMappingRecord,
    ImportKeyRecord,
    StatementEntryRecord,
)
from ledgerlink.services.ingest.ports import TransactionRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import AccountRecord

NUMBER_TOKEN_PREFIX = "nt1_"  # accounts.number_token made from the account number (else "num_...")
_EVERYTHING = 10_000_000


def normalize_identifier(identifier: str) -> str:
    """`DE89 3704-0044.0532` and `de8937040044 0532` are one account: letters and digits only,
    upper case."""
    return "".join(ch for ch in identifier if ch.isalnum()).upper()


class ImportTokens:
    """Keyed tokens (HMAC-SHA256 under the person's import key, domain-separated by label): the
    same input gives the same token for this person, and a token says nothing about its input
    without the key. Another person's tokens of the same number differ."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "ImportTokens(<key>)"

    def _mac(self, label: bytes, value: bytes) -> str:
        return hmac.new(self._key, label + b"\x00" + value, hashlib.sha256).hexdigest()

    def account(self, identifier: str) -> str | None:
        """The number token of an account number (IBAN, ACCTID, :25:); None for no number."""
        number = normalize_identifier(identifier)
        return NUMBER_TOKEN_PREFIX + self._mac(b"account", number.encode())[:60] if number else None

    def entry(self, account_id: str, identity: str) -> str:
        return self._mac(b"entry", f"{account_id}\x00{identity}".encode())

    def file(self, data: bytes) -> str:
        return self._mac(b"file", hashlib.sha256(data).digest())


def has_number_token(account: AccountRecord) -> bool:
    return account.number_token.startswith(NUMBER_TOKEN_PREFIX)


async def import_tokens(
    vault: Vault, uow: UnitOfWork, person_id: str, *, at: datetime, create: bool = True
) -> ImportTokens | None:
    """The person's token key, made on first use (None when there is none and `create` is off)."""
    record = await uow.imports.import_key(person_id)
    if record is None:
        if not create:
            return None
        key = secrets.token_bytes(32)
        sealed = await vault.seal(person_id, {"key": base64.b64encode(key).decode()}, table="import_keys",
                                  row_id=person_id)
        fresh = ImportKeyRecord(person_id=person_id, sealed=sealed, created_at=at)
        if await uow.imports.add_import_key(fresh):
            return ImportTokens(key)
        record = await uow.imports.import_key(person_id)  # a concurrent first import won
        if record is None:  # pragma: no cover - the winner's row is visible once it committed
            return None
    value = await vault.open(person_id, record.sealed, table="import_keys", row_id=person_id)
    return ImportTokens(base64.b64decode(value["key"]))


async def read_transactions_for_matching(
    vault: Vault, uow: UnitOfWork, grant: Grant, account: AccountRecord, *, start: date, end: date,
    at: datetime,
) -> list[Transaction]:
    """Every transaction of the account dated in [start, end], opened to match a file with them
    (purpose import_statement, one audit entry)."""
    _mine(grant, account.person_id, "account")
    records = await uow.transactions.for_account_between(account.id, start, end, limit=_EVERYTHING)
    txns = [await _accounts._open_txn(vault, uow, r) for r in records]
    subject = f"account:{account.id} {start.isoformat()}..{end.isoformat()} transactions:{len(txns)}"
    await audit(uow, grant, Purpose.IMPORT_STATEMENT, action="match_transactions", subject=subject, at=at)
    return txns


def _record(txn: Transaction, sealed: bytes) -> TransactionRecord:
    return TransactionRecord(
        id=txn.id, account_id=txn.account_id, person_id=txn.person_id, source_key=txn.source_key,
        pending_source_key=txn.pending_source_key, status=txn.status.value, currency=txn.amount.currency,
        booking_date=txn.booking_date, value_date=txn.value_date, mcc=txn.mcc, sealed=sealed,
        created_at=txn.created_at, updated_at=txn.updated_at,
    )  # fmt: skip


async def _seal_txn(vault: Vault, txn: Transaction) -> bytes:
    return await vault.seal(txn.person_id, _accounts._txn_secret(txn), table="transactions", row_id=txn.id)


async def store_file_rows(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    account: AccountRecord,
    *,
    new: Sequence[Transaction],
    changed: Sequence[Transaction],
    entries: Sequence[StatementEntryRecord],
) -> None:
    """Seal and write a file's new rows (one bulk insert), the rows it updated, and its entry
    keys. The caller audits the import once (`import_statement`)."""
    _mine(grant, account.person_id, "account")
    records = []
    for txn in new:
        if txn.account_id != account.id:
            raise ValueError("a file row of another account")
        sealed = await _seal_txn(vault, txn)
        records.append(_record(txn, sealed))
    await uow.imports.add_transactions(records)
    for txn in changed:
        await uow.transactions.update(_record(txn, await _seal_txn(vault, txn)))
    await uow.imports.add_entries(entries)


# --------------------------------------------------------------------------- CSV mappings


async def store_csv_mapping(
    vault: Vault, uow: UnitOfWork, grant: Grant, account: AccountRecord, mapping: CsvMapping, *, at: datetime
) -> None:
    _mine(grant, account.person_id, "account")
    sealed = await vault.seal(account.person_id, dataclasses.asdict(mapping), table="csv_mappings",
                              row_id=account.id)
    await uow.imports.put_csv_mapping(
        CsvMappingRecord(account_id=account.id, person_id=account.person_id, sealed=sealed, updated_at=at)
    )


async def read_csv_mapping(
    vault: Vault, uow: UnitOfWork, grant: Grant, account: AccountRecord, *, at: datetime
) -> CsvMapping | None:
    """The mapping the account's last CSV file was read with, or None."""
    _mine(grant, account.person_id, "account")
    record = await uow.imports.csv_mapping(account.id)
    if record is None:
        return None
    await audit(uow, grant, Purpose.IMPORT_STATEMENT, action="read_csv_mapping",
                subject=f"account:{account.id}", at=at)
    value: dict[str, Any] = await vault.open(account.person_id, record.sealed, table="csv_mappings",
                                             row_id=account.id)
    known = {f.name for f in dataclasses.fields(CsvMapping)}
    return CsvMapping(**{k: v for k, v in value.items() if k in known})


# --------------------------------------------------------------------------- sync after import


def _day(txn: Transaction, default: date) -> date:
    return txn.booking_date or txn.value_date or default


async def adopt_file_row(
    vault: Vault, uow: UnitOfWork, grant: Grant, account: AccountRecord, report: BankTransaction, at: datetime
) -> TransactionRecord | None:
    """The row first seen in a statement file that this bank report (naming no stored row) is:
    the same matching rule as a file entry's, the other way round. The row comes back with the
    bank's id as its source key; None when no file row matches (the usual case: one indexed
    lookup that finds nothing)."""
    day = report.booking_date or report.value_date or at.date()
    rows = await uow.imports.file_rows_near(
        account.id, day - timedelta(days=WINDOW_DAYS), day + timedelta(days=WINDOW_DAYS)
    )
    if not rows:
        return None
    tokens = await import_tokens(vault, uow, account.person_id, at=at, create=False)
    if tokens is None:
        return None
    keyed = await uow.imports.keys_of([r.id for r in rows])
    for r in rows:  # a row first seen in a file carries its entry's key in its source key
        keyed.setdefault(r.id, set()).add(r.source_key[len(FILE_SOURCE_PREFIX):])
    opened = [await _accounts._open_txn(vault, uow, r) for r in rows]
    await audit(uow, grant, Purpose.SYNC_WITH_BANK, action="match_statement_rows",
                subject=f"account:{account.id} transactions:{len(opened)}", at=at)
    bank_ids = [report.bank_transaction_id, *([report.pending_transaction_id] if report.pending_transaction_id
                                             else [])]
    line = FileLine(
        index=0, key=None, ids=frozenset(tokens.entry(account.id, id_identity(i)) for i in bank_ids),
        amount=report.amount, day=day, words=words(report.descriptor, report.merchant),
    )
    stored = [
        StoredRow(id=t.id, amount=t.amount, day=_day(t, day), status=t.status,
                  ids=frozenset(keyed.get(t.id, ())), words=words(t.descriptor, t.merchant))
        for t in opened
    ]
    match = plan([line], stored, {})[0]
    record = next((r for r in rows if r.id == match.row_id), None)
    if record is not None:
        # The bank's id from now on; the entry's key moves to statement_entries, so the file
        # imported again still finds its row.
        await uow.imports.add_entries([StatementEntryRecord(
            account_id=account.id, entry_key=record.source_key[len(FILE_SOURCE_PREFIX):],
            transaction_id=record.id, person_id=account.person_id, import_id="bank")])  # fmt: skip
        record.source_key = report.bank_transaction_id
    return record


_accounts.adopt_file_rows_with(adopt_file_row)
