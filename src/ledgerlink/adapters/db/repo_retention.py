"""SQL repository for retention (see `ledgerlink.services.privacy.retention.RetentionRepository`).

Each method deletes at most `limit` expired rows in one statement (ids picked by a bounded
subquery), so one purge batch holds the write lock only briefly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, tuple_

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.repositories import _Repo


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
        """Consent flows that never became a link (pending or failed, untouched since the
        cutoff) and have nothing hanging off them."""
        lk = s.links
        dependants = [s.accounts, s.threads, s.consent_receipts]
        where = and_(
            lk.c.status.in_(("pending", "failed")),
            lk.c.updated_at < before,
            *[~exists().where(d.c.link_id == lk.c.id) for d in dependants],
        )
        return await self._delete(lk, where, limit)

    async def purge_digests(self, *, before: datetime, limit: int) -> int:
        h, d = s.held_alerts, s.digests_sent
        deleted = await self._delete(h, and_(h.c.released_at.is_not(None), h.c.released_at < before), limit)
        return deleted + await self._delete(d, d.c.sent_at < before, limit)

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
