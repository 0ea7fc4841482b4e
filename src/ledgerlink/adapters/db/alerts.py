"""SQL repositories of alerts: alert rules, digests and held alerts (see
`AlertRuleRepository`, `DigestRepository` in ledgerlink.services.alerts.ports)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo, _values
from ledgerlink.adapters.db.lean import lean
from ledgerlink.services.alerts.ports import AlertRuleRecord, DigestSettingsRecord, HeldAlertRecord

_FOR_PERSON = lean(  # read on every delivered transaction: built once (see _repo.py)
    select(s.alert_rules)
    .where(s.alert_rules.c.person_id == bindparam("person_id"))
    .order_by(s.alert_rules.c.created_at, s.alert_rules.c.id)
)
_IS_HELD = lean(  # asked before every alert sent (an insight per charge in a burst): built once
    select(exists().where(s.held_alerts.c.thread_id == bindparam("thread_id"),
                          s.held_alerts.c.subject_key == bindparam("subject_key")))
)


class SqlAlertRules(_Repo):
    """Alert rules per person (parameters sealed)."""

    async def add(self, rule: AlertRuleRecord) -> None:
        await self._conn.execute(insert(s.alert_rules).values(**_values(rule, s.alert_rules)))

    async def update(self, rule: AlertRuleRecord) -> None:
        await self._conn.execute(
            update(s.alert_rules)
            .where(s.alert_rules.c.id == rule.id, s.alert_rules.c.person_id == rule.person_id)
            .values(
                kind=rule.kind,
                account_id=rule.account_id,
                sealed=rule.sealed,
                enabled=rule.enabled,
                updated_at=rule.updated_at,
            )
        )

    async def delete(self, person_id: str, rule_id: str) -> bool:
        result = await self._conn.execute(
            delete(s.alert_rules).where(s.alert_rules.c.id == rule_id, s.alert_rules.c.person_id == person_id)
        )
        return bool(result.rowcount)

    async def for_person(self, person_id: str) -> list[AlertRuleRecord]:
        return await self._many(AlertRuleRecord, _FOR_PERSON, {"person_id": person_id})


class SqlDigests(_Repo):
    def _insert(self, table: Any) -> Any:
        """INSERT with ON CONFLICT, in the dialect at hand."""
        return (postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert)(table)

    # ------------------------------------------------------------------ settings

    async def settings(self, person_id: str) -> DigestSettingsRecord | None:
        d = s.digest_settings
        return await self._one(DigestSettingsRecord, select(d).where(d.c.person_id == person_id))

    async def put_settings(self, record: DigestSettingsRecord) -> None:
        d = s.digest_settings
        stmt = self._insert(d).values(**_values(record, d))
        stmt = stmt.on_conflict_do_update(
            index_elements=[d.c.person_id],
            set_={
                "sealed": stmt.excluded.sealed,
                "next_due_at": stmt.excluded.next_due_at,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        await self._conn.execute(stmt)

    async def delete_settings(self, person_id: str) -> bool:
        d = s.digest_settings
        result = await self._conn.execute(delete(d).where(d.c.person_id == person_id))
        return bool(result.rowcount)

    async def set_next_due(self, person_id: str, at: datetime) -> None:
        d = s.digest_settings
        await self._conn.execute(update(d).where(d.c.person_id == person_id).values(next_due_at=at))

    async def due(self, now: datetime, *, limit: int = 500) -> list[str]:
        d = s.digest_settings
        stmt = select(d.c.person_id).where(d.c.next_due_at <= now).order_by(d.c.next_due_at).limit(limit)
        return [row[0] for row in (await self._conn.execute(stmt)).all()]

    # ------------------------------------------------------------------ periods sent

    async def claim_period(self, *, digest_id: str, person_id: str, period_key: str, at: datetime) -> bool:
        t = s.digests_sent
        stmt = self._insert(t).values(id=digest_id, person_id=person_id, period_key=period_key, sent_at=at)
        # RETURNING, not rowcount: the row that came back is the proof this call inserted it.
        stmt = stmt.on_conflict_do_nothing(index_elements=[t.c.person_id, t.c.period_key]).returning(t.c.id)
        return (await self._conn.execute(stmt)).first() is not None

    # ------------------------------------------------------------------ held alerts

    async def hold(self, record: HeldAlertRecord) -> bool:
        h = s.held_alerts
        stmt = (
            self._insert(h)
            .values(**_values(record, h))
            .on_conflict_do_nothing(index_elements=[h.c.thread_id, h.c.subject_key])
            .returning(h.c.id)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def is_held(self, thread_id: str, subject_key: str) -> bool:
        result = await self._conn.execute(_IS_HELD, {"thread_id": thread_id, "subject_key": subject_key})
        return bool(result.scalar())

    async def held_pending(
        self, person_id: str, *, held_before: datetime, release_due: datetime | None = None
    ) -> list[HeldAlertRecord]:
        h = s.held_alerts
        stmt = select(h).where(
            h.c.person_id == person_id, h.c.released_at.is_(None), h.c.held_at <= held_before
        )
        if release_due is not None:
            stmt = stmt.where(h.c.release_after <= release_due)
        return await self._many(HeldAlertRecord, stmt.order_by(h.c.held_at, h.c.id))

    async def release(self, ids: Sequence[str], *, at: datetime, released_in: str) -> set[str]:
        if not ids:
            return set()
        h = s.held_alerts
        # The WHERE is re-checked after a concurrent release commits (PostgreSQL), so each
        # row is released by exactly one caller.
        stmt = (
            update(h)
            .where(h.c.id.in_(list(ids)), h.c.released_at.is_(None))
            .values(released_at=at, released_in=released_in, sealed=None)
            .returning(h.c.id)
        )
        return {row[0] for row in (await self._conn.execute(stmt)).all()}

    async def away_due(self, now: datetime, *, limit: int = 500) -> list[str]:
        h, d = s.held_alerts, s.digest_settings
        stmt = (
            select(h.c.person_id)
            .where(
                h.c.released_at.is_(None),
                h.c.release_after <= now,
                ~exists().where(d.c.person_id == h.c.person_id),
            )
            .distinct()
            .limit(limit)
        )
        return [row[0] for row in (await self._conn.execute(stmt)).all()]
