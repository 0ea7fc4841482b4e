"""Linking a shop (issue 11, ADR 0031): the consent record, the shop's OAuth and orders API as a
Protocol, and the repository. Vocabulary only, no logic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ledgerlink.domain.errors import DomainError
from ledgerlink.services.receipts.ports import MerchantLinkRecord

SHOP_SCOPES = ("orders", "shipments")


@dataclass(frozen=True, slots=True)
class MerchantConsentRecord:
    """One consent of a person to one shop: pending while the person is at the shop, then
    active until it ends (revoked by either side, expired, or renewed by a newer one).
    `sealed` (the person's key) holds the PKCE verifier while pending, then the tokens.
    `link_id` names the `merchant_links` row (the shop's customer id) once active."""

    id: str
    person_id: str
    merchant_slug: str
    status: str  # pending | exchanging | active | revoked | expired | failed | renewed
    state: str | None  # the OAuth `state` (kept: a replayed callback is recognised)
    scopes: str  # space-separated
    sealed: bytes | None
    link_id: str | None
    renews: str | None  # the consent this one replaces when it completes
    expires_at: datetime | None
    cursor: str | None  # the shop's orders feed cursor (opaque, the shop's HMAC)
    synced_at: datetime | None
    receipt_jws: str | None  # the signed consent receipt
    ended_by: str | None  # person | shop | expiry
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ShopAuthorization:
    url: str
    state: str
    code_verifier: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ShopTokens:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None
    scopes: tuple[str, ...]
    customer_id: str
    grant_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class OrdersPage:
    orders: list[dict[str, Any]]  # {"id", "version", "type", "data": the event's data}
    next_cursor: str
    has_more: bool


class ShopError(DomainError):
    """The shop refused or could not be reached; `code` says which (never a token)."""

    code = "shop_error"
    status = 502


class ShopAuthError(ShopError):
    """The shop no longer accepts the link's tokens (revoked or expired there)."""

    code = "shop_auth_failed"


class ShopApi(Protocol):
    """A linked shop: OAuth 2 code flow with PKCE S256, RFC 7009 revocation, `GET /orders`."""

    def authorization_request(self, *, redirect_uri: str, scopes: Sequence[str],
                              state: str) -> ShopAuthorization: ...
    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> ShopTokens: ...
    async def refresh(self, *, refresh_token: str) -> ShopTokens: ...
    async def revoke(self, *, token: str) -> None: ...
    async def orders(self, *, access_token: str, cursor: str | None, limit: int) -> OrdersPage:
        """One page; ShopAuthError when the token is refused, ShopError (code `bad_cursor` ...)
        otherwise."""
        ...


class MerchantConsentRepository(Protocol):
    async def add(self, record: MerchantConsentRecord) -> None: ...
    async def put(self, record: MerchantConsentRecord) -> None: ...
    async def get(self, consent_id: str) -> MerchantConsentRecord | None: ...
    async def claim(self, consent_id: str, *, at: datetime) -> bool:
        """pending -> exchanging, for one callback only: False when it was no longer pending."""
        ...
    async def by_state(self, state: str) -> MerchantConsentRecord | None: ...
    async def for_link(self, link_id: str) -> MerchantConsentRecord | None:
        """The link's newest consent that completed (active or ended), None for a link made
        before OAuth linking (ADR 0031)."""
        ...
    async def of_person(self, person_id: str) -> list[MerchantConsentRecord]: ...
    async def active(self, limit: int) -> list[MerchantConsentRecord]:
        """Active consents, least recently synced first."""
        ...
    async def link(self, link_id: str) -> MerchantLinkRecord | None:
        """The `merchant_links` row a consent names."""
        ...
    async def applied_version(self, merchant_slug: str, order_ref: str) -> int | None: ...
    async def set_version(self, merchant_slug: str, order_ref: str, person_id: str, version: int,
                          at: datetime) -> None: ...
