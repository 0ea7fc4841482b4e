"""The bank dialogue's vocabulary: prompts ("Was this you?"), the signed outbox to the bank,
the customer-service messages from it, and the bank's signing key (docs/bank-dialogue.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ledgerlink.domain.errors import DomainError


class BankSignatureInvalid(DomainError):
    """A message said to come from a bank did not verify against its registered keys."""

    code = "bank_signature_invalid"
    status = 401


class PartnerSigning(Protocol):
    """Compact JWS (EdDSA) between the platform and its bank partners."""

    def sign_request(self, claims: Mapping[str, Any]) -> str:
        """A request to a bank, signed with the platform key (typ ledgerlink-request+jwt)."""
        ...

    def verify_bank_message(
        self, token: str, jwks: Mapping[str, Any], *, issuer: str, audience: str, now: datetime
    ) -> dict[str, Any]:
        """The claims of a bank message (typ bank-message+jwt) signed by a key of `jwks`, with
        matching iss and aud, valid at `now`; else BankSignatureInvalid saying what failed."""
        ...


@dataclass(slots=True)
class PromptRecord:
    id: str
    person_id: str
    thread_id: str
    link_id: str
    partner_id: str
    account_id: str
    bank_ref: str
    kind: str  # fraud
    message_id: str
    status: str  # open | answered | expired
    reply_ids: str  # comma-separated
    expires_at: datetime
    created_at: datetime
    reminder_message_id: str | None = None
    answer: str | None = None
    answered_via: str | None = None
    answered_at: datetime | None = None
    remind_at: datetime | None = None
    reminded_at: datetime | None = None


class PromptRepository(Protocol):
    async def add(self, prompt: PromptRecord) -> bool:
        """Insert; False (nothing written) if the bank's (partner, ref) is already there."""
        ...

    async def get(self, prompt_id: str) -> PromptRecord | None: ...
    async def by_message(self, message_id: str) -> PromptRecord | None:
        """The prompt whose card or reminder is this message."""
        ...

    async def by_ref(self, partner_id: str, bank_ref: str) -> PromptRecord | None: ...
    async def open_in_thread(self, thread_id: str) -> list[PromptRecord]:
        """Open prompts of the thread, newest first."""
        ...

    async def answer(self, prompt_id: str, *, answer: str, via: str, at: datetime) -> bool:
        """Open -> answered; False if it was not open any more (a concurrent answer won)."""
        ...

    async def expire(self, prompt_id: str) -> bool:
        """Open -> expired; False if it was not open any more."""
        ...

    async def reminded(self, prompt_id: str, *, reminder_message_id: str, at: datetime) -> bool:
        """Record the one reminder; False if it was already reminded or is not open."""
        ...

    async def due(self, now: datetime, *, limit: int = 100) -> list[PromptRecord]:
        """Open prompts whose reminder or expiry is due at `now`."""
        ...

    async def for_person(self, person_id: str) -> list[PromptRecord]:
        """Every prompt of the person, whatever its status, oldest first (their data export)."""
        ...


@dataclass(slots=True)
class BankOutboxRecord:
    id: str  # also the request's jti and Idempotency-Key
    person_id: str
    link_id: str
    partner_id: str
    kind: str  # fraud_answer | service_message
    ref: str  # prompt id | the person's message id
    status: str  # pending | sent | refused | gave_up
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    outcome: str | None = None


class BankOutboxRepository(Protocol):
    async def add(self, row: BankOutboxRecord) -> bool:
        """Insert; False if (kind, ref) is already there."""
        ...

    async def get(self, row_id: str) -> BankOutboxRecord | None: ...
    async def for_ref(self, kind: str, ref: str) -> BankOutboxRecord | None: ...
    async def due(self, now: datetime, *, limit: int = 100) -> list[BankOutboxRecord]:
        """Pending rows due at `now`, oldest first."""
        ...

    async def next_due(self) -> datetime | None: ...
    async def update(self, row: BankOutboxRecord) -> None: ...
    async def for_person(self, person_id: str) -> list[BankOutboxRecord]:
        """Every request sent (or to be sent) to a bank for the person, oldest first (their
        data export)."""
        ...


class BankMessageRepository(Protocol):
    async def add(
        self, *, partner_id: str, bank_message_id: str, person_id: str, message_id: str, at: datetime
    ) -> bool:
        """Record a message a bank posted; False if its id was seen already."""
        ...

    async def get(self, partner_id: str, bank_message_id: str) -> str | None:
        """The platform message id stored for the bank's message id."""
        ...
