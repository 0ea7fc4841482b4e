"""SQL repositories of privacy: signed tree heads of the audit log, the differential-privacy
ledger and retention (see `TreeHeadRepository`, `DpLedgerRepository`, `RetentionRepository` in
ledgerlink.services.privacy.ports). The audit log itself is the access layer's (`access`).

Each retention method deletes at most `limit` expired rows in one statement (ids picked by a
bounded subquery), so one purge batch holds the write lock only briefly."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo, _values
from ledgerlink.domain.audit import TreeHead
from ledgerlink.services.ingest.ports import TransactionRecord
from ledgerlink.services.privacy.ports import DpBudgetRecord, DpSpendRecord


def _head(row: Any) -> TreeHead:
    m = row._mapping
    return TreeHead(
        tree_size=int(m["tree_size"]),
        root_hash=bytes.fromhex(m["root_hash"]),
        timestamp=m["signed_at"],
        key_id=m["key_id"],
        signature=base64.b64decode(m["signature"]),
    )


class SqlTreeHeads(_Repo):
    """Signed tree heads of the audit log."""

    async def add(self, head: TreeHead) -> bool:
        t = s.audit_tree_heads
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        stmt = (
            ins(t)
            .values(
                tree_size=head.tree_size,
                root_hash=head.root_hash.hex(),
                signed_at=head.timestamp,
                key_id=head.key_id,
                signature=base64.b64encode(head.signature).decode(),
            )
            .on_conflict_do_nothing(index_elements=["tree_size"])
            .returning(t.c.tree_size)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def latest(self) -> TreeHead | None:
        t = s.audit_tree_heads
        row = (await self._conn.execute(select(t).order_by(t.c.tree_size.desc()).limit(1))).first()
        return None if row is None else _head(row)

    async def get(self, tree_size: int) -> TreeHead | None:
        t = s.audit_tree_heads
        row = (await self._conn.execute(select(t).where(t.c.tree_size == tree_size))).first()
        return None if row is None else _head(row)

    async def all(self) -> list[TreeHead]:
        t = s.audit_tree_heads
        return [_head(row) for row in (await self._conn.execute(select(t).order_by(t.c.tree_size))).all()]


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


class SqlRetention(_Repo):
    async def _delete(self, table: Any, where: Any, limit: int) -> int:
        ids = select(table.c.id).where(where).limit(limit).scalar_subquery()
        result = await self._conn.execute(delete(table).where(table.c.id.in_(ids)))
        return int(result.rowcount or 0)

    async def purge_inbox(self, *, processed_before: datetime, limit: int) -> int:
        """Bank events processed before the cutoff. Unprocessed rows are never purged."""
        i = s.inbox
        return await self._delete(i, and_(i.c.processed_at.is_not(None), i.c.processed_at < processed_before),
                                  limit)

    async def purge_messages(self, *, before: datetime, limit: int) -> int:
        """Messages created, and last edited, before the cutoff."""
        m = s.messages
        return await self._delete(
            m, and_(m.c.created_at < before, or_(m.c.edited_at.is_(None), m.c.edited_at < before)), limit
        )

    async def purge_transactions(self, *, before: datetime, limit: int) -> int:
        """Transactions booked before the cutoff's day (or, without a booking date, last
        changed before the cutoff)."""
        t = s.transactions
        return await self._delete(
            t,
            or_(
                and_(t.c.booking_date.is_not(None), t.c.booking_date < before.date()),
                and_(t.c.booking_date.is_(None), t.c.updated_at < before),
            ),
            limit,
        )

    async def purge_abandoned_links(self, *, before: datetime, limit: int) -> int:
        """Consent flows that never became a link (pending, abandoned mid-exchange or failed,
        untouched since the cutoff) and have nothing hanging off them."""
        lk = s.links
        dependants = [s.accounts, s.threads, s.consent_receipts]
        where = and_(
            lk.c.status.in_(("pending", "exchanging", "failed")),
            lk.c.updated_at < before,
            *[~exists().where(d.c.link_id == lk.c.id) for d in dependants],
        )
        return await self._delete(lk, where, limit)

    async def purge_digests(self, *, before: datetime, limit: int) -> int:
        h, d = s.held_alerts, s.digests_sent
        deleted = await self._delete(h, and_(h.c.released_at.is_not(None), h.c.released_at < before), limit)
        return deleted + await self._delete(d, d.c.sent_at < before, limit)

    async def purge_receipts(self, *, before: datetime, limit: int) -> int:
        o, c, v, p = s.shop_orders, s.shop_order_charges, s.merchant_order_versions, s.parcels
        old = select(o.c.id, o.c.merchant_slug, o.c.order_ref).where(o.c.updated_at < before).limit(limit)
        rows = (await self._conn.execute(old)).all()
        if rows:
            ids = [r.id for r in rows]
            await self._conn.execute(delete(c).where(c.c.order_id.in_(ids)))
            await self._conn.execute(delete(v).where(tuple_(v.c.merchant_slug, v.c.order_ref).in_(
                [(r.merchant_slug, r.order_ref) for r in rows])))
            await self._conn.execute(delete(o).where(o.c.id.in_(ids)))
        return len(rows) + await self._delete(p, and_(p.c.active == 0, p.c.updated_at < before), limit)

    async def purge_merchant_events(self, *, before: datetime, limit: int) -> int:
        e = s.merchant_events
        keys = select(e.c.merchant_slug, e.c.id).where(e.c.received_at < before).limit(limit)
        result = await self._conn.execute(delete(e).where(tuple_(e.c.merchant_slug, e.c.id).in_(keys)))
        return int(result.rowcount or 0)

    async def purge_bank_dialogue(self, *, before: datetime, limit: int) -> int:
        """Closed prompts, finished outbox rows and bank-message ids older than the cutoff.
        Open prompts and pending requests are never purged."""
        p, o, b = s.prompts, s.bank_outbox, s.bank_messages
        deleted = await self._delete(p, and_(p.c.status != "open", p.c.created_at < before), limit)
        deleted += await self._delete(o, and_(o.c.status != "pending", o.c.updated_at < before), limit)
        keys = select(b.c.partner_id, b.c.bank_message_id).where(b.c.received_at < before).limit(limit)
        pair = tuple_(b.c.partner_id, b.c.bank_message_id)
        result = await self._conn.execute(delete(b).where(pair.in_(keys)))
        return deleted + int(result.rowcount or 0)
