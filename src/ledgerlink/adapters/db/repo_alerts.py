"""SQL repository of alert rules (see `AlertRuleRepository` in ledgerlink.services.ports)."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, select, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.lean import lean
from ledgerlink.adapters.db.repositories import _Repo, _values
from ledgerlink.services.alerts.ports import AlertRuleRecord

_FOR_PERSON = lean(  # read on every delivered transaction: built once (see repositories.py)
    select(s.alert_rules)
    .where(s.alert_rules.c.person_id == bindparam("person_id"))
    .order_by(s.alert_rules.c.created_at, s.alert_rules.c.id)
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
