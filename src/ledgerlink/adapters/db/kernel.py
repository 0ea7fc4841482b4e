"""SQL repositories of the kernel: partners and the idempotency keys of partner POSTs (see
`PartnerRepository`, `IdempotencyRepository` in ledgerlink.services.kernel.ports, and
ledgerlink.services.kernel.idempotency)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _by, _Repo, _values
from ledgerlink.services.kernel.ports import IdempotencyRecord, PartnerRecord

_PARTNER = _by(s.partners, "id")


class SqlPartners(_Repo):
    async def upsert(self, partner: PartnerRecord) -> None:
        existing = await self.get(partner.id)
        values = _values(partner, s.partners)
        if existing is None:
            await self._conn.execute(insert(s.partners).values(**values))
        else:
            values.pop("created_at")
            # The API key is issued and rotated only through set_api_key_hash: re-registering
            # a partner (bootstrap does it on every start) must not revoke its key.
            values.pop("api_key_hash")
            await self._conn.execute(update(s.partners).where(s.partners.c.id == partner.id).values(**values))

    async def get(self, partner_id: str) -> PartnerRecord | None:
        return await self._one(PartnerRecord, _PARTNER, {"id": partner_id})

    async def by_slug(self, slug: str) -> PartnerRecord | None:
        return await self._one(PartnerRecord, select(s.partners).where(s.partners.c.slug == slug))

    async def by_api_key_hash(self, api_key_hash: str) -> PartnerRecord | None:
        p = s.partners
        return await self._one(PartnerRecord, select(p).where(p.c.api_key_hash == api_key_hash))

    async def set_api_key_hash(self, partner_id: str, api_key_hash: str | None) -> None:
        await self._conn.execute(
            update(s.partners).where(s.partners.c.id == partner_id).values(api_key_hash=api_key_hash)
        )

    async def all(self) -> list[PartnerRecord]:
        return await self._many(PartnerRecord, select(s.partners).order_by(s.partners.c.slug))


class SqlIdempotency(_Repo):
    async def claim(self, record: IdempotencyRecord) -> bool:
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        t = s.idempotency_keys
        stmt = ins(t).values(**_values(record, t)).on_conflict_do_nothing().returning(t.c.key)
        return (await self._conn.execute(stmt)).first() is not None

    async def get(self, partner_id: str, key: str) -> IdempotencyRecord | None:
        t = s.idempotency_keys
        return await self._one(
            IdempotencyRecord, select(t).where(t.c.partner_id == partner_id, t.c.key == key)
        )

    async def complete(self, partner_id: str, key: str, *, status: int, response: str) -> None:
        t = s.idempotency_keys
        await self._conn.execute(
            update(t)
            .where(t.c.partner_id == partner_id, t.c.key == key)
            .values(status=status, response=response)
        )

    async def release(self, partner_id: str, key: str) -> None:
        t = s.idempotency_keys
        await self._conn.execute(delete(t).where(t.c.partner_id == partner_id, t.c.key == key))
