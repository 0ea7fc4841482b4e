"""Ports: the small typed interfaces that adapters implement. Services depend on these only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

from ledgerlink.domain.audit import TreeHead
from ledgerlink.domain.banking import AccountType, BankTransaction, Scope
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import DomainError
from ledgerlink.domain.events import Event
from ledgerlink.domain.money import Money

# --------------------------------------------------------------------------- events

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]


class EventBus(Protocol):
    """Publishes domain events after commit. In-process by default; NATS JetStream later.

    Handlers are isolated: a failing handler is retried and logged, never re-raised into
    the publisher."""

    def subscribe(self, event_type: type[Event], handler: Handler) -> None: ...

    async def publish(self, event: Event) -> None: ...

    async def drain(self) -> None:
        """Wait until every published event has been handled (tests, shutdown)."""
        ...


# --------------------------------------------------------------------------- crypto


class KeyCrypto(Protocol):
    """Envelope encryption with per-person data keys wrapped by a master key."""

    def new_wrapped_key(self) -> tuple[bytes, str]:
        """A fresh data key, returned wrapped, with the id of the master key that wraps it."""
        ...

    def seal(self, person_id: str, wrapped_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes: ...

    def open(self, person_id: str, wrapped_key: bytes, sealed: bytes, *, aad: bytes) -> bytes: ...

    def forget(self, person_id: str) -> None:
        """Drop any cached unwrapped key of this person."""
        ...


class Signer(Protocol):
    """The platform's signing key (Ed25519): audit tree heads and consent receipts."""

    @property
    def key_id(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...

    def verify(self, key_id: str, data: bytes, signature: bytes) -> bool: ...

    def jwks(self) -> dict[str, Any]: ...


class KeyStore(Protocol):
    """Per-person wrapped data keys, kept outside the main database (see ADR 0008)."""

    async def put(self, person_id: str, wrapped_key: bytes, master_key_id: str, at: datetime) -> None: ...

    async def get(self, person_id: str) -> bytes | None:
        """The wrapped key, or None if the person has none or it was destroyed."""
        ...

    async def destroy(self, person_id: str) -> bool: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, hashed: str, password: str) -> bool: ...


