"""Ingest's vocabulary: webhook signature verification, the inbox, stored transactions, and
the inbox writer (group commit, ADR 0005).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from ledgerlink.domain.events import Event


class SignatureVerifier(Protocol):
    """Standard Webhooks verification on the raw body, with several secrets for rotation."""

    def verify(self, secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> None:
        """Raise `ledgerlink.domain.errors.Unauthorized` with a specific code on failure:
        missing_signature_headers, stale_timestamp, bad_signature."""
        ...


@dataclass(slots=True)
class TransactionRecord:
    id: str
    account_id: str
    person_id: str
    source_key: str
    pending_source_key: str | None
    status: str
    currency: str
    booking_date: date | None
    value_date: date | None
    mcc: str | None
    sealed: bytes  # JSON: amount_minor, merchant, descriptor, history
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class InboxRecord:
    id: str  # partner id + ":" + webhook-id
    partner_id: str
    person_id: str | None
    event_type: str
    sealed: bytes | None
    received_at: datetime
    processed_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None


class TransactionRepository(Protocol):
    async def add(self, txn: TransactionRecord) -> None: ...
    async def find(self, account_id: str, source_keys: Sequence[str]) -> TransactionRecord | None:
        """The row whose source_key or pending_source_key is any of `source_keys`."""
        ...

    async def get(self, txn_id: str) -> TransactionRecord | None: ...
    async def get_many(self, txn_ids: Sequence[str]) -> dict[str, TransactionRecord]:
        """The stored rows among `txn_ids`, by id; absent ids are left out."""
        ...

    async def for_account(self, account_id: str, *, limit: int = 50) -> list[TransactionRecord]: ...
    async def for_account_between(
        self, account_id: str, start: date, end: date, *, limit: int = 1000
    ) -> list[TransactionRecord]:
        """Booked in [start, end] inclusive; a row without booking_date (pending) by its
        created_at date (UTC). Newest first."""
        ...

    async def update(self, txn: TransactionRecord) -> None: ...


class InboxRepository(Protocol):
    async def add(self, record: InboxRecord) -> bool:
        """Insert; False (and nothing written) if the id was already there."""
        ...

    async def add_many(self, records: Sequence[InboxRecord]) -> set[str]:
        """Insert, skipping ids already present; returns the ids actually inserted."""
        ...

    async def get(self, inbox_id: str) -> InboxRecord | None: ...
    async def unprocessed(self, *, limit: int = 100) -> list[InboxRecord]:
        """The oldest events not processed yet (received order)."""
        ...

    async def unprocessed_among(self, ids: Sequence[str]) -> list[InboxRecord]:
        """Those of `ids` not processed yet, in received order."""
        ...

    async def claim(self, ids: Sequence[str], at: datetime) -> set[str]:
        """Mark processed those of `ids` not processed yet; returns them. The claim holds for
        the unit of work: rolled back, the rows are unprocessed again."""
        ...

    async def mark_processed(self, inbox_id: str, at: datetime) -> None: ...
    async def mark_processed_many(self, ids: Sequence[str], at: datetime) -> None: ...
    async def mark_failed(self, inbox_id: str, error_code: str) -> None: ...


class InboxWriter(Protocol):
    """The durable group-commit insert of accepted bank events (ingest's hot path)."""

    # How many batches may be written at once (each on its own connection); 1: one at a time.
    concurrency: int

    @property
    def announces(self) -> bool:
        """True when `add_many` commits `announce(inserted ids)` in its own transaction (the
        outbox of the scale-out profile); False: the caller publishes it after the commit."""
        ...

    async def add_many(
        self, records: Sequence[InboxRecord], *, announce: Callable[[list[str]], Event] | None = None
    ) -> set[str]:
        """Insert, skipping ids already present; returns the ids inserted. Durable on return."""
        ...

    async def aclose(self) -> None:
        """Give back the connections it holds (at shutdown, before the engine is disposed)."""
        ...
