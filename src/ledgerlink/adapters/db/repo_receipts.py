"""SQL repository (see the matching Protocol in ledgerlink.services.ports)."""

from __future__ import annotations

from sqlalchemy import insert, select

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.repositories import _Repo, _values
from ledgerlink.services.linking.ports import ReceiptRecord


class SqlReceipts(_Repo):
    """Consent receipts (sealed compact JWS)."""

    async def add(self, receipt: ReceiptRecord) -> None:
        await self._conn.execute(insert(s.consent_receipts).values(**_values(receipt, s.consent_receipts)))

    async def get(self, receipt_id: str) -> ReceiptRecord | None:
        return await self._one(
            ReceiptRecord, select(s.consent_receipts).where(s.consent_receipts.c.id == receipt_id)
        )

    async def for_person(self, person_id: str) -> list[ReceiptRecord]:
        return await self._many(
            ReceiptRecord,
            select(s.consent_receipts)
            .where(s.consent_receipts.c.person_id == person_id)
            .order_by(s.consent_receipts.c.issued_at, s.consent_receipts.c.id),
        )

    async def for_link(self, link_id: str) -> list[ReceiptRecord]:
        return await self._many(
            ReceiptRecord,
            select(s.consent_receipts)
            .where(s.consent_receipts.c.link_id == link_id)
            .order_by(s.consent_receipts.c.issued_at, s.consent_receipts.c.id),
        )
