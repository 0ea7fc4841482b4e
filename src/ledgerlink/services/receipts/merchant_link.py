"""Linking a shop as a bank is linked (issue 11, ADR 0031): OAuth 2 authorization code with PKCE
S256 at the shop, scopes `orders` and `shipments`, a signed consent receipt with the purposes
(never advertising, profiling or sale), expiry and renewal, and revoke from either side (the
person here; the shop by a signed `link.revoked` event, `Receipts.receive`).

Network calls to the shop happen between units of work, never inside one. The tokens and the
PKCE verifier are sealed with the person's key (`access/merchant_links.py`)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from ledgerlink.domain.errors import Conflict, DomainError, NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access.merchant_links import open_consent_secrets, seal_consent_secrets
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.consent_receipts import USES_PROHIBITED
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text
from ledgerlink.services.receipts.merchant_consent import end_consent
from ledgerlink.services.receipts.merchant_link_ports import (
    SHOP_SCOPES,
    MerchantConsentRecord,
    ShopApi,
    ShopError,
    ShopTokens,
)
from ledgerlink.services.receipts.ports import MerchantLinkRecord

__all__ = ["FLOW_TTL", "MERCHANT_PURPOSES", "MerchantLinkError", "MerchantLinks", "receipt_claims"]

log = structlog.get_logger(__name__)

FLOW_TTL = timedelta(minutes=15)
RENEW_WITHIN = timedelta(days=7)
# What a shop's orders and parcels are read for: shown to the person, answered, exported, erased.
MERCHANT_PURPOSES = (
    Purpose.DELIVER_UPDATE,
    Purpose.SHOW_TO_PERSON,
    Purpose.ANSWER_QUESTION,
    Purpose.PERSON_EXPORT,
    Purpose.PERSON_ERASURE,
)


class MerchantLinkError(DomainError):
    code = "shop_link_failed"
    status = 400


def receipt_claims(
    *, receipt_id: str, issuer: str, consent: MerchantConsentRecord, shop: str, issued_at: datetime
) -> dict[str, Any]:
    """The consent receipt's claims (pure): no token, no customer id, no order."""
    if consent.expires_at is None:
        raise ValueError("a receipt needs the consent's expiry")
    return {
        "version": 1,
        "kind": "merchant_link",
        "jti": receipt_id,
        "iss": issuer.rstrip("/"),
        "sub": consent.person_id,
        "iat": int(issued_at.timestamp()),
        "exp": int(consent.expires_at.timestamp()),
        "consent_id": consent.id,
        "merchant": {"slug": consent.merchant_slug, "name": shop},
        "scopes": consent.scopes.split(),
        "purposes_allowed": [p.value for p in MERCHANT_PURPOSES],
        "uses_prohibited": list(USES_PROHIBITED),
    }


