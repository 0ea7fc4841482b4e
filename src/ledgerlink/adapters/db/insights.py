"""SQL repository of insights: category corrections and budgets (see `InsightRepository` in
ledgerlink.services.insights.ports)."""

from __future__ import annotations

from sqlalchemy import delete, insert, or_, select, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo, _values
from ledgerlink.services.insights.ports import BudgetRecord, CorrectionRecord


class SqlInsights(_Repo):
    async def corrections(self, person_id: str) -> list[CorrectionRecord]:
        c = s.category_corrections
        stmt = select(c).where(c.c.person_id == person_id).order_by(c.c.created_at, c.c.id)
        return await self._many(CorrectionRecord, stmt)

    async def add_correction(self, record: CorrectionRecord) -> None:
        c = s.category_corrections
        await self._conn.execute(insert(c).values(**_values(record, c)))

    async def delete_correction(self, person_id: str, correction_id: str) -> bool:
        c = s.category_corrections
        result = await self._conn.execute(
            delete(c).where(c.c.id == correction_id, c.c.person_id == person_id)
        )
        return bool(result.rowcount)

    async def budgets(self, person_id: str) -> list[BudgetRecord]:
        b = s.budgets
        stmt = select(b).where(b.c.person_id == person_id).order_by(b.c.updated_at, b.c.id)
        return await self._many(BudgetRecord, stmt)

    async def put_budget(self, record: BudgetRecord) -> None:
        b = s.budgets
        result = await self._conn.execute(
            update(b)
            .where(b.c.id == record.id, b.c.person_id == record.person_id)
            .values(sealed=record.sealed, warned_month=record.warned_month,
                    warned_level=record.warned_level, updated_at=record.updated_at)
        )
        if not result.rowcount:
            await self._conn.execute(insert(b).values(**_values(record, b)))

    async def delete_budget(self, person_id: str, budget_id: str) -> bool:
        b = s.budgets
        result = await self._conn.execute(delete(b).where(b.c.id == budget_id, b.c.person_id == person_id))
        return bool(result.rowcount)

    async def mark_warned(self, person_id: str, budget_id: str, *, month: str, level: int) -> bool:
        b = s.budgets
        result = await self._conn.execute(
            update(b)
            .where(b.c.id == budget_id, b.c.person_id == person_id,
                   or_(b.c.warned_month.is_(None), b.c.warned_month != month, b.c.warned_level < level))
            .values(warned_month=month, warned_level=level)
        )
        return bool(result.rowcount)
