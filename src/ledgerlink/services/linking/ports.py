"""Linking's vocabulary: the bank connector and directory (OAuth, accounts, balances, sync
pages), links, accounts, consent receipts and connection health.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ledgerlink.domain.banking import AccountType, BankTransaction, Scope
from ledgerlink.domain.errors import DomainError
from ledgerlink.domain.money import Money


class BankError(DomainError):
    code = "bank_error"
    status = 502


class BankUnavailable(BankError):
    code = "bank_unavailable"


class BankRefused(BankError):
    """The bank answered a request with a final 4xx problem; `code` is the bank's own code
    (e.g. alert_already_answered). Retrying would get the same answer."""

    code = "bank_refused"
    status = 502


class BankAuthError(BankError):
    """The bank refused our credentials or token (revoked consent, bad code, bad verifier)."""

    code = "bank_auth_failed"
    status = 400


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scopes: tuple[Scope, ...]
    consent_id: str | None
    consent_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class BankAccountInfo:
    bank_account_id: str
    name: str
    type: AccountType
    currency: str
    last4: str


@dataclass(frozen=True, slots=True)
class BankBalance:
    bank_account_id: str
    current: Money
    available: Money | None
    as_of: datetime


@dataclass(frozen=True, slots=True)
class SyncPage:
    added: list[BankTransaction] = field(default_factory=list)
    modified: list[BankTransaction] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    next_cursor: str = ""
    has_more: bool = False


class BankConnector(Protocol):
    """One bank's authorization server and data API, seen from the platform (OAuth client)."""

    def authorization_request(
        self, *, redirect_uri: str, scopes: Sequence[Scope], state: str
    ) -> AuthorizationRequest:
        """Build the /authorize URL with PKCE S256; the verifier is generated here."""
        ...

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> TokenSet: ...

    async def refresh(self, *, refresh_token: str) -> TokenSet: ...

    async def revoke(self, *, token: str) -> None: ...

    async def accounts(self, *, access_token: str) -> list[BankAccountInfo]: ...

    async def balance(self, *, access_token: str, bank_account_id: str) -> BankBalance: ...

    async def sync_transactions(
        self, *, access_token: str, bank_account_id: str, cursor: str | None
    ) -> SyncPage: ...

    async def subscribe_events(self, *, access_token: str, callback_url: str) -> str:
        """Ask the bank to push this consent's events to `callback_url`; returns the
        subscription id."""
        ...

    async def post_signed(
        self, *, access_token: str, path: str, token: str, idempotency_key: str
    ) -> dict[str, Any]:
        """POST a signed request (compact JWS body, docs/bank-dialogue.md) to `path` under the
        bank's issuer. Returns the bank's JSON answer; raises BankUnavailable (retry),
        BankAuthError (token refused) or BankRefused (final 4xx, the bank's code kept)."""
        ...


class BankDirectory(Protocol):
    def connector(self, partner_id: str) -> BankConnector: ...



@dataclass(slots=True)
class LinkRecord:
    id: str
    person_id: str
    partner_id: str
    status: str
    scopes: list[str]
    state: str | None
    sealed_secrets: bytes | None  # JSON: code_verifier, access_token, refresh_token
    bank_consent_id: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    token_expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    failure_code: str | None = None


@dataclass(slots=True)
class AccountRecord:
    id: str
    person_id: str
    link_id: str
    partner_id: str
    bank_account_id: str
    type: str
    currency: str
    last4: str
    number_token: str
    sealed: bytes  # JSON: name
    sync_cursor: str | None
    created_at: datetime
    balance_sealed: bytes | None = None  # JSON: current_minor, available_minor
    balance_as_of: datetime | None = None



class LinkRepository(Protocol):
    async def add(self, link: LinkRecord) -> None: ...
    async def get(self, link_id: str) -> LinkRecord | None: ...
    async def by_state(self, state: str) -> LinkRecord | None: ...
    async def by_consent(self, partner_id: str, bank_consent_id: str) -> LinkRecord | None: ...
    async def for_person(self, person_id: str) -> list[LinkRecord]: ...
    async def update(self, link: LinkRecord) -> None: ...
    async def transition(
        self, link_id: str, *, expected: str, status: str, at: datetime,
        failure_code: str | None = None, drop_secrets: bool = False,
    ) -> bool:
        """Compare-and-set the status in one conditional UPDATE: True only for the one caller
        that moved the link from `expected` to `status` (on PostgreSQL a concurrent caller
        waits for the row and then finds it changed). Optionally records `failure_code` and
        drops the sealed secrets in the same statement."""
        ...

    async def expiring(self, before: datetime) -> list[LinkRecord]:
        """Active links whose consent ends before `before`."""
        ...


class AccountRepository(Protocol):
    async def add(self, account: AccountRecord) -> None: ...
    async def get(self, account_id: str) -> AccountRecord | None: ...
    async def by_bank_id(self, partner_id: str, bank_account_id: str) -> list[AccountRecord]: ...
    async def for_link(self, link_id: str) -> list[AccountRecord]: ...
    async def for_person(self, person_id: str) -> list[AccountRecord]: ...
    async def update(self, account: AccountRecord) -> None: ...
    async def active_ids(self) -> list[str]:
        """Ids of every account whose link is active."""
        ...


@dataclass(slots=True)
class ReceiptRecord:
    id: str
    person_id: str
    link_id: str
    issued_at: datetime
    expires_at: datetime
    sealed: bytes  # JSON: jws (the compact JWS, which names accounts)


class ReceiptRepository(Protocol):
    """Consent receipts (owner: the receipts feature)."""

    async def add(self, receipt: ReceiptRecord) -> None: ...
    async def get(self, receipt_id: str) -> ReceiptRecord | None: ...
    async def for_person(self, person_id: str) -> list[ReceiptRecord]: ...
    async def for_link(self, link_id: str) -> list[ReceiptRecord]: ...


class ReceiptSigner(Protocol):
    """Consent receipts as compact JWS (EdDSA, Ed25519), verifiable with a published JWKS."""

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS of `claims`, signed with the active key, its id in the `kid` header."""
        ...

    def verify(self, token: str, jwks: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
        """The claims, or `ledgerlink.services.linking.consent_receipts.ReceiptInvalid` with a specific code:
        receipt_malformed, receipt_unknown_key, receipt_bad_signature, receipt_expired."""
        ...


@dataclass(slots=True)
class LinkHealthRecord:
    link_id: str
    person_id: str
    failing_since: datetime | None  # the first failed sync of the current run; None: healthy
    failures: int  # failed syncs in a row
    last_error: str | None  # the last failure's error code (a code, never a message)
    attention_at: datetime | None  # when the open episode's card was posted; None: no episode
    episodes: int  # episodes so far (numbers the cards' subjects)
    updated_at: datetime


class LinkHealthRepository(Protocol):
    async def get(self, link_id: str) -> LinkHealthRecord | None: ...
    async def put(self, record: LinkHealthRecord) -> None:
        """Insert the row, or replace the link's row."""
        ...
