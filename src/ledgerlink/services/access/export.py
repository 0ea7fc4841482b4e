"""Everything a person can take away (export): every kind of their data, opened in one pass
and audited as one `export` read (docs/export.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledgerlink.domain.banking import (
    AccountView,
    Transaction,
)
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import audit
from ledgerlink.services.access.accounts import _account_view, _open_txn
from ledgerlink.services.access.messages import _open_message
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.dialogue.ports import BankOutboxRecord, PromptRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.ports import MessageView

_EVERYTHING = 2**31 - 1  # an export is complete: no page limit


@dataclass(frozen=True, slots=True)
class ExportedAlertRule:
    """An alert rule with its parameters opened, as the person set them (plus the `state`
    row the platform keeps for them: accounts below their threshold, "Not helpful" counts)."""

    id: str
    kind: str
    account_id: str | None
    params: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedDigest:
    settings: dict[str, Any]  # frequency, hour, weekday, utc_offset (digests.Schedule.params)
    next_due_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedChannel:
    """A channel as the settings page shows it. Its sealed config also holds the webhook
    signing secret, which is why only the target is taken out of it here."""

    id: str
    kind: str
    target: str
    status: str
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportData:
    """What an export opened or read. Everything after `messages` is empty (None) when one
    account is exported."""

    accounts: list[AccountView]
    transactions: list[Transaction]
    messages: list[MessageView]
    alert_rules: list[ExportedAlertRule]
    digest: ExportedDigest | None
    channels: list[ExportedChannel]
    prompts: list[PromptRecord]  # ids and states only: nothing sealed
    bank_requests: list[BankOutboxRecord]  # ids and states only: the signed body is never stored


async def _alert_rules_for_export(vault: Vault, uow: UnitOfWork, person_id: str) -> list[ExportedAlertRule]:
    return [
        ExportedAlertRule(
            id=r.id, kind=r.kind, account_id=r.account_id,
            params=await vault.open(r.person_id, r.sealed, table="alert_rules", row_id=r.id),
            enabled=bool(r.enabled), created_at=r.created_at, updated_at=r.updated_at,
        )
        for r in await uow.alert_rules.for_person(person_id)
    ]  # fmt: skip


async def _digest_for_export(vault: Vault, uow: UnitOfWork, person_id: str) -> ExportedDigest | None:
    record = await uow.digests.settings(person_id)
    if record is None:
        return None  # digests are off: no row is kept
    settings = await vault.open(person_id, record.sealed, table="digest_settings", row_id=person_id)
    return ExportedDigest(settings=settings, next_due_at=record.next_due_at, updated_at=record.updated_at)


def channel_target(config: dict[str, Any]) -> str:
    """What the person sees of a channel (settings page, export): its URL, address or Matrix
    ID; the rest of the config, such as a webhook's signing secret, is not part of it."""
    return str(config.get("url") or config.get("address") or config.get("mxid") or "")


async def _channels_for_export(vault: Vault, uow: UnitOfWork, person_id: str) -> list[ExportedChannel]:
    channels = []
    for c in await uow.channels.for_person(person_id):
        config = await vault.open(c.person_id, c.sealed, table="person_channels", row_id=c.id)
        channels.append(ExportedChannel(
            id=c.id, kind=c.kind, target=channel_target(config), status=c.status,
            disabled_reason=c.disabled_reason, created_at=c.created_at, updated_at=c.updated_at,
        ))  # fmt: skip
    return channels


async def _messages_for_export(vault: Vault, uow: UnitOfWork, person_id: str) -> list[MessageView]:
    messages: list[MessageView] = []
    for thread in await uow.threads.for_person(person_id):
        rows = await uow.threads.latest_messages(thread.id, limit=max(thread.last_seq, 1))
        messages.extend([await _open_message(vault, uow, m) for m in rows])
    return messages


def _export_subject(data: ExportData, account_id: str | None) -> str:
    """Counts (and the one account's id) for the audit entry: never a value."""
    counts = {"accounts": len(data.accounts), "transactions": len(data.transactions),
              "messages": len(data.messages)}  # fmt: skip
    if account_id is None:
        counts |= {"alert_rules": len(data.alert_rules), "digest": int(data.digest is not None),
                   "channels": len(data.channels), "prompts": len(data.prompts),
                   "bank_requests": len(data.bank_requests)}  # fmt: skip
    subject = " ".join(f"{name}:{count}" for name, count in counts.items())
    return subject if account_id is None else f"{subject} account:{account_id}"


async def read_for_export(
    vault: Vault, uow: UnitOfWork, grant: Grant, *, at: datetime, account_id: str | None = None
) -> ExportData:
    """Everything held about the person (or one of their accounts), opened for an export
    they asked for. Only the person may export; one audit entry counts what left."""
    if grant.actor != f"person:{grant.person_id}":
        raise NotFound("person not found")
    person_id = grant.person_id
    records = await uow.accounts.for_person(person_id)
    if account_id is not None:
        records = [r for r in records if r.id == account_id]
        if not records:
            raise NotFound("account not found")
    accounts = [await _account_view(vault, uow, r) for r in records]
    transactions: list[Transaction] = []
    for r in records:
        rows = await uow.transactions.for_account(r.id, limit=_EVERYTHING)
        transactions.extend([await _open_txn(vault, uow, t) for t in reversed(rows)])
    if account_id is not None:
        data = ExportData(
            accounts=accounts, transactions=transactions, messages=[],
            alert_rules=[], digest=None, channels=[], prompts=[], bank_requests=[],
        )  # fmt: skip
    else:
        data = ExportData(
            accounts=accounts, transactions=transactions,
            messages=await _messages_for_export(vault, uow, person_id),
            alert_rules=await _alert_rules_for_export(vault, uow, person_id),
            digest=await _digest_for_export(vault, uow, person_id),
            channels=await _channels_for_export(vault, uow, person_id),
            prompts=await uow.prompts.for_person(person_id),
            bank_requests=await uow.bank_outbox.for_person(person_id),
        )  # fmt: skip
    subject = _export_subject(data, account_id)
    await audit(uow, grant, Purpose.PERSON_EXPORT, action="export_person", subject=subject, at=at)
    return data
