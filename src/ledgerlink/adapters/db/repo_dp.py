"""SQL repository (see the matching Protocol in ledgerlink.services.ports)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, insert, or_, select, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.repositories import _Repo, _values
from ledgerlink.services.ingest.ports import TransactionRecord
from ledgerlink.services.privacy.ports import DpBudgetRecord, DpSpendRecord


class SqlDpLedger(_Repo):
    """Differential-privacy budgets and spend per partner."""

    async def set_budget(self, budget: DpBudgetRecord) -> None:
        b = s.dp_budgets
        values = _values(budget, b)
        done = await self._conn.execute(update(b).where(b.c.partner_id == budget.partner_id).values(**values))
        if not done.rowcount:
            await self._conn.execute(insert(b).values(**values))

    async def budget(self, partner_id: str) -> DpBudgetRecord | None:
        b = s.dp_budgets
        return await self._one(DpBudgetRecord, select(b).where(b.c.partner_id == partner_id))

    async def lock_budget(self, partner_id: str) -> DpBudgetRecord | None:
        b = s.dp_budgets
        stmt = select(b).where(b.c.partner_id == partner_id)
        if self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return await self._one(DpBudgetRecord, stmt)

    async def spent_micro(self, partner_id: str, period_key: str) -> int:
        d = s.dp_spend
        stmt = select(func.coalesce(func.sum(d.c.epsilon_micro), 0)).where(
            d.c.partner_id == partner_id, d.c.period_key == period_key
        )
        return int((await self._conn.execute(stmt)).scalar_one())

    async def record_spend(self, spend: DpSpendRecord) -> None:
        await self._conn.execute(insert(s.dp_spend).values(**_values(spend, s.dp_spend)))

    async def spending_rows(
        self, partner_id: str, *, currency: str, start: date, end: date, at: datetime
    ) -> list[TransactionRecord]:
        t, a, lk, p = s.transactions, s.accounts, s.links, s.persons
        stmt = (
            select(t)
            .join(a, a.c.id == t.c.account_id)
            .join(lk, lk.c.id == a.c.link_id)
            .join(p, p.c.id == t.c.person_id)
            .where(
                lk.c.partner_id == partner_id,
                lk.c.status == "active",
                or_(lk.c.expires_at.is_(None), lk.c.expires_at > at),
                lk.c.person_id == t.c.person_id,
                p.c.erased_at.is_(None),
                t.c.status == "posted",
                t.c.currency == currency,
                t.c.booking_date >= start,
                t.c.booking_date < end,
            )
            .order_by(t.c.person_id, t.c.id)
        )
        return await self._many(TransactionRecord, stmt)
