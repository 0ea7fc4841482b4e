"""The person's rights over their data: erasure, export, and the settings behind them."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog

from ledgerlink.domain.banking import LinkStatus, Transaction
from ledgerlink.domain.cards import DISCLOSURE_LEVELS, account_label, plain_text, transaction_category
from ledgerlink.domain.categories import Correction
from ledgerlink.domain.errors import DomainError, InvalidInput, NotFound
from ledgerlink.domain.events import ChannelRemoved
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.text import displayable_tree
from ledgerlink.services import access
from ledgerlink.services.dialogue.ports import BankOutboxRecord, PromptRecord
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking import links
from ledgerlink.services.linking.ports import LinkRecord
from ledgerlink.services.messaging.platform_channels import chat_address
from ledgerlink.services.messaging.platform_ports import PLATFORMS
from ledgerlink.services.privacy import export_receipts

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ErasureReport:
    person_id: str
    links_revoked: int
    key_destroyed: bool
    rows_deleted: dict[str, int]
    shop_links_revoked: int = 0


async def erase_person(deps: Deps, grant: Grant) -> ErasureReport:
    """Erase everything about the person who holds `grant`.

    Order matters for the promise: banks are told first (their tokens die), then the data key
    is destroyed (from that moment every copy of the sealed data, backups included, is
    unreadable), then the rows go. A crash between steps leaves unreadable rows that a retry
    removes; it never leaves readable data behind."""
    if not grant.actor.startswith("person:"):
        raise NotFound("person not found")  # only the person may erase themselves
    async with deps.uow() as uow:
        person = await uow.persons.get(grant.person_id)
        person_links = await uow.links.for_person(grant.person_id)
    if person is None or person.erased_at is not None:
        raise NotFound("person not found")
    revoked = 0
    for link in person_links:
        if link.status == LinkStatus.ACTIVE.value:
            with contextlib.suppress(DomainError):
                await links.unlink(deps, grant, link_id=link.id)
                revoked += 1
    shops_told = 0
    if deps.shop_links is not None:  # shops too (RFC 7009), while the key still opens their tokens
        for consent in await deps.shop_links.consents(grant):
            if consent["status"] == "active":
                with contextlib.suppress(DomainError):
                    await deps.shop_links.revoke(grant, str(consent["id"]), purpose=Purpose.PERSON_ERASURE)
                    shops_told += 1
    async with deps.uow() as uow:  # the bot leaves the person's Matrix rooms once they are gone
        records = await uow.channels.for_person(grant.person_id)
        channels_ = {c.id: c.kind for c in records}
        rooms: dict[str, list[str]] = {}
        for room in await uow.matrix.rooms_of_person(grant.person_id):
            rooms.setdefault(room.channel_id, []).append(room.room_id)
        # Messenger and WhatsApp chats: read now, while the key still opens them (ADR 0023).
        chats = [c for c in records if c.kind in PLATFORMS]
        configs = await access.open_channel_configs(deps.vault, uow, grant, Purpose.PERSON_ERASURE, chats,
                                                    at=deps.clock.now()) if chats else {}
        addresses = {c.id: chat_address(c.kind, configs[c.id]) for c in chats if c.id in configs}
        await uow.commit()  # the read's audit entry
    destroyed = await deps.vault.destroy_key(grant.person_id)
    now = deps.clock.now()
    async with deps.uow() as uow:
        for channel_id, kind in channels_.items():
            uow.events.append(ChannelRemoved(person_id=grant.person_id, channel_id=channel_id, kind=kind,
                                             rooms=tuple(rooms.get(channel_id, ())),
                                             address=addresses.get(channel_id)))
        deleted = await uow.persons.erase(grant.person_id, now)
        await access.audit(
            uow,
            grant,
            Purpose.PERSON_ERASURE,
            action="erase_person",
            subject=f"person:{grant.person_id}",
            at=now,
        )
        await deps.commit_and_publish(uow)
    log.info("person_erased", person_id=grant.person_id, links_revoked=revoked, shop_links_revoked=shops_told)
    return ErasureReport(
        person_id=grant.person_id, links_revoked=revoked, key_destroyed=destroyed, rows_deleted=deleted,
        shop_links_revoked=shops_told,
    )


# --------------------------------------------------------------------------- export

EXPORT_FORMAT = "ledgerlink-export"
EXPORT_VERSION = 1


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _account_json(view: access.AccountView, bank: str | None) -> dict[str, Any]:
    b = view.balance
    return {
        "id": view.id, "link_id": view.link_id, "bank": bank, "name": view.name,
        "type": view.type.value, "currency": view.currency, "last4": view.last4,
        "balance": None if b is None else {
            "current": str(b.current.amount),
            "available": None if b.available is None else str(b.available.amount),
            "currency": b.current.currency, "as_of": b.as_of.isoformat(),
        },
    }  # fmt: skip


def _transaction_json(txn: Transaction, said: Mapping[str, Correction] | None = None) -> dict[str, Any]:
    """`said`: the person's category corrections, so the export files a purchase as the thread
    does (their word, then merchant rules, then the MCC); without them, as the rules alone do."""
    return {
        "id": txn.id, "account_id": txn.account_id, "bank_transaction_id": txn.source_key,
        "pending_bank_transaction_id": txn.pending_source_key, "status": txn.status.value,
        "amount": str(txn.amount.amount), "currency": txn.amount.currency,
        "booking_date": _iso(txn.booking_date), "value_date": _iso(txn.value_date),
        "merchant": txn.merchant, "descriptor": txn.descriptor, "mcc": txn.mcc,
        "category": transaction_category(txn, said), "created_at": txn.created_at.isoformat(),
        "updated_at": txn.updated_at.isoformat(), "status_history": list(txn.history),
        "merchant_country": txn.merchant_country, "card_present": txn.card_present,  # message templates
        "note": txn.note,  # the person's own note (issue 13), opened from its sealed row
    }  # fmt: skip


def _link_json(link: LinkRecord, bank: str | None) -> dict[str, Any]:
    # Never the sealed secrets (tokens, PKCE verifier) nor the OAuth state.
    return {
        "id": link.id, "bank": bank, "status": link.status, "scopes": list(link.scopes),
        "bank_consent_id": link.bank_consent_id, "created_at": _iso(link.created_at),
        "updated_at": _iso(link.updated_at), "expires_at": _iso(link.expires_at),
        "revoked_at": _iso(link.revoked_at), "revoked_by": link.revoked_by,
        "failure_code": link.failure_code,
    }  # fmt: skip


async def _receipts_json(uow: UnitOfWork, person_id: str) -> list[dict[str, Any]]:
    """Consent receipt metadata (the signed receipts themselves are on the receipts page)."""
    return [
        {"id": r.id, "link_id": r.link_id, "issued_at": r.issued_at.isoformat(),
         "expires_at": r.expires_at.isoformat()}
        for r in await uow.receipts.for_person(person_id)
    ]


def _alert_rule_json(rule: access.ExportedAlertRule, currencies: dict[str, str]) -> dict[str, Any]:
    """A rule as the person set it. An amount is meant in its account's currency; a rule for
    every account has none (its amount applies in each account's own currency)."""
    currency = None if rule.account_id is None else currencies.get(rule.account_id)
    return {
        "id": rule.id, "kind": rule.kind, "account_id": rule.account_id, "currency": currency,
        "enabled": rule.enabled, "params": rule.params, "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }  # fmt: skip


def _digest_json(digest: access.ExportedDigest | None) -> dict[str, Any] | None:
    if digest is None:
        return None  # off
    s = digest.settings
    return {
        "frequency": s.get("frequency"), "hour": s.get("hour"), "weekday": s.get("weekday"),
        "utc_offset": s.get("utc_offset"), "next_due_at": digest.next_due_at.isoformat(),
        "updated_at": digest.updated_at.isoformat(),
    }  # fmt: skip


def _channel_json(channel: access.ExportedChannel) -> dict[str, Any]:
    # `access` hands out the target only: the webhook signing secret never gets this far.
    return {
        "id": channel.id, "kind": channel.kind, "target": channel.target, "status": channel.status,
        "disabled_reason": channel.disabled_reason, "created_at": channel.created_at.isoformat(),
        "updated_at": channel.updated_at.isoformat(),
    }  # fmt: skip


def _prompt_json(prompt: PromptRecord, bank: str | None) -> dict[str, Any]:
    """A "Was this you?" question: what the bank asked about is in the card (`message_id`)."""
    return {
        "id": prompt.id, "kind": prompt.kind, "bank": bank, "link_id": prompt.link_id,
        "account_id": prompt.account_id, "bank_alert_id": prompt.bank_ref, "thread_id": prompt.thread_id,
        "message_id": prompt.message_id, "reminder_message_id": prompt.reminder_message_id,
        "status": prompt.status, "answer": prompt.answer, "answered_via": prompt.answered_via,
        "answered_at": _iso(prompt.answered_at), "created_at": prompt.created_at.isoformat(),
        "remind_at": _iso(prompt.remind_at), "reminded_at": _iso(prompt.reminded_at),
        "expires_at": prompt.expires_at.isoformat(),
    }  # fmt: skip


def _bank_request_json(row: BankOutboxRecord, bank: str | None) -> dict[str, Any]:
    """A request sent to a bank on the person's behalf. The signed body is built when it is
    sent and never stored; a service message's text is the person's message in its thread."""
    return {
        "id": row.id, "kind": row.kind, "bank": bank, "link_id": row.link_id,
        "prompt_id": row.ref if row.kind == "fraud_answer" else None, "status": row.status,
        "outcome": row.outcome, "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }  # fmt: skip


def _require_person(grant: Grant) -> None:
    if grant.actor != f"person:{grant.person_id}":
        raise NotFound("person not found")  # only the person may export their data


async def export_person(deps: Deps, grant: Grant) -> dict[str, Any]:
    """Everything held about the person, as JSON-ready data (schema: docs/export-schema.json).
    Money is a decimal string, instants are ISO 8601 UTC; no bank tokens, channel secrets or
    signed requests are included."""
    _require_person(grant)
    now = deps.clock.now()
    async with deps.uow() as uow:
        person = await uow.persons.get(grant.person_id)
        if person is None or person.erased_at is not None:
            raise NotFound("person not found")
        data = await access.read_for_export(deps.vault, uow, grant, at=now)
        shop_orders = await export_receipts.shop_orders_json(deps.vault, uow, grant, at=now)  # issue 11
        parcels = await export_receipts.parcels_json(deps.vault, uow, grant, data.messages, at=now)
        shop_links = await export_receipts.shop_links_json(uow, grant.person_id)
        shop_consents = await export_receipts.shop_consents_json(uow, grant.person_id)
        shop_aliases = await export_receipts.shop_aliases_json(deps.vault, uow, grant, at=now)
        said = await access.read_corrections(deps.vault, uow, grant, Purpose.PERSON_EXPORT, at=now)
        banks = {p.id: p.name for p in await uow.partners.all()}
        person_links = await uow.links.for_person(grant.person_id)
        threads = await uow.threads.for_person(grant.person_id)
        receipts = await _receipts_json(uow, grant.person_id)
        audit_rows = await uow.audit.for_person(grant.person_id, limit=2**31 - 1)
        await uow.commit()  # the export's own audit entry
    by_thread: dict[str, list[dict[str, Any]]] = {t.id: [] for t in threads}
    for m in sorted(data.messages, key=lambda m: (m.thread_id, m.seq)):
        by_thread[m.thread_id].append({
            "id": m.id, "seq": m.seq, "rev": m.rev, "kind": m.kind.value,
            "created_at": m.created_at.isoformat(), "edited_at": _iso(m.edited_at),
            "text": plain_text(m.kind, m.body), "body": m.body,
        })  # fmt: skip
    currencies = {a.id: a.currency for a in data.accounts}
    # Every string as it can be shown and encoded: one bad stored row (a lone surrogate, a
    # control or bidi character) must never take the person's export down.
    return displayable_tree({
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "exported_at": now.isoformat(),
        "person": {"id": person.id, "handle": person.handle, "display_name": person.display_name,
                   "created_at": person.created_at.isoformat(), "disclosure": person.disclosure},
        "links": [_link_json(lk, banks.get(lk.partner_id)) for lk in person_links],
        "accounts": [_account_json(a, banks.get(a.partner_id)) for a in data.accounts],
        "transactions": [_transaction_json(t, said) for t in data.transactions],
        "threads": [{"id": t.id, "kind": t.kind, "title": t.title, "link_id": t.link_id,
                     "created_at": t.created_at.isoformat(), "messages": by_thread[t.id]}
                    for t in threads],
        "consent_receipts": receipts,
        "audit": [{"seq": a.seq, "at": a.at.isoformat(), "actor": a.actor, "purpose": a.purpose,
                   "action": a.action, "subject": a.subject, "leaf_hash": a.leaf_hash}
                  for a in sorted(audit_rows, key=lambda a: a.seq)],
        "alert_rules": [_alert_rule_json(r, currencies) for r in data.alert_rules],
        "digest": _digest_json(data.digest),
        "channels": [_channel_json(c) for c in data.channels],
        "fraud_prompts": [_prompt_json(p, banks.get(p.partner_id)) for p in data.prompts],
        "bank_requests": [_bank_request_json(r, banks.get(r.partner_id)) for r in data.bank_requests],
        "shop_links": shop_links, "shop_consents": shop_consents, "shop_aliases": shop_aliases,
        "shop_orders": shop_orders, "parcels": parcels,  # shops, receipts and parcels (issue 11)
    })  # fmt: skip


async def export_account(deps: Deps, grant: Grant, account_id: str) -> dict[str, Any]:
    """One account and all its transactions (for the OFX statement). Someone else's -> NotFound."""
    _require_person(grant)
    now = deps.clock.now()
    async with deps.uow() as uow:
        data = await access.read_for_export(deps.vault, uow, grant, at=now, account_id=account_id)
        said = await access.read_corrections(deps.vault, uow, grant, Purpose.PERSON_EXPORT, at=now)
        banks = {p.id: p for p in await uow.partners.all()}
        await uow.commit()
    [account] = data.accounts
    bank = banks.get(account.partner_id)
    return displayable_tree({
        "exported_at": now.isoformat(),
        "bank": {"slug": bank.slug if bank else "bank", "name": bank.name if bank else "Bank"},
        "account": _account_json(account, bank.name if bank else None),
        "transactions": [_transaction_json(t, said) for t in data.transactions],
    })


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class ConsentView:
    link_id: str
    bank: str
    status: str
    scopes: list[str]
    accounts: list[str]  # "Everyday Checking ••1234": the name and the last four only
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


async def consents(deps: Deps, grant: Grant) -> list[ConsentView]:
    """Every bank link the person ever made, newest first (read to show them, audited)."""
    async with deps.uow() as uow:
        views = await access.read_accounts(
            deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, at=deps.clock.now()
        )
        person_links = await uow.links.for_person(grant.person_id)
        banks = {p.id: p.name for p in await uow.partners.all()}
        await uow.commit()
    return [
        ConsentView(
            link_id=lk.id, bank=banks.get(lk.partner_id, "Bank"), status=lk.status,
            scopes=list(lk.scopes), accounts=[account_label(v) for v in views if v.link_id == lk.id],
            created_at=lk.created_at, expires_at=lk.expires_at, revoked_at=lk.revoked_at,
        )
        for lk in reversed(person_links)
        if lk.status not in (LinkStatus.PENDING.value, LinkStatus.EXCHANGING.value)
    ]


@dataclass(frozen=True, slots=True)
class AccountRef:
    id: str
    last4: str


async def downloadable_accounts(deps: Deps, grant: Grant) -> list[AccountRef]:
    """The person's accounts that have an OFX statement (ids and last four: no data opened)."""
    async with deps.uow() as uow:
        return [AccountRef(a.id, a.last4) for a in await uow.accounts.for_person(grant.person_id)]


async def set_disclosure(deps: Deps, grant: Grant, level: str) -> None:
    """How much notification previews may say (see `cards.preview_text`)."""
    if level not in DISCLOSURE_LEVELS:
        raise InvalidInput("unknown disclosure level", code="bad_disclosure")
    async with deps.uow() as uow:
        person = await uow.persons.get(grant.person_id)
        if person is None or person.erased_at is not None or grant.actor != f"person:{grant.person_id}":
            raise NotFound("person not found")
        await uow.persons.set_disclosure(grant.person_id, level)
        await uow.commit()
