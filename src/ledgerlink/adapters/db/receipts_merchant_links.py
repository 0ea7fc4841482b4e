"""Linking a shop (issue 11, ADR 0031): merchant consents (the tokens sealed) and the newest
version of each shop order applied, so a webhook and the orders feed apply it once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo, _values
from ledgerlink.services.receipts.merchant_link_ports import MerchantConsentRecord
from ledgerlink.services.receipts.ports import MerchantLinkRecord


class SqlMerchantConsents(_Repo):
    async def add(self, record: MerchantConsentRecord) -> None:
        await self._conn.execute(insert(s.merchant_consents).values(_values(record, s.merchant_consents)))

    async def put(self, record: MerchantConsentRecord) -> None:
        t = s.merchant_consents
        await self._conn.execute(update(t).where(t.c.id == record.id).values(_values(record, t)))

    async def get(self, consent_id: str) -> MerchantConsentRecord | None:
        t = s.merchant_consents
        return await self._one(MerchantConsentRecord, select(t).where(t.c.id == consent_id))

    async def claim(self, consent_id: str, *, at: datetime) -> bool:
        t = s.merchant_consents
        done = await self._conn.execute(update(t).where(t.c.id == consent_id, t.c.status == "pending")
                                        .values(status="exchanging", updated_at=at))
        return bool(done.rowcount)

    async def by_state(self, state: str) -> MerchantConsentRecord | None:
        t = s.merchant_consents
        return await self._one(MerchantConsentRecord, select(t).where(t.c.state == state))

    async def for_link(self, link_id: str) -> MerchantConsentRecord | None:
        t = s.merchant_consents
        return await self._one(MerchantConsentRecord, select(t).where(
            t.c.link_id == link_id, t.c.status.notin_(("pending", "exchanging", "failed")))
            .order_by(t.c.created_at.desc(), t.c.id.desc()).limit(1))

    async def of_person(self, person_id: str) -> list[MerchantConsentRecord]:
        t = s.merchant_consents
        return await self._many(MerchantConsentRecord, select(t).where(t.c.person_id == person_id)
                                .order_by(t.c.created_at, t.c.id))

    async def active(self, limit: int) -> list[MerchantConsentRecord]:
        t = s.merchant_consents
        return await self._many(MerchantConsentRecord, select(t).where(t.c.status == "active")
                                .order_by(t.c.synced_at.is_not(None), t.c.synced_at, t.c.id).limit(limit))

    async def link(self, link_id: str) -> MerchantLinkRecord | None:
        t = s.merchant_links
        return await self._one(MerchantLinkRecord, select(t).where(t.c.id == link_id))

    async def applied_version(self, merchant_slug: str, order_ref: str) -> int | None:
        t = s.merchant_order_versions
        row = (await self._conn.execute(select(t.c.version).where(
            t.c.merchant_slug == merchant_slug, t.c.order_ref == order_ref))).first()
        return None if row is None else int(row[0])

    async def set_version(self, merchant_slug: str, order_ref: str, person_id: str, version: int,
                          at: datetime) -> None:
        t = s.merchant_order_versions
        done = await self._conn.execute(update(t).where(
            t.c.merchant_slug == merchant_slug, t.c.order_ref == order_ref,
        ).values(version=version, updated_at=at))
        if not done.rowcount:
            await self._conn.execute(insert(t).values(merchant_slug=merchant_slug, order_ref=order_ref,
                                                      person_id=person_id, version=version, updated_at=at))
