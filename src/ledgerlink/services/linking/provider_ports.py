"""Bank-data providers (SimpleFIN Bridge, Enable Banking, GoCardless Bank Account Data), seen
from the platform: the `ProviderConnector` port, its records and its typed errors.

A provider is not an OAuth bank: SimpleFIN links by a setup token the person pastes, Enable
Banking and GoCardless by a redirect to the bank and back. What all three share is here:

- `start_link` gives a `LinkStart`: where to send the person (the bank's login, or the page
  that hands out SimpleFIN setup tokens) and a `pending` blob the caller keeps, sealed, until
  the person comes back;
- `finish_link` turns that blob and what came back (the callback's query parameters, or
  ``{"setup_token": ...}``) into a `ProviderLink`: a `credential` blob for the caller to seal
  (the only thing later calls need), the consent's validity and the accounts;
- `accounts`, `balance`, `transactions` (booked and pending since a date) and `revoke`.

**Ids.** `ProviderAccount.account_id` and every `BankTransaction.bank_transaction_id` are
stable across refreshes *and* re-consents, so the same bank transaction is one row whatever
the path (docs/providers.md "Ids" says which provider field keys each). None of the three
providers links a pending entry to the posted one: posted entries come with their own id and
`pending_transaction_id` None; the pending one simply stops being reported.

**Errors.** Every failure is one of the classes below (all `BankError`s), with a stable code
and a message that never holds a credential, token, access URL or account number.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from ledgerlink.domain.banking import AccountType, BankTransaction, Scope
from ledgerlink.domain.money import Money
from ledgerlink.services.linking.ports import BankAuthError, BankError, BankRefused, BankUnavailable

__all__ = [
    "ATTENDED_PSU",
    "REFRESH_GROUP",
    "REFRESH_QUOTAS",
    "Institution",
    "LinkKind",
    "LinkStart",
    "ProviderAccount",
    "ProviderBadResponse",
    "ProviderBalance",
    "ProviderConnector",
    "ProviderConsentExpired",
    "ProviderError",
    "ProviderLink",
    "ProviderNotice",
    "ProviderQuota",
    "ProviderRateLimited",
    "ProviderRefused",
    "ProviderTransactions",
    "ProviderUnavailable",
    "PsuPresence",
    "SetupTokenRejected",
    "note_quota",
    "provider_of",
]


# ---------------------------------------------------------------------------------- errors


class ProviderError(BankError):
    """Base of every provider failure."""

    code = "provider_error"
    status = 502


class ProviderUnavailable(ProviderError, BankUnavailable):
    """The provider (or the bank behind it) cannot be reached or failed (5xx): retry later."""

    code = "provider_unavailable"


class ProviderRateLimited(ProviderError, BankUnavailable):
    """A 429: the provider's budget for this account (or application) is spent. Nothing was
    read. `retry_after`: whole seconds until a retry can work (the larger of Retry-After and
    the provider's own reset figure); `remaining`: what the provider says is left, if it says."""

    code = "provider_rate_limited"
    status = 429

    def __init__(self, detail: str, *, retry_after: int, remaining: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(1, int(retry_after))
        self.remaining = remaining


class ProviderConsentExpired(ProviderError, BankAuthError):
    """The consent (Enable Banking session, GoCardless end-user agreement, SimpleFIN access)
    has expired or was revoked or closed: only a new consent by the person helps."""

    code = "provider_consent_expired"
    status = 400


class ProviderRefused(ProviderError, BankRefused):
    """A final refusal: the request as sent will not work again. `code` is the provider's own
    code where it gives one (sanitised: letters, digits, ``._-``, at most 48 characters)."""

    code = "provider_refused"


class SetupTokenRejected(ProviderRefused):
    """SimpleFIN answered 403 to the claim: the setup token does not exist or was claimed
    already, by us or by someone else. The person must be told it may be compromised and be
    asked to disable it at the Bridge and make a new one."""

    code = "setup_token_rejected"


class ProviderBadResponse(ProviderError):
    """The provider answered something we cannot read (not JSON, missing or malformed fields,
    amounts that are not decimal strings in an ISO 4217 currency). `detail` names the field."""

    code = "provider_bad_response"


# ---------------------------------------------------------------------------------- records


class LinkKind(enum.StrEnum):
    REDIRECT = "redirect"  # send the person to `LinkStart.redirect_url`, wait for the callback
    SETUP_TOKEN = "setup_token"  # the person pastes a token obtained at `redirect_url`


@dataclass(frozen=True, slots=True)
class Institution:
    """A bank the provider reaches (Enable Banking ASPSP, GoCardless institution)."""

    id: str  # what `start_link(institution_id=...)` takes
    name: str
    country: str | None  # ISO 3166-1 alpha-2
    max_consent_days: int | None  # the longest consent this bank grants, if the provider says


@dataclass(frozen=True, slots=True)
class LinkStart:
    kind: LinkKind
    redirect_url: str  # never holds a secret; safe to show and to send the person to
    pending: bytes = field(repr=False)  # keep (sealed) until finish_link; opaque JSON
    expires_at: datetime | None  # after this the person must start again


@dataclass(frozen=True, slots=True)
class ProviderAccount:
    account_id: str  # stable across refreshes and re-consents (never an account number)
    name: str
    type: AccountType
    currency: str  # ISO 4217
    last4: str  # last four characters of the account number, "" when the provider gives none
    institution: str | None  # display name of the bank, if known


@dataclass(frozen=True, slots=True)
class ProviderNotice:
    """Something the provider asks us to show the person (SimpleFIN's errlist), sanitised."""

    code: str  # e.g. "gen.", "con.auth", "act.missingdata", "quota"
    message: str  # display text, at most 300 characters
    account_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderLink:
    credential: bytes = field(repr=False)  # seal it; every later call takes it back
    valid_until: datetime | None  # the consent's end (None: until revoked, e.g. SimpleFIN)
    accounts: tuple[ProviderAccount, ...]
    scopes: tuple[Scope, ...]
    notices: tuple[ProviderNotice, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderBalance:
    account_id: str
    current: Money
    available: Money | None
    as_of: datetime


@dataclass(frozen=True, slots=True)
class ProviderQuota:
    """What the provider reported about its budget for this account and scope."""

    remaining: int | None
    limit: int | None
    reset_after: int | None  # seconds


@dataclass(frozen=True, slots=True)
class ProviderTransactions:
    account_id: str
    booked: tuple[BankTransaction, ...]
    pending: tuple[BankTransaction, ...]
    balance: ProviderBalance | None = None  # when the same answer carried it (SimpleFIN)
    quota: ProviderQuota | None = None
    notices: tuple[ProviderNotice, ...] = ()


@dataclass(frozen=True, slots=True)
class PsuPresence:
    """The person is present (an attended refresh). Enable Banking forwards these as PSU
    headers, which PSD2 banks do not count against the 4 unattended reads a day."""

    ip_address: str
    user_agent: str


class ProviderConnector(Protocol):
    """One provider, seen from the platform. HTTP adapters take an injected httpx client."""

    @property
    def provider(self) -> str:
        """"simplefin" | "enablebanking" | "gocardless"."""
        ...

    @property
    def link_kind(self) -> LinkKind: ...

    async def institutions(self, *, country: str) -> list[Institution]:
        """Banks in a country (ISO 3166-1 alpha-2); SimpleFIN: [] (chosen at the Bridge)."""
        ...

    async def start_link(self, *, state: str, redirect_url: str, institution_id: str | None,
                         scopes: Sequence[Scope], valid_for: timedelta) -> LinkStart: ...

    async def finish_link(self, *, pending: bytes, answer: Mapping[str, str]) -> ProviderLink:
        """`answer`: the callback's query parameters (redirect), or {"setup_token": ...}.
        Raises SetupTokenRejected, ProviderRefused (the person declined: code
        "consent_declined"), ProviderConsentExpired, ProviderUnavailable..."""
        ...

    async def accounts(self, *, credential: bytes) -> list[ProviderAccount]: ...

    async def balance(self, *, credential: bytes, account_id: str,
                      psu: PsuPresence | None = None) -> ProviderBalance: ...

    async def transactions(self, *, credential: bytes, account_id: str, since: date,
                           psu: PsuPresence | None = None) -> ProviderTransactions:
        """Booked and pending transactions from `since` (a bank day) on, every page read."""
        ...

    async def transactions_many(self, *, credential: bytes, account_ids: Sequence[str], since: date,
                                psu: PsuPresence | None = None
                                ) -> dict[str, ProviderTransactions | ProviderError]:
        """`transactions` for several accounts of one credential: per account its page, or the
        error only that account got (its own limit, a refusal, a malformed answer). SimpleFIN
        answers all in one request (one of its ~24 a day); the others read account by account,
        each read counting against that account's budget. What concerns the whole credential
        (consent ended, SimpleFIN's quota, provider unreachable) is raised."""
        ...

    async def revoke(self, *, credential: bytes) -> None:
        """End the consent at the provider (idempotent: an already ended one is fine)."""
        ...


# Set while the person is present and asked for a refresh (an attended one): the connector then
# forwards it (Enable Banking PSU headers), so PSD2 banks do not count the read as unattended.
ATTENDED_PSU: ContextVar[PsuPresence | None] = ContextVar("attended_psu", default=None)

# The provider account ids one refresh covers (a SimpleFIN token: one request answers them all).
REFRESH_GROUP: ContextVar[tuple[str, ...]] = ContextVar("refresh_group", default=())

# Set by the refresh worker around one refresh: what the provider's answers said remains of its
# budget, by scope (GoCardless' HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_* headers), in answer order.
REFRESH_QUOTAS: ContextVar[list[tuple[str, ProviderQuota]] | None] = ContextVar("refresh_quotas",
                                                                                  default=None)


def note_quota(scope: str, quota: ProviderQuota | None) -> None:
    """A connector reports a scope's quota from an answer; kept only inside a budgeted refresh."""
    noted = REFRESH_QUOTAS.get()
    if noted is not None and quota is not None:
        noted.append((scope, quota))


def provider_of(connector: object) -> ProviderConnector | None:
    """The provider behind a bank connector (`adapters/banks/provider_bank.py`), or None for an
    OAuth bank."""
    found = getattr(connector, "provider_connector", None)
    return found if found is not None and hasattr(found, "finish_link") else None
