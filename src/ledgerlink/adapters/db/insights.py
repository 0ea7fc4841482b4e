"""SQL repository of insights: category corrections and budgets, and the insight consumer's
merchant tags (see `InsightRepository` in ledgerlink.services.insights.ports)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo, _values
from ledgerlink.adapters.db.lean import lean
from ledgerlink.services.ingest.ports import TransactionRecord
from ledgerlink.services.insights.ports import (
    BudgetRecord,
    CorrectionRecord,
    InsightKeyRecord,
    InsightScanRecord,
    InsightTagRecord,
    TaggedRow,
)

_CORRECTIONS = lean(select(s.category_corrections)
                    .where(s.category_corrections.c.person_id == bindparam("person_id"))
                    .order_by(s.category_corrections.c.created_at, s.category_corrections.c.id))
_BUDGETS = lean(select(s.budgets).where(s.budgets.c.person_id == bindparam("person_id"))
                .order_by(s.budgets.c.updated_at, s.budgets.c.id))
_TAG_KEY = lean(select(s.insight_keys).where(s.insight_keys.c.person_id == bindparam("person_id")))


def _dated() -> Any:
    """Booked in [start, end], or not booked yet and created in [since, until): as
    `SqlTransactions.for_account_between` dates a row."""
    t = s.transactions
    booked = t.c.booking_date.is_not(None) & t.c.booking_date.between(bindparam("start"), bindparam("end"))
    unbooked = (t.c.booking_date.is_(None) & (t.c.created_at >= bindparam("since"))
                & (t.c.created_at < bindparam("until")))
    return or_(booked, unbooked)


def _untagged(*, since: bool = False) -> Any:
    t, g = s.transactions, s.insight_tags
    changed = (t.c.updated_at > bindparam("changed_after"),) if since else ()  # ix_..._account_updated
    return lean(
        select(*t.c)
        .select_from(t.outerjoin(g, g.c.transaction_id == t.c.id))
        .where(t.c.account_id == bindparam("account_id"), *changed, _dated(),
               or_(g.c.transaction_id.is_(None), g.c.tagged_at != t.c.updated_at, g.c.amount_tag.is_(None)))
        .order_by(t.c.id)
    )


def _tagged() -> Any:
    t, g = s.transactions, s.insight_tags
    return lean(
        select(t.c.id, t.c.booking_date, t.c.created_at, g.c.amount_tag)
        .select_from(g.join(t, t.c.id == g.c.transaction_id))
        .where(g.c.account_id == bindparam("account_id"), g.c.tag == bindparam("tag"),
               g.c.tagged_at == t.c.updated_at, t.c.status != "removed", _dated())
    )


_UNTAGGED, _UNTAGGED_SINCE, _TAGGED = _untagged(), _untagged(since=True), _tagged()
_SCAN_MARK = lean(select(s.insight_scans).where(s.insight_scans.c.account_id == bindparam("account_id")))
_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(table: Any, key: str, dialect: str) -> Any:
    """INSERT ... ON CONFLICT (`key`) DO UPDATE every other column, built once per dialect."""
    stmt = _UPSERTS.get((table.name, dialect))
    if stmt is None:
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        stmt = _UPSERTS[(table.name, dialect)] = lean(ins.on_conflict_do_update(
            index_elements=[key], set_={c.key: ins.excluded[c.key] for c in table.c if c.key != key}))
    return stmt


def _range(account_id: str, start: date, end: date) -> dict[str, Any]:
    return {"account_id": account_id, "start": start, "end": end,
            "since": datetime.combine(start, time.min, tzinfo=UTC),
            "until": datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)}


class SqlInsights(_Repo):
    async def corrections(self, person_id: str) -> list[CorrectionRecord]:
        # Prebuilt: every charge's delivery reads them (the insight and alert consumers).
        return await self._many(CorrectionRecord, _CORRECTIONS, {"person_id": person_id})

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
        return await self._many(BudgetRecord, _BUDGETS, {"person_id": person_id})

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

    async def tag_key(self, person_id: str) -> InsightKeyRecord | None:
        return await self._one(InsightKeyRecord, _TAG_KEY, {"person_id": person_id})

    async def add_tag_key(self, record: InsightKeyRecord) -> bool:
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        result = await self._conn.execute(
            ins(s.insight_keys).on_conflict_do_nothing().values(**_values(record, s.insight_keys)))
        return bool(result.rowcount)

    async def untagged(self, account_id: str, start: date, end: date, *,
                       since: datetime | None = None) -> list[TransactionRecord]:
        if since is None:
            return await self._many(TransactionRecord, _UNTAGGED, _range(account_id, start, end))
        return await self._many(TransactionRecord, _UNTAGGED_SINCE,
                                {**_range(account_id, start, end), "changed_after": since})

    async def scan_mark(self, account_id: str) -> InsightScanRecord | None:
        return await self._one(InsightScanRecord, _SCAN_MARK, {"account_id": account_id})

    async def put_scan_mark(self, record: InsightScanRecord) -> None:
        await self._conn.execute(_upsert(s.insight_scans, "account_id", self._conn.dialect.name),
                                 _values(record, s.insight_scans))

    async def put_tags(self, records: Sequence[InsightTagRecord]) -> None:
        if records:
            ordered = sorted(records, key=lambda r: r.transaction_id)
            await self._conn.execute(_upsert(s.insight_tags, "transaction_id", self._conn.dialect.name),
                                     [_values(r, s.insight_tags) for r in ordered])

    async def tagged(self, account_id: str, tag: str, start: date, end: date) -> list[TaggedRow]:
        result = await self._conn.execute(_TAGGED, {**_range(account_id, start, end), "tag": tag})
        return [TaggedRow(row[0], row[1], row[2], row[3]) for row in result.all()]
