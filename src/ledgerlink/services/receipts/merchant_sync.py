"""Reconciling a linked shop with its orders feed (issue 11, ADR 0031): `GET /orders?cursor=`
pulled page by page, each order fed to the same receipt service as its webhook
(`Receipts.take_feed_order`), deduped by order id + version, so a lost webhook loses nothing.

Runs after a link completes, on a schedule (`run_syncer`, and a pull at start: the gap while
the platform was down), and on demand. The cursor is kept after each page, so a failure
resumes where it stopped. A cursor the shop refuses (`bad_cursor`: edited, or not the shop's)
is dropped and the feed read again from the start: versions already applied change nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from ledgerlink.domain.errors import DomainError, NotFound
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access.merchant_links import open_consent_secrets, seal_consent_secrets
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.receipts.merchant_consent import end_consent
from ledgerlink.services.receipts.merchant_link_ports import (
    MerchantConsentRecord,
    ShopApi,
    ShopAuthError,
    ShopError,
)
from ledgerlink.services.receipts.ports import MerchantLinkRecord
from ledgerlink.services.receipts.service import Receipts

__all__ = ["PAGE_SIZE", "MerchantSync", "SyncResult"]

log = structlog.get_logger(__name__)

PAGE_SIZE = 50
MAX_PAGES = 200  # a run stops there; the next one resumes from the cursor


@dataclass(slots=True)
class SyncResult:
    applied: int = 0  # orders whose new version changed the receipt
    already: int = 0  # versions the webhooks (or an earlier run) had applied
    refused: int = 0  # orders the receipt service refused (each logged with its code)
    pages: int = 0
    restarted: bool = False  # the shop refused our cursor: read again from the start
    ended: str | None = None  # the link ended during the run (expired, revoked at the shop)


class MerchantSync:
    def __init__(
        self, deps: Deps, receipts: Receipts, shops: dict[str, ShopApi], names: dict[str, str]
    ) -> None:
        self._deps, self._receipts, self._shops, self._names = deps, receipts, shops, names

    async def sync(self, consent_id: str) -> SyncResult:
        deps, result = self._deps, SyncResult()
        async with deps.uow() as uow:
            consent = await uow.merchant_consents.get(consent_id)
            if consent is None or consent.status != "active" or consent.link_id is None:
                raise NotFound("no active shop link to sync", code="shop_link_not_found")
            now = deps.clock.now()
            if consent.expires_at is not None and now >= consent.expires_at:
                await end_consent(
                    deps,
                    uow,
                    consent,
                    by="expiry",
                    shop=self._names.get(consent.merchant_slug, consent.merchant_slug),
                    at=now,
                )
                await deps.commit_and_publish(uow)
                result.ended = "expired"
                return result
            tokens = await open_consent_secrets(
                deps.vault,
                uow,
                _grant(consent),
                Purpose.DELIVER_UPDATE,
                person_id=consent.person_id,
                consent_id=consent.id,
                sealed=consent.sealed,
                at=now,
            )
            link = await uow.merchant_consents.link(consent.link_id)
            await uow.commit()
        if link is None:
            raise NotFound("no active shop link to sync", code="shop_link_not_found")
        if consent.merchant_slug not in self._shops:  # linked under a configuration this process lacks
            raise NotFound("this shop is not configured here", code="shop_not_configured")
        shop, cursor = self._shops[consent.merchant_slug], consent.cursor
        if _expired(tokens, deps.clock.now()):
            renewed = await self._refresh(consent, tokens)
            if renewed is None:
                result.ended = "revoked"
                return result
            tokens = renewed
        refreshed = False
        while result.pages < MAX_PAGES:
            try:
                page = await shop.orders(
                    access_token=str(tokens["access_token"]), cursor=cursor, limit=PAGE_SIZE
                )
            except ShopAuthError:
                fresh = None if refreshed else await self._refresh(consent, tokens)
                if fresh is None:
                    result.ended = "revoked"
                    return result
                tokens, refreshed = fresh, True
                continue
            except ShopError as exc:
                if exc.code != "shop_bad_cursor" or result.restarted:
                    raise
                log.warning("shop_cursor_refused", consent_id=consent.id)
                cursor, result.restarted = None, True
                continue
            result.pages += 1
            for entry in page.orders:
                await self._take(link, entry, result)
            cursor = page.next_cursor
            await self._keep_cursor(consent.id, cursor)
            if not page.has_more:
                break
        return result

    async def _take(self, link: MerchantLinkRecord, entry: dict[str, Any], result: SyncResult) -> None:
        try:
            state = await self._receipts.take_feed_order(link, entry)
        except DomainError as exc:  # this order only: the others still come
            result.refused += 1
            log.warning("shop_order_refused", merchant=link.merchant_slug, code=exc.code)
            return
        if state == "already_applied":
            result.already += 1
        else:
            result.applied += 1

    async def _keep_cursor(self, consent_id: str, cursor: str) -> None:
        async with self._deps.uow() as uow:
            current = await uow.merchant_consents.get(consent_id)
            if current is not None and current.status == "active":
                now = self._deps.clock.now()
                await uow.merchant_consents.put(
                    dataclasses.replace(current, cursor=cursor, synced_at=now, updated_at=now)
                )
            await uow.commit()

    async def _refresh(self, consent: MerchantConsentRecord, tokens: dict[str, Any]) -> dict[str, Any] | None:
        """New tokens (rotated refresh token) sealed again; None when the shop refuses them: the
        link was revoked or expired at the shop, and ends here too."""
        deps = self._deps
        refresh_token = tokens.get("refresh_token")
        try:
            if not refresh_token:
                raise ShopAuthError("no refresh token", code="shop_no_refresh_token")
            fresh = await self._shops[consent.merchant_slug].refresh(refresh_token=str(refresh_token))
        except ShopAuthError:
            async with deps.uow() as uow:
                current = await uow.merchant_consents.get(consent.id)
                if current is not None and current.status == "active":
                    await end_consent(
                        deps,
                        uow,
                        current,
                        by="shop",
                        shop=self._names.get(consent.merchant_slug, consent.merchant_slug),
                        at=deps.clock.now(),
                    )
                await deps.commit_and_publish(uow)
            return None
        secrets = {
            "access_token": fresh.access_token,
            "refresh_token": fresh.refresh_token or refresh_token,
            "expires_at": None if fresh.expires_at is None else fresh.expires_at.isoformat(),
        }
        async with deps.uow() as uow:
            current = await uow.merchant_consents.get(consent.id)
            if current is not None and current.status == "active":
                sealed = await seal_consent_secrets(
                    deps.vault, person_id=consent.person_id, consent_id=consent.id, secrets=secrets
                )
                await uow.merchant_consents.put(
                    dataclasses.replace(current, sealed=sealed, updated_at=deps.clock.now())
                )
            await uow.commit()
        return secrets

    async def sync_all(self, *, limit: int = 100) -> dict[str, SyncResult]:
        """Every active link, least recently synced first; one link's failure is logged and the
        others still run."""
        async with self._deps.uow() as uow:
            active = await uow.merchant_consents.active(limit)
        out: dict[str, SyncResult] = {}
        for consent in active:
            try:
                out[consent.id] = await self.sync(consent.id)
            except DomainError as exc:
                log.warning("shop_sync_failed", consent_id=consent.id, code=exc.code)
        return out

    async def run_syncer(self, interval: float, *, tick: float = 1.0) -> None:
        """Background task: a pull at start (the gap while we were down), then each time
        `interval` seconds have passed on the injected clock."""
        due = self._deps.clock.now()
        while True:
            now = self._deps.clock.now()
            if now >= due:
                due = now + timedelta(seconds=interval)
                try:
                    await self.sync_all()
                except Exception as exc:  # the next period tries again
                    log.warning("shop_sync_run_failed", reason=type(exc).__name__)
            await asyncio.sleep(min(tick, interval))


def _grant(consent: MerchantConsentRecord) -> Grant:
    return Grant.for_component(consent.person_id, "receipts")


def _expired(tokens: dict[str, Any], now: datetime) -> bool:
    raw = tokens.get("expires_at")
    return raw is not None and now >= datetime.fromisoformat(str(raw)) - timedelta(seconds=30)
