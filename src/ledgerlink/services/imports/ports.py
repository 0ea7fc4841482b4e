"""The imports capability's vocabulary: the statement reader, and what an import stores besides
the transactions themselves (ADR 0022).

- `import_keys`: one per person, the sealed secret under which account numbers, file entries
  and whole files are turned into keyed tokens (HMAC-SHA256). Sealed with the person's data
  key, so erasure (crypto-shredding) also makes every token meaningless.
- `statement_entries`: the keyed token of each file entry that merged into a row known before
  (from the bank, or another file) or whose row the bank has since confirmed. A row first
  seen in a file carries its entry's token in its source key (`file:<token>`), so the common
  case writes no extra row. A file imported again, or an overlapping one, finds its entries
  by either.
- `statement_imports`: one row per distinct file (by keyed token of its bytes), with the
  counts of its last import and the thread of its summary card.
- `csv_mappings`: the CSV column mapping last used for an account, sealed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from ledgerlink.domain.statements import FILES_LINK_STATUS as FILES_LINK_STATUS  # re-exported
from ledgerlink.domain.statements import CsvMapping, CsvPreview, ParsedFile, ReadOptions
from ledgerlink.services.ingest.ports import TransactionRecord

# The built-in partner whose per-person link holds the accounts known from files only (a
# "statement files" link is no consent to a bank: nothing syncs, nothing can be revoked).
FILES_PARTNER_ID = "ptn_statement_files"
FILES_PARTNER_SLUG = "statement-files"
FILES_PARTNER_NAME = "Statement files"
FILES_PARTNER_KIND = "files"
FILE_SOURCE_PREFIX = "file:"  # transactions.source_key of rows first seen in a file


class StatementReader(Protocol):
    """Bytes in, a `ParsedFile` out, or `domain.statements.StatementError`. Stores nothing."""

    def read(self, data: bytes, *, filename: str | None, options: ReadOptions) -> ParsedFile: ...


@runtime_checkable
class CsvPreviewReader(StatementReader, Protocol):
    """A reader that also shows a CSV file as it would be read, for the person to correct the
    mapping before anything is stored (the messenger's import page)."""

    def preview_csv(self, data: bytes, mapping: CsvMapping | None = None, rows: int = 10, *,
                    options: ReadOptions | None = None) -> CsvPreview: ...


@dataclass(slots=True)
class ImportKeyRecord:
    person_id: str
    sealed: bytes  # JSON: key (base64 of 32 random bytes)
    created_at: datetime


@dataclass(slots=True)
class StatementEntryRecord:
    account_id: str
    entry_key: str  # keyed token of the entry's identity (hex)
    transaction_id: str
    person_id: str
    import_id: str


@dataclass(slots=True)
class StatementImportRecord:
    id: str
    person_id: str
    file_token: str  # keyed token of the file's bytes (hex)
    format: str
    entries: int
    added: int
    merged: int
    skipped: int
    period_start: date | None
    period_end: date | None
    thread_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class CsvMappingRecord:
    account_id: str
    person_id: str
    sealed: bytes  # JSON: the CsvMapping's fields
    updated_at: datetime


class ImportRepository(Protocol):
    async def import_key(self, person_id: str) -> ImportKeyRecord | None: ...
    async def add_import_key(self, record: ImportKeyRecord) -> bool:
        """Insert unless the person has one already (a concurrent first import): True if
        this one was stored."""
        ...

    async def known_keys(self, account_id: str, keys: Sequence[str]) -> dict[str, str]:
        """Entry key -> transaction id, for those of `keys` known for the account (a
        statement_entries row, or a row whose source key is FILE_SOURCE_PREFIX + key)."""
        ...

    async def keys_of(self, transaction_ids: Sequence[str]) -> dict[str, set[str]]:
        """Transaction id -> its entry keys in statement_entries (not the one in its source key)."""
        ...

    async def add_entries(self, records: Sequence[StatementEntryRecord]) -> None: ...
    async def add_transactions(self, records: Sequence[TransactionRecord]) -> None:
        """Insert many new transaction rows at once (one executemany)."""
        ...

    async def file_rows_near(self, account_id: str, start: date, end: date) -> list[TransactionRecord]:
        """Rows first seen in a file (source_key starting with FILE_SOURCE_PREFIX) dated in
        [start, end] (booking date, else value date)."""
        ...

    async def import_by_file(self, person_id: str, file_token: str) -> StatementImportRecord | None: ...
    async def put_import(self, record: StatementImportRecord) -> None:
        """Insert, or replace the row of the same id."""
        ...

    async def csv_mapping(self, account_id: str) -> CsvMappingRecord | None: ...
    async def put_csv_mapping(self, record: CsvMappingRecord) -> None: ...
