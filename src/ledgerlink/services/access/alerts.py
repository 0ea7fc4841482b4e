"""Alert rules, digest settings and held alerts: sealed per person, read for alerting only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledgerlink.domain.alerts import AlertRule, HeldAlertView
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.alerts.ports import AlertRuleRecord, DigestSettingsRecord, HeldAlertRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.ports import ThreadRecord

_ALERT_PURPOSES = frozenset({Purpose.DELIVER_UPDATE, Purpose.SHOW_TO_PERSON})


async def store_alert_rule(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    *,
    kind: str,
    params: dict[str, Any],
    at: datetime,
    account_id: str | None = None,
    enabled: bool = True,
    rule_id: str | None = None,
) -> AlertRule:
    """Add a rule, or replace one of the grant's rules (`rule_id`). Parameters are sealed:
    merchant names and thresholds say a lot about a person."""

    if account_id is not None:
        account = await uow.accounts.get(account_id)
        if account is None:
            raise NotFound("account not found")
        _mine(grant, account.person_id, "account")
    existing = None
    if rule_id is not None:
        mine = await uow.alert_rules.for_person(grant.person_id)
        existing = next((r for r in mine if r.id == rule_id), None)
        if existing is None:
            raise NotFound("alert rule not found")
    new_rule_id = rule_id or new_id("alr")
    record = AlertRuleRecord(
        id=new_rule_id,
        person_id=grant.person_id,
        kind=kind,
        account_id=account_id,
        sealed=await vault.seal(grant.person_id, params, table="alert_rules", row_id=new_rule_id),
        enabled=int(enabled),
        created_at=at if existing is None else existing.created_at,
        updated_at=at,
    )
    if existing is None:
        await uow.alert_rules.add(record)
    else:
        await uow.alert_rules.update(record)
    return AlertRule(id=record.id, kind=kind, account_id=account_id, params=params, enabled=enabled)


async def read_alert_rules(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, at: datetime
) -> list[AlertRule]:
    """The grant's own alert rules, opened. Only to deliver an alert or show them to the person."""
    if purpose not in _ALERT_PURPOSES:
        raise ValueError(f"alert rules are not read for {purpose.value}")
    records = await uow.alert_rules.for_person(grant.person_id)
    rules = [
        AlertRule(
            id=r.id,
            kind=r.kind,
            account_id=r.account_id,
            params=await vault.open(r.person_id, r.sealed, table="alert_rules", row_id=r.id),
            enabled=bool(r.enabled),
        )
        for r in records
    ]
    if rules:
        subject = f"alert_rules:{len(rules)}"
        await audit(uow, grant, purpose, action="read_alert_rules", subject=subject, at=at)
    return rules


_DIGEST_PURPOSES = frozenset({Purpose.DELIVER_UPDATE, Purpose.SHOW_TO_PERSON})


async def store_digest_settings(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    *,
    settings: dict[str, Any] | None,
    next_due_at: datetime | None,
    at: datetime,
) -> None:
    """Keep the person's digest choice, sealed (an hour and a UTC offset say where someone
    lives); `None` turns digests off. `next_due_at` is kept in clear for the scheduler."""
    if settings is None:
        await uow.digests.delete_settings(grant.person_id)
        return
    if next_due_at is None:
        raise ValueError("a digest that is on needs its next due instant")
    sealed = await vault.seal(grant.person_id, settings, table="digest_settings", row_id=grant.person_id)
    await uow.digests.put_settings(
        DigestSettingsRecord(person_id=grant.person_id, sealed=sealed, next_due_at=next_due_at, updated_at=at)
    )


async def read_digest_settings(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, at: datetime
) -> dict[str, Any] | None:
    """The grant's digest settings, opened; None when digests are off."""
    if purpose not in _DIGEST_PURPOSES:
        raise ValueError(f"digest settings are not read for {purpose.value}")
    record = await uow.digests.settings(grant.person_id)
    if record is None:
        return None
    value = await vault.open(grant.person_id, record.sealed, table="digest_settings", row_id=grant.person_id)
    await audit(uow, grant, purpose, action="read_digest_settings", subject="digest_settings", at=at)
    return value


async def hold_alert(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    thread: ThreadRecord,
    *,
    subject_key: str,
    kind: str,
    text: str,
    release_after: datetime,
    at: datetime,
) -> bool:
    """Keep an alert raised during quiet hours for the next digest instead of sending it.
    False when the same fact is held already."""
    _mine(grant, thread.person_id, "thread")
    held_id = new_id("hld")
    value = {"kind": kind, "text": text}
    sealed = await vault.seal(thread.person_id, value, table="held_alerts", row_id=held_id)
    return await uow.digests.hold(
        HeldAlertRecord(
            id=held_id,
            person_id=thread.person_id,
            thread_id=thread.id,
            subject_key=subject_key,
            sealed=sealed,
            held_at=at,
            release_after=release_after,
        )
    )


async def release_held_alerts(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    *,
    held_before: datetime,
    released_in: str,
    at: datetime,
    release_due: datetime | None = None,
) -> list[HeldAlertView]:
    """Take the grant's held alerts out of holding to put them in a digest, opened (purpose
    deliver_update). Each is released once, also between processes; its sealed text is then
    dropped, as the digest message carries it."""
    rows = await uow.digests.held_pending(grant.person_id, held_before=held_before, release_due=release_due)
    released = await uow.digests.release([r.id for r in rows], at=at, released_in=released_in)
    views = []
    for r in rows:
        if r.id not in released or r.sealed is None:
            continue
        value = await vault.open(r.person_id, r.sealed, table="held_alerts", row_id=r.id)
        views.append(HeldAlertView(id=r.id, thread_id=r.thread_id, kind=str(value["kind"]),
                                   text=str(value["text"]), held_at=r.held_at))
    if views:
        await audit(uow, grant, Purpose.DELIVER_UPDATE, action="read_held_alerts",
                    subject=f"held_alerts:{len(views)} {released_in}", at=at)
    return views