class MerchantLinks:
    def __init__(
        self,
        deps: Deps,
        shops: Mapping[str, ShopApi],
        names: Mapping[str, str],
        *,
        after_link: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self._deps, self._shops, self._names = deps, dict(shops), dict(names)
        self._after_link = after_link  # the first sync of a new link (merchant_sync)

    def shops(self) -> list[tuple[str, str]]:
        """(slug, name) of the shops a person can link."""
        return [(slug, self._names[slug]) for slug in self._shops]

    def callback_url(self) -> str:
        return f"{self._deps.public_url.rstrip('/')}/link/shop/callback"

    def _shop(self, slug: str) -> ShopApi:
        if slug not in self._shops:
            raise NotFound("no such shop to link", code="unknown_partner")
        return self._shops[slug]

    async def start(self, grant: Grant, *, slug: str, renews: str | None = None) -> str:
        """A pending consent; the shop's authorization URL for the person's browser. With
        `renews`, the new consent replaces that active or expired one when it completes."""
        deps, now = self._deps, self._deps.clock.now()
        async with deps.uow() as uow:
            if renews is not None:
                old = await uow.merchant_consents.get(renews)
                if old is None or old.person_id != grant.person_id:
                    raise NotFound("shop link not found", code="shop_link_not_found")
                if old.status not in ("active", "expired"):
                    raise Conflict(
                        "only an active or expired shop link can be renewed", code="link_not_renewable"
                    )
                slug = old.merchant_slug
            request = self._shop(slug).authorization_request(
                redirect_uri=self.callback_url(), scopes=SHOP_SCOPES, state=secrets.token_urlsafe(32)
            )
            consent_id = new_id("mcn")
            sealed = await seal_consent_secrets(
                deps.vault,
                person_id=grant.person_id,
                consent_id=consent_id,
                secrets={"code_verifier": request.code_verifier},
            )
            await uow.merchant_consents.add(
                MerchantConsentRecord(
                    consent_id,
                    grant.person_id,
                    slug,
                    "pending",
                    request.state,
                    " ".join(SHOP_SCOPES),
                    sealed,
                    None,
                    renews,
                    None,
                    None,
                    None,
                    None,
                    None,
                    now,
                    now,
                )
            )
            await uow.commit()
        log.info("shop_link_started", consent_id=consent_id, merchant=slug)
        return request.url

    async def complete(self, grant: Grant, *, state: str, code: str | None, error: str | None = None) -> str:
        """The shop's redirect back: exchange the code (PKCE verifier), record the link, sign the
        receipt. The consent's id; MerchantLinkError with a specific code otherwise, nothing linked."""
        deps, now = self._deps, self._deps.clock.now()
        async with deps.uow() as uow:
            consent = await uow.merchant_consents.by_state(state[:64]) if state else None
            if consent is None or consent.person_id != grant.person_id:
                raise MerchantLinkError(
                    "this shop link request is unknown; start again", code="unknown_link_state"
                )
            if consent.status == "failed":
                raise MerchantLinkError(
                    "this shop link request already ended; start again", code="link_state_used"
                )
            if consent.status != "pending" or not await uow.merchant_consents.claim(consent.id, at=now):
                # done, or another callback of the same flow (a second tab) is exchanging it now
                raise Conflict("this shop link is already complete", code="link_already_complete")
            flow = await open_consent_secrets(
                deps.vault,
                uow,
                grant,
                Purpose.SHOW_TO_PERSON,
                person_id=grant.person_id,
                consent_id=consent.id,
                sealed=consent.sealed,
                at=now,
            )
            await uow.commit()
        if error is not None or not code:
            await self._fail(consent, "shop_link_denied")
            raise MerchantLinkError(
                "the link was not approved at the shop; nothing was linked", code="shop_link_denied"
            )
        if now - consent.created_at > FLOW_TTL:
            await self._fail(consent, "shop_link_timed_out")
            raise MerchantLinkError(
                "this shop link request is older than 15 minutes; start again", code="shop_link_timed_out"
            )
        try:
            tokens = await self._shop(consent.merchant_slug).exchange_code(
                code=code, code_verifier=str(flow["code_verifier"]), redirect_uri=self.callback_url()
            )
        except ShopError as exc:
            await self._fail(consent, exc.code)
            raise MerchantLinkError(
                f"the shop did not give access ({exc.code}); nothing was linked", code="shop_link_refused"
            ) from None
        consent_id = await self._activate(consent, tokens)
        if self._after_link is not None:
            try:
                await self._after_link(consent_id)
            except DomainError as exc:  # the schedule pulls again later
                log.warning("shop_first_sync_failed", consent_id=consent_id, code=exc.code)
        return consent_id

    async def _activate(self, consent: MerchantConsentRecord, tokens: ShopTokens) -> str:
        deps, now = self._deps, self._deps.clock.now()
        shop = self._names[consent.merchant_slug]
        async with deps.uow() as uow:
            link = await uow.shop_receipts.link_for(consent.merchant_slug, tokens.customer_id)
            if link is not None and link.person_id != consent.person_id:
                await uow.merchant_consents.put(
                    dataclasses.replace(
                        consent,
                        status="failed",
                        sealed=None,
                        ended_by="shop_account_linked_elsewhere",
                        updated_at=now,
                    )
                )
                await uow.commit()
                raise MerchantLinkError(
                    "this shop account is linked by someone else; nothing was linked",
                    code="shop_account_linked_elsewhere",
                )
            if link is None:
                link = MerchantLinkRecord(
                    new_id("mlk"), consent.person_id, consent.merchant_slug, tokens.customer_id, now
                )
                await uow.shop_receipts.add_link(link)
            cursor = None
            if consent.renews is not None:
                old = await uow.merchant_consents.get(consent.renews)
                if old is not None and old.person_id == consent.person_id:
                    cursor = old.cursor
                    await uow.merchant_consents.put(
                        dataclasses.replace(
                            old, status="renewed", sealed=None, ended_by="renewal", updated_at=now
                        )
                    )
            sealed = await seal_consent_secrets(
                deps.vault, person_id=consent.person_id, consent_id=consent.id, secrets=_token_secrets(tokens)
            )
            active = dataclasses.replace(
                consent,
                status="active",
                sealed=sealed,
                link_id=link.id,
                scopes=" ".join(tokens.scopes) or consent.scopes,
                cursor=cursor,
                expires_at=tokens.grant_expires_at or now + timedelta(days=90),
                updated_at=now,
            )
            receipt_id = new_id("mrc")
            jws = None
            if deps.receipts_jws is not None:
                jws = deps.receipts_jws.sign(
                    receipt_claims(
                        receipt_id=receipt_id,
                        issuer=deps.public_url,
                        consent=active,
                        shop=shop,
                        issued_at=now,
                    )
                )
            await uow.merchant_consents.put(dataclasses.replace(active, receipt_jws=jws))
            await self._tell(uow, active, shop)
            await deps.commit_and_publish(uow)
        log.info(
            "shop_linked", consent_id=consent.id, merchant=consent.merchant_slug, renewal=bool(consent.renews)
        )
        return consent.id

    async def _tell(self, uow: UnitOfWork, consent: MerchantConsentRecord, shop: str) -> None:
        assert consent.expires_at is not None
        words = {"orders": "your orders", "shipments": "your parcels"}
        reads = " and ".join(words.get(s, s) for s in consent.scopes.split())
        thread = await ensure_system_thread(self._deps, uow, consent.person_id)
        await post_text(
            self._deps,
            uow,
            thread,
            f"{shop} is linked: it shares {reads} until {consent.expires_at:%d %B %Y}, to attach "
            "receipts and parcels to your card payments. Never used for advertising, profiling or "
            "sale. Revoke it any time in Settings.",
            tone="info",
            actions=[{"label": "Signed consent receipt", "href": f"/link/shop/{consent.id}/receipt.jws"}],
        )

    async def _fail(self, consent: MerchantConsentRecord, code: str) -> None:
        async with self._deps.uow() as uow:
            await uow.merchant_consents.put(
                dataclasses.replace(
                    consent,
                    status="failed",
                    sealed=None,
                    ended_by=code[:20],
                    updated_at=self._deps.clock.now(),
                )
            )
            await uow.commit()

    async def revoke(
        self, grant: Grant, consent_id: str, *, purpose: Purpose = Purpose.SHOW_TO_PERSON
    ) -> None:
        """The person revokes (or erases themselves: `purpose`): the shop is told (RFC 7009) and
        the link ends here whatever it answers; the tokens are dropped."""
        deps, now = self._deps, self._deps.clock.now()
        async with deps.uow() as uow:
            consent = await uow.merchant_consents.get(consent_id[:40])
            if consent is None or consent.person_id != grant.person_id:
                raise NotFound("shop link not found", code="shop_link_not_found")
            if consent.status != "active":
                raise Conflict("this shop link is not active", code="link_not_active")
            tokens = await open_consent_secrets(
                deps.vault,
                uow,
                grant,
                purpose,
                person_id=grant.person_id,
                consent_id=consent.id,
                sealed=consent.sealed,
                at=now,
            )
            await uow.commit()
        token = tokens.get("refresh_token") or tokens.get("access_token")
        if token:
            try:
                await self._shop(consent.merchant_slug).revoke(token=str(token))
            except ShopError as exc:  # ended here anyway: the tokens are dropped below
                log.warning("shop_revoke_failed", consent_id=consent.id, code=exc.code)
        async with deps.uow() as uow:
            fresh = await uow.merchant_consents.get(consent.id)
            if fresh is not None and fresh.status == "active":
                await end_consent(
                    deps, uow, fresh, by="person", shop=self._names[consent.merchant_slug], at=now
                )
            await deps.commit_and_publish(uow)

    async def consents(self, grant: Grant) -> list[dict[str, Any]]:
        """The person's shop links for Settings: the shop, state, scopes, expiry, renewable."""
        now = self._deps.clock.now()
        async with self._deps.uow() as uow:
            rows = await uow.merchant_consents.of_person(grant.person_id)
        out = []
        for c in rows:
            if c.status in ("pending", "exchanging", "failed", "renewed"):
                continue
            expired = c.status == "expired" or (c.expires_at is not None and now >= c.expires_at)
            out.append(
                {
                    "id": c.id,
                    "shop": self._names.get(c.merchant_slug, c.merchant_slug),
                    "status": "expired" if expired and c.status == "active" else c.status,
                    "scopes": c.scopes.split(),
                    "expires_at": c.expires_at,
                    "renewable": c.status in ("active", "expired")
                    and c.expires_at is not None
                    and c.expires_at - now <= RENEW_WITHIN,
                    "has_receipt": c.receipt_jws is not None,
                }
            )
        return out

    async def receipt(self, grant: Grant, consent_id: str) -> str:
        """The signed consent receipt (compact JWS) of the person's own consent."""
        async with self._deps.uow() as uow:
            consent = await uow.merchant_consents.get(consent_id[:40])
        if consent is None or consent.person_id != grant.person_id or consent.receipt_jws is None:
            raise NotFound("consent receipt not found", code="receipt_not_found")
        return consent.receipt_jws


def _token_secrets(tokens: ShopTokens) -> dict[str, Any]:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": None if tokens.expires_at is None else tokens.expires_at.isoformat(),
    }