class SignatureVerifier(Protocol):
    """Standard Webhooks verification on the raw body, with several secrets for rotation."""

    def verify(self, secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> None:
        """Raise `ledgerlink.domain.errors.Unauthorized` with a specific code on failure:
        missing_signature_headers, stale_timestamp, bad_signature."""
        ...


# --------------------------------------------------------------------------- banks


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


# --------------------------------------------------------------------------- stored records
# Rows as the database holds them: sensitive fields are sealed bytes. Only the access
# functions in `ledgerlink.services.access` open them.


@dataclass(slots=True)
class PersonRecord:
    id: str
    handle: str
    display_name: str
    password_hash: str
    created_at: datetime
    erased_at: datetime | None = None
    disclosure: str = "full"


@dataclass(slots=True)
class PartnerRecord:
    id: str
    slug: str
    name: str
    kind: str
    webhook_secrets: list[str]
    created_at: datetime
    api_key_hash: str | None = None
    issuer: str | None = None  # the bank's issuer URL (the `iss` of what it signs)
    jwks: dict[str, Any] | None = None  # the bank's public signing keys (docs/bank-dialogue.md)


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
class ThreadRecord:
    id: str
    person_id: str
    kind: str
    title: str
    partner_id: str | None
    link_id: str | None
    created_at: datetime
    last_rev: int
    last_seq: int


@dataclass(slots=True)
class MessageRecord:
    id: str
    thread_id: str
    person_id: str
    seq: int
    rev: int
    kind: str
    subject_key: str | None
    sealed: bytes  # JSON card body
    created_at: datetime
    edited_at: datetime | None


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


@dataclass(slots=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    person_id: str
    purpose: str
    action: str
    subject: str  # e.g. "transactions:3" or "account:acc_..." (ids only, never values)
    leaf_hash: str  # hex RFC 6962 leaf hash of the entry


# --------------------------------------------------------------------------- repositories


class PersonRepository(Protocol):
    async def add(self, person: PersonRecord) -> None: ...
    async def get(self, person_id: str) -> PersonRecord | None: ...
    async def by_handle(self, handle: str) -> PersonRecord | None: ...
    async def set_disclosure(self, person_id: str, level: str) -> None: ...
    async def erase(self, person_id: str, at: datetime) -> dict[str, int]:
        """Delete everything held about the person and scrub their account row, keeping only
        the opaque id (the audit log refers to it). Returns rows deleted per table."""
        ...


class PartnerRepository(Protocol):
    async def upsert(self, partner: PartnerRecord) -> None: ...
    async def get(self, partner_id: str) -> PartnerRecord | None: ...
    async def by_slug(self, slug: str) -> PartnerRecord | None: ...
    async def by_api_key_hash(self, api_key_hash: str) -> PartnerRecord | None: ...
    async def set_api_key_hash(self, partner_id: str, api_key_hash: str | None) -> None: ...
    async def all(self) -> list[PartnerRecord]: ...


class LinkRepository(Protocol):
    async def add(self, link: LinkRecord) -> None: ...
    async def get(self, link_id: str) -> LinkRecord | None: ...
    async def by_state(self, state: str) -> LinkRecord | None: ...
    async def by_consent(self, partner_id: str, bank_consent_id: str) -> LinkRecord | None: ...
    async def for_person(self, person_id: str) -> list[LinkRecord]: ...
    async def update(self, link: LinkRecord) -> None: ...
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


class TransactionRepository(Protocol):
    async def add(self, txn: TransactionRecord) -> None: ...
    async def find(self, account_id: str, source_keys: Sequence[str]) -> TransactionRecord | None:
        """The row whose source_key or pending_source_key is any of `source_keys`."""
        ...

    async def get(self, txn_id: str) -> TransactionRecord | None: ...
    async def for_account(self, account_id: str, *, limit: int = 50) -> list[TransactionRecord]: ...
    async def for_account_between(
        self, account_id: str, start: date, end: date, *, limit: int = 1000
    ) -> list[TransactionRecord]:
        """Booked in [start, end] inclusive; a row without booking_date (pending) by its
        created_at date (UTC). Newest first."""
        ...

    async def update(self, txn: TransactionRecord) -> None: ...


class ThreadRepository(Protocol):
    async def add(self, thread: ThreadRecord) -> None: ...
    async def get(self, thread_id: str) -> ThreadRecord | None: ...
    async def for_person(self, person_id: str) -> list[ThreadRecord]: ...
    async def system_thread(self, person_id: str) -> ThreadRecord | None: ...
    async def for_link(self, link_id: str) -> ThreadRecord | None: ...
    async def lock(self, thread_id: str) -> ThreadRecord | None:
        """Read the thread and hold its row lock until the end of the unit of work, so
        deliveries into one thread are serialised and converge to the latest state."""
        ...

    async def bump(self, thread_id: str, *, new_message: bool) -> tuple[int, int]:
        """Atomically advance the thread's revision (and sequence for a new message);
        returns (seq or current last_seq, rev)."""
        ...

    async def add_message(self, message: MessageRecord) -> None: ...
    async def update_message(self, message: MessageRecord) -> None: ...
    async def message_by_subject(self, thread_id: str, subject_key: str) -> MessageRecord | None: ...
    async def messages_since(
        self, thread_id: str, after_rev: int, *, limit: int = 500
    ) -> list[MessageRecord]: ...
    async def latest_messages(self, thread_id: str, *, limit: int = 100) -> list[MessageRecord]: ...


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


class AuditRepository(Protocol):
    async def append(
        self, *, at: datetime, actor: str, person_id: str, purpose: str, action: str, subject: str
    ) -> None:
        """Record one access; written at the latest when the unit of work commits."""
        ...

    async def flush(self) -> None: ...
    async def for_person(self, person_id: str, *, limit: int = 100) -> list[AuditRecord]:
        """The person's entries, newest first."""
        ...

    async def all(self) -> list[AuditRecord]: ...
    async def size(self) -> int:
        """The tree size: the highest leaf index + 1 (0 when empty)."""
        ...

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Stored leaf hashes of the entries with start <= seq < end, in order (gaps skipped)."""
        ...

    async def entries(self, start: int, end: int) -> list[AuditRecord]:
        """The entries with start <= seq < end, in order (gaps skipped)."""
        ...


class TreeHeadRepository(Protocol):
    """Signed tree heads of the audit log (owner: the audit feature)."""

    async def add(self, head: TreeHead) -> bool:
        """Store a signed head; False (nothing written) if one of that size exists."""
        ...

    async def latest(self) -> TreeHead | None: ...
    async def get(self, tree_size: int) -> TreeHead | None: ...
    async def all(self) -> list[TreeHead]:
        """Every stored head, smallest tree first."""
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
        """The claims, or `ledgerlink.services.receipts.ReceiptInvalid` with a specific code:
        receipt_malformed, receipt_unknown_key, receipt_bad_signature, receipt_expired."""
        ...


@dataclass(slots=True)
class DpBudgetRecord:
    partner_id: str
    epsilon_limit_micro: int  # epsilon x 1e6 per period
    period: str  # "month"


@dataclass(slots=True)
class DpSpendRecord:
    id: str
    partner_id: str
    period_key: str  # e.g. "2026-11"
    query: str  # query kind and parameters, never data
    epsilon_micro: int
    at: datetime


class DpLedgerRepository(Protocol):
    """Differential-privacy budgets and spend (owner: the aggregates feature)."""

    async def set_budget(self, budget: DpBudgetRecord) -> None: ...

    async def budget(self, partner_id: str) -> DpBudgetRecord | None: ...

    async def lock_budget(self, partner_id: str) -> DpBudgetRecord | None:
        """Read the budget and hold its row lock until the end of the unit of work
        (PostgreSQL `FOR UPDATE`; SQLite units of work are serialised already), so two
        queries of one partner cannot both spend the last of it."""
        ...

    async def spent_micro(self, partner_id: str, period_key: str) -> int: ...

    async def record_spend(self, spend: DpSpendRecord) -> None: ...

    async def spending_rows(
        self, partner_id: str, *, currency: str, start: date, end: date, at: datetime
    ) -> list[TransactionRecord]:
        """Posted transactions in `currency` booked in [start, end) on accounts whose link *to this partner*
        is active and unexpired at `at`, of persons not erased: the only rows a partner's
        aggregate may use."""
        ...


@dataclass(frozen=True, slots=True)
class ContributionBounds:
    """What one person may add to a release: at most `max_per_cell` (integer minor units)
    to each of at most `max_cells` cells."""

    max_per_cell: int
    max_cells: int


@dataclass(frozen=True, slots=True)
class DpRelease:
    """Noisy, non-negative sums and counts per cell, and the privacy loss they cost."""

    sums: dict[str, int]
    counts: dict[str, int]
    epsilon: float  # certified by the mechanism's privacy map; never above the requested epsilon
    sum_scale: float
    count_scale: float
    mechanism: str


class DpMechanism(Protocol):
    """Differentially private release of per-cell sums and counts (adapter: OpenDP)."""

    def release_sums_and_counts(
        self,
        contributions: Mapping[str, Mapping[str, int]],
        *,
        cells: Sequence[str],
        bounds: ContributionBounds,
        epsilon: float,
    ) -> DpRelease:
        """`contributions`: per person, per cell, non-negative integer amounts. The mechanism
        enforces `bounds` itself (clamp, keep each person's `max_cells` largest cells) and
        ignores cells outside `cells`, so the noise always matches the sensitivity. The
        release is `epsilon`-DP with respect to adding or removing one person."""
        ...


class RetentionRepository(Protocol):
    """Bounded deletes of expired rows; each returns the number of rows deleted (<= limit)."""

    async def purge_inbox(self, *, processed_before: datetime, limit: int) -> int: ...
    async def purge_messages(self, *, before: datetime, limit: int) -> int: ...
    async def purge_transactions(self, *, before: datetime, limit: int) -> int: ...
    async def purge_abandoned_links(self, *, before: datetime, limit: int) -> int: ...
    async def purge_bank_dialogue(self, *, before: datetime, limit: int) -> int:
        """Closed fraud prompts, finished requests to banks and the ids of bank messages,
        older than the cutoff (their messages follow the messages' own limit)."""
        ...

    async def purge_digests(self, *, before: datetime, limit: int) -> int:
        """Alerts held for quiet hours and released before the cutoff (their text went into a
        digest or "while you were away" message), and records of digests sent before it.
        Alerts still held are kept."""
        ...


@dataclass(slots=True)
class IdempotencyRecord:
    partner_id: str
    key: str
    request_hash: str
    status: int  # 0 while the first request is in progress
    response: str | None
    created_at: datetime


class IdempotencyRepository(Protocol):
    async def claim(self, record: IdempotencyRecord) -> bool:
        """Insert the in-progress row; False (nothing written) if the key is already there."""
        ...
    async def get(self, partner_id: str, key: str) -> IdempotencyRecord | None: ...
    async def complete(self, partner_id: str, key: str, *, status: int, response: str) -> None: ...
    async def release(self, partner_id: str, key: str) -> None: ...


@dataclass(slots=True)
class AlertRuleRecord:
    id: str
    person_id: str
    kind: str  # low_balance, large_purchase, deposit, fee, mute_merchant, quiet_hours, state
    account_id: str | None  # None: every account
    sealed: bytes  # JSON parameters (thresholds, merchant names, hours)
    enabled: int
    created_at: datetime
    updated_at: datetime


class AlertRuleRepository(Protocol):
    """Alert rules (owner: the alerts feature)."""

    async def add(self, rule: AlertRuleRecord) -> None: ...
    async def update(self, rule: AlertRuleRecord) -> None: ...
    async def delete(self, person_id: str, rule_id: str) -> bool:
        """Delete one of the person's rules; False when they have no such rule."""
        ...
    async def for_person(self, person_id: str) -> list[AlertRuleRecord]: ...


@dataclass(slots=True)
class ChannelRecord:
    id: str
    person_id: str
    kind: str  # webhook | email
    sealed: bytes  # JSON config: {url, secret} or {address}
    status: str  # active | disabled
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None


@dataclass(slots=True)
class ChannelDeliveryRecord:
    id: str
    channel_id: str
    person_id: str
    message_id: str
    rev: int
    status: str  # pending | delivered | failed | gave_up
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    thread_id: str | None = None  # read with the row (from its message), never stored


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message revision as a channel sends it: ids and the preview text only."""

    delivery_id: str  # stable across retries: the receiver's idempotency key
    type: str  # message.created | message.updated
    thread_id: str
    message_id: str
    seq: int
    rev: int
    kind: str
    text: str  # already cut to the person's disclosure level
    thread_url: str
    at: datetime
    # Matrix channel (ADR 0012): what a chat channel needs besides the preview text.
    channel_id: str = ""
    person_id: str = ""
    thread_title: str = ""  # the room's name: "Sandbox Bank", "Ledgerlink"
    author: str = ""  # the card's "from": person | bank | "" (ledgerlink)
    verified: bool = False  # a bank message whose signature was checked
    quick_replies: tuple[tuple[str, str], ...] = ()  # (reply id, label), while the prompt is open
    prompt_status: str | None = None  # open | answered | expired, for prompt cards


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: str  # delivered | retry | gone | failed | superseded
    retry_after: float | None = None  # seconds the receiver asked us to wait (retry only)
    status_code: int | None = None
    error: str | None = None

    @classmethod
    def delivered(cls, status_code: int | None = None) -> SendResult:
        return cls("delivered", status_code=status_code)

    @classmethod
    def retry(cls, after: float | None = None, *, status_code: int | None = None,
              error: str | None = None) -> SendResult:
        return cls("retry", retry_after=after, status_code=status_code, error=error)

    @classmethod
    def gone(cls, status_code: int | None = None) -> SendResult:
        return cls("gone", status_code=status_code, error="gone")

    @classmethod
    def failed(cls, *, status_code: int | None = None, error: str | None = None) -> SendResult:
        return cls("failed", status_code=status_code, error=error)

    @classmethod
    def superseded(cls) -> SendResult:
        """Not sent: the message was edited again before this revision went out."""
        return cls("superseded")

    @classmethod
    def skipped(cls, reason: str) -> SendResult:
        """Not sent, on purpose: e.g. the person's own words are not echoed to Matrix."""
        return cls("skipped", error=reason)


class Channel(Protocol):
    """One outside channel (webhook, email). Never raises for a delivery problem: the
    result says whether to retry."""

    async def send(self, *, config: dict[str, Any], message: OutboundMessage) -> SendResult: ...


@runtime_checkable
class RoomChannel(Protocol):
    """A channel that opens rooms on the far side (Matrix): when the channel goes, it closes
    them (best effort; returns how many it left)."""

    async def close_rooms(self, rooms: Sequence[str]) -> int: ...


class ChannelRepository(Protocol):
    """Channels beyond the web messenger and their delivery rows (owner: the channels feature)."""

    async def add(self, channel: ChannelRecord) -> None: ...
    async def get(self, channel_id: str) -> ChannelRecord | None: ...
    async def for_person(self, person_id: str) -> list[ChannelRecord]: ...
    async def disable(self, channel_id: str, *, reason: str, at: datetime) -> None: ...
    async def remove(self, channel_id: str) -> None:
        """Delete the channel and its delivery rows."""
        ...

    async def add_delivery(self, delivery: ChannelDeliveryRecord) -> bool:
        """Insert; False (nothing written) if (channel, message, rev) is already there."""
        ...

    async def pending(self, *, limit: int = 1000) -> list[ChannelDeliveryRecord]:
        """Pending rows of active channels with their thread id, by channel, then
        (created_at, rev)."""
        ...

    async def update_delivery(self, delivery: ChannelDeliveryRecord) -> None: ...
    async def recent_deliveries(self, channel_id: str, *, limit: int = 10) -> list[ChannelDeliveryRecord]:
        """Newest first."""
        ...


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as the person sees it: opened body, thread revision, edit state."""

    id: str
    thread_id: str
    seq: int
    rev: int
    kind: CardKind
    subject_key: str | None
    body: dict[str, Any]
    created_at: datetime
    edited_at: datetime | None


class LiveFeed(Protocol):
    """This process's live connections (the web messenger's hub). After a unit of work
    commits, the messages it wrote are handed over here, so they can be pushed without being
    read back. Process-local: nothing here is published or stored (ADR 0015)."""

    def written(self, fresh: Sequence[tuple[str, MessageView]]) -> None:
        """(person id, view) of each message written, in the order written."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Events collected during the work are published after commit;
    `fresh` (messages written, with their views) goes to the process's `LiveFeed`."""

    persons: PersonRepository
    partners: PartnerRepository
    links: LinkRepository
    accounts: AccountRepository
    transactions: TransactionRepository
    threads: ThreadRepository
    inbox: InboxRepository
    audit: AuditRepository
    tree_heads: TreeHeadRepository
    receipts: ReceiptRepository
    dp: DpLedgerRepository
    retention: RetentionRepository
    idempotency: IdempotencyRepository
    alert_rules: AlertRuleRepository
    channels: ChannelRepository
    prompts: PromptRepository  # bank dialogue
    bank_outbox: BankOutboxRepository  # bank dialogue
    bank_messages: BankMessageRepository  # bank dialogue
    reads: ThreadReadRepository  # read state
    digests: DigestRepository  # digests and held alerts
    matrix: MatrixRepository  # Matrix channel
    link_health: LinkHealthRepository  # connection health (message templates)
    events: list[Event]
    fresh: list[tuple[str, MessageView]]

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class InboxWriter(Protocol):
    """The durable group-commit insert of accepted bank events (ingest's hot path)."""

    async def add_many(self, records: Sequence[InboxRecord]) -> set[str]:
        """Insert, skipping ids already present; returns the ids inserted. Durable on return."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, priority: bool = False, readonly: bool = False) -> UnitOfWork:
        """A new unit of work. `priority` jumps the queue for the single writer (ingest);
        `readonly` work never waits for writers and must not write."""
        ...


# --------------------------------------------------------------------------- bank dialogue
# Fraud prompts, signed requests to banks and signed messages from them (docs/bank-dialogue.md).


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


# --------------------------------------------------------------------------- read state, digests


class ThreadReadRepository(Protocol):
    """How far the person has read each thread: ids and counters only (owner: read state)."""

    async def advance(self, person_id: str, thread_id: str, seq: int, *, at: datetime) -> int | None:
        """Raise the thread's last read seq to `seq`, never lower it (atomic, also between
        processes). The new value, or None when it was already at or past `seq`."""
        ...

    async def last_read(self, person_id: str, thread_id: str) -> int:
        """The last read seq of the thread (0 when never opened)."""
        ...

    async def for_person(self, person_id: str) -> dict[str, int]:
        """Thread id -> last read seq, for the threads the person has opened."""
        ...


@dataclass(slots=True)
class DigestSettingsRecord:
    person_id: str
    sealed: bytes  # JSON: frequency, hour, weekday, utc_offset
    next_due_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class HeldAlertRecord:
    id: str
    person_id: str
    thread_id: str
    subject_key: str
    sealed: bytes | None  # JSON: kind, text; None once released
    held_at: datetime
    release_after: datetime  # the end of the quiet hours it was held in
    released_at: datetime | None = None
    released_in: str | None = None


class DigestRepository(Protocol):
    """Digest settings, the periods sent, and alerts held during quiet hours (owner: digests)."""

    async def settings(self, person_id: str) -> DigestSettingsRecord | None: ...
    async def put_settings(self, record: DigestSettingsRecord) -> None:
        """Insert or replace the person's settings."""
        ...

    async def delete_settings(self, person_id: str) -> bool: ...
    async def set_next_due(self, person_id: str, at: datetime) -> None: ...
    async def due(self, now: datetime, *, limit: int = 500) -> list[str]:
        """Persons whose next digest is due at `now`."""
        ...

    async def claim_period(self, *, digest_id: str, person_id: str, period_key: str, at: datetime) -> bool:
        """Record that the period's digest is being sent; False (nothing written) when it was
        already. On PostgreSQL a concurrent claim of the same period waits for the first to
        commit or roll back."""
        ...

    async def hold(self, record: HeldAlertRecord) -> bool:
        """Store a held alert; False (nothing written) if its subject is held already."""
        ...

    async def is_held(self, thread_id: str, subject_key: str) -> bool: ...
    async def held_pending(
        self, person_id: str, *, held_before: datetime, release_due: datetime | None = None
    ) -> list[HeldAlertRecord]:
        """The person's unreleased held alerts held before `held_before` (and, with
        `release_due`, whose quiet hours ended by then), oldest first."""
        ...

    async def release(self, ids: Sequence[str], *, at: datetime, released_in: str) -> set[str]:
        """Mark released (and drop their sealed text) the rows of `ids` not released yet;
        returns the ids this call released, so two processes never release one twice."""
        ...

    async def away_due(self, now: datetime, *, limit: int = 500) -> list[str]:
        """Persons without digest settings who have held alerts whose quiet hours ended."""
        ...


# --------------------------------------------------------------------------- Matrix channel
# A bot account on a Matrix homeserver (ADR 0012). The client port is the only way services
# reach Matrix; the adapter (matrix-nio) lives in adapters/channels/matrix.py.


class MatrixError(Exception):
    """A homeserver problem. `retryable`: unreachable, 5xx, rate limited (with the wait the
    server asked for); else refused (4xx). `code` is the Matrix errcode or the error's kind,
    never anything the person wrote."""

    def __init__(self, code: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


@dataclass(frozen=True, slots=True)
class MatrixInboundEvent:
    """A timeline event of a room the bot is in: `content` is the raw event content."""

    room_id: str
    event_id: str
    sender: str
    type: str  # m.room.message | m.reaction | ...
    content: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MatrixSyncBatch:
    next_batch: str
    events: list[MatrixInboundEvent]


class MatrixClient(Protocol):
    """The bot's side of the client-server API. Every method raises `MatrixError`."""

    @property
    def user_id(self) -> str: ...

    async def create_direct_room(self, *, name: str, invite: str) -> str:
        """A new private direct room named `name` with `invite` invited; its room id."""
        ...

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], *, txn_id: str) -> str:
        """Send an event; the same `txn_id` again returns the first event's id (the homeserver
        dedupes it), so a retry after a crash never posts twice."""
        ...

    async def sync(self, *, since: str | None, timeout_ms: int) -> MatrixSyncBatch:
        """Timeline events (messages, reactions) of joined rooms after `since`, oldest first."""
        ...

    async def leave(self, room_id: str) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MatrixRoomRecord:
    room_id: str
    channel_id: str
    person_id: str
    thread_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MatrixEventRecord:
    """The first Matrix event of a message in a channel: later revisions edit it."""

    channel_id: str
    message_id: str
    person_id: str
    room_id: str
    event_id: str
    delivery_id: str
    created_at: datetime


class MatrixRepository(Protocol):
    async def room_for(self, channel_id: str, thread_id: str) -> MatrixRoomRecord | None: ...
    async def room(self, room_id: str) -> MatrixRoomRecord | None: ...
    async def rooms_of_person(self, person_id: str) -> list[MatrixRoomRecord]: ...
    async def add_room(self, room: MatrixRoomRecord) -> None: ...
    async def first_event(self, channel_id: str, message_id: str) -> MatrixEventRecord | None: ...
    async def event_by_id(self, room_id: str, event_id: str) -> MatrixEventRecord | None: ...
    async def add_event(self, event: MatrixEventRecord) -> None: ...
    async def handled(self, event_id: str) -> bool:
        """Whether this inbound event was handled already."""
        ...

    async def mark_handled(self, event_id: str, *, person_id: str, room_id: str, at: datetime) -> bool:
        """Record an inbound event as handled; False (nothing written) if it was already."""
        ...

    async def sync_token(self, user_id: str) -> str | None: ...
    async def save_sync_token(self, user_id: str, token: str, *, at: datetime) -> None: ...


# --------------------------------------------------------------------------- connection health
# Whether a link's syncs are failing, and the "needs your attention" episode (message templates).


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
