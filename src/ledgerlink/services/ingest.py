"""Bank events in: verify on the raw body, dedupe on the event id, persist, then 2xx.

Verification and parsing happen per request; persistence is group-committed: concurrent
requests share one transaction, and each request is answered only after its row is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.errors import BadRequest, Conflict, DomainError, InvalidInput, NotFound
from ledgerlink.domain.events import (
    AccountSyncRequested,
    BalanceChanged,
    BankEventReceived,
    TransactionChanged,
)
from ledgerlink.domain.privacy import Grant
from ledgerlink.services import access
from ledgerlink.services.deps import Deps
from ledgerlink.services.linking import bank_revoked
from ledgerlink.services.ports import AccountRecord, InboxRecord, PartnerRecord, UnitOfWork
from ledgerlink.services.wire import parse_balance, parse_transaction

log = structlog.get_logger(__name__)

MAX_BODY = 256 * 1024
ACCOUNT_EVENTS = frozenset({"transaction.updated", "transaction.removed", "balance.updated"})
EVENT_TYPES = ACCOUNT_EVENTS | {"consent.revoked"}


class LinkEnded(DomainError):
    """The event is for a link that was revoked: the bank should stop sending (410)."""

    code = "link_revoked"
    status = 410


@dataclass
class _Pending:
    inbox_id: str
    partner_id: str
    event_type: str
    payload: dict[str, Any]
    bank_account_id: str | None
    consent_id: str | None
    future: asyncio.Future[str] = field(repr=False)


def _validate(envelope: Any) -> tuple[str, dict[str, Any], str | None, str | None]:
    """Check the event's shape before anything is stored. Returns type, data, account, consent."""
    if not isinstance(envelope, dict):
        raise InvalidInput("the event must be a JSON object", code="malformed_event")
    event_type = envelope.get("type")
    data = envelope.get("data")
    if not isinstance(event_type, str):
        raise InvalidInput("the event has no string field 'type'", code="malformed_event")
    if event_type not in EVENT_TYPES:
        raise InvalidInput(f"unknown event type {event_type[:64]!r}", code="unknown_event_type")
    if not isinstance(data, dict):
        raise InvalidInput("the event has no object field 'data'", code="malformed_event")
    consent_id = data.get("consent_id")
    if consent_id is not None and not isinstance(consent_id, str):
        raise InvalidInput("data.consent_id must be a string", code="malformed_event")
    if event_type == "consent.revoked":
        if not consent_id:
            raise InvalidInput("data.consent_id is required", code="malformed_event")
        return event_type, data, None, consent_id
    account_id = data.get("account_id")
    if not isinstance(account_id, str) or not account_id:
        raise InvalidInput("data.account_id is required", code="malformed_event")
    if event_type == "transaction.updated":
        txn = parse_transaction(data.get("transaction"), "data.transaction")
        if txn.bank_account_id != account_id:
            raise InvalidInput(
                "data.transaction.account_id differs from data.account_id", code="malformed_event"
            )
    elif event_type == "balance.updated":
        bal = parse_balance(data.get("balance"), "data.balance")
        if bal.bank_account_id != account_id:
            raise InvalidInput("data.balance.account_id differs from data.account_id", code="malformed_event")
    elif not isinstance(data.get("transaction_id"), str):
        raise InvalidInput("data.transaction_id is required", code="malformed_event")
    return event_type, data, account_id, consent_id


class Ingest:
    def __init__(self, deps: Deps, *, max_batch: int = 512) -> None:
        self._deps = deps
        self._max_batch = max_batch
        self._partners: dict[str, PartnerRecord] = {}
        self._queue: asyncio.Queue[_Pending] | None = None
        self._flusher: asyncio.Task[None] | None = None

    def forget_partners(self) -> None:
        self._partners.clear()

    async def _partner(self, slug: str) -> PartnerRecord:
        partner = self._partners.get(slug)
        if partner is None:
            async with self._deps.uow() as uow:
                partner = await uow.partners.by_slug(slug)
            if partner is None:
                raise NotFound("unknown partner", code="unknown_partner")
            self._partners[slug] = partner
        return partner

    async def receive(self, partner_slug: str, body: bytes, headers: Mapping[str, str]) -> str:
        """Accept one signed event. Returns our event id; raises a DomainError otherwise."""
        partner = await self._partner(partner_slug)
        if len(body) > MAX_BODY:
            raise InvalidInput("the event body is larger than 256 KiB", code="payload_too_large")
        self._deps.verifier.verify(partner.webhook_secrets, body, headers)
        try:
            envelope = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(
                f"the body is not valid JSON ({exc.__class__.__name__} at position {getattr(exc, 'pos', 0)})",
                code="malformed_json",
            ) from None
        event_type, data, account_id, consent_id = _validate(envelope)
        webhook_id = next((v for k, v in headers.items() if k.lower() == "webhook-id"), "")
        loop = asyncio.get_running_loop()
        pending = _Pending(
            inbox_id=f"{partner.id}:{webhook_id}",
            partner_id=partner.id,
            event_type=event_type,
            payload={"type": event_type, "data": data},
            bank_account_id=account_id,
            consent_id=consent_id,
            future=loop.create_future(),
        )
        if self._queue is None or self._flusher is None or self._flusher.done():
            self._queue = asyncio.Queue()
            self._flusher = asyncio.create_task(self._flush_forever(self._queue))
        await self._queue.put(pending)
        return await pending.future

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None

    async def _flush_forever(self, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._flush(batch)
            except Exception as exc:
                log.exception("ingest_flush_failed", size=len(batch))
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    async def _resolve(
        self, uow: UnitOfWork, item: _Pending, cache: dict[tuple[str, str], AccountRecord | DomainError]
    ) -> AccountRecord | DomainError | str:
        """The account (or, for consent events, the person id) an event belongs to."""
        if item.bank_account_id is None:
            assert item.consent_id is not None
            link = await uow.links.by_consent(item.partner_id, item.consent_id)
            if link is None:
                return NotFound("no link with that consent", code="unknown_consent")
            return link.person_id
        key = (item.partner_id, item.bank_account_id)
        if key not in cache:
            candidates = await uow.accounts.by_bank_id(*key)
            found: AccountRecord | DomainError = NotFound("unknown account", code="unknown_account")
            for account in candidates:
                link = await uow.links.get(account.link_id)
                if link is None:
                    continue
                if item.consent_id and link.bank_consent_id != item.consent_id:
                    continue
                if link.status == LinkStatus.ACTIVE.value:
                    found = account
                    break
                found = LinkEnded("the link for this account was revoked", code="link_revoked")
            cache[key] = found
        return cache[key]

    async def _flush(self, batch: list[_Pending]) -> None:
        deps = self._deps
        now = deps.clock.now()
        accepted: list[_Pending] = []
        errors: dict[int, DomainError] = {}
        async with deps.uow() as uow:
            cache: dict[tuple[str, str], AccountRecord | DomainError] = {}
            records: list[InboxRecord] = []
            seen: set[str] = set()
            for index, item in enumerate(batch):
                target = await self._resolve(uow, item, cache)
                if isinstance(target, DomainError):
                    errors[index] = target
                    continue
                if item.inbox_id in seen:
                    errors[index] = Conflict("this event id was already received", code="duplicate_event")
                    continue
                seen.add(item.inbox_id)
                person_id = target if isinstance(target, str) else target.person_id
                payload = dict(item.payload)
                if isinstance(target, AccountRecord):
                    payload["account"] = target.id
                sealed = await access.seal_inbox_payload(
                    deps.vault, uow, person_id=person_id, inbox_id=item.inbox_id, payload=payload
                )
                records.append(
                    InboxRecord(
                        id=item.inbox_id,
                        partner_id=item.partner_id,
                        person_id=person_id,
                        event_type=item.event_type,
                        sealed=sealed,
                        received_at=now,
                    )
                )
                accepted.append(item)
            inserted = await uow.inbox.add_many(records)
            await uow.commit()
        for index, error in errors.items():
            batch[index].future.set_exception(error)
        for item in accepted:
            if item.inbox_id in inserted:
                item.future.set_result(item.inbox_id)
                await deps.bus.publish(BankEventReceived(inbox_id=item.inbox_id, partner_id=item.partner_id))
            else:
                item.future.set_exception(
                    Conflict("this event id was already received", code="duplicate_event")
                )


async def process_event(deps: Deps, event: BankEventReceived) -> None:
    """Apply one stored bank event (idempotent: a processed event is skipped)."""
    now = deps.clock.now()
    revoked_consent: str | None = None
    async with deps.uow() as uow:
        record = await uow.inbox.get(event.inbox_id)
        if record is None or record.processed_at is not None or record.person_id is None:
            return
        grant = Grant.for_component(record.person_id, "ingest")
        payload = await access.open_inbox_payload(deps.vault, uow, grant, record, at=now)
        data = payload.get("data", {})
        account = await uow.accounts.get(payload["account"]) if "account" in payload else None
        link = None if account is None else await uow.links.get(account.link_id)
        live = link is not None and link.status == LinkStatus.ACTIVE.value
        if record.event_type == "consent.revoked":
            revoked_consent = str(data["consent_id"])
        elif account is not None and live:
            if record.event_type == "transaction.updated":
                report = parse_transaction(data["transaction"], "data.transaction")
                change = await access.upsert_transaction(deps.vault, uow, grant, account, report, at=now)
                if change.changed:
                    uow.events.append(
                        TransactionChanged(
                            person_id=account.person_id,
                            transaction_id=change.transaction.id,
                            created=change.created,
                        )
                    )
            elif record.event_type == "transaction.removed":
                removed = await access.remove_transaction(
                    deps.vault, uow, grant, account, str(data["transaction_id"]), at=now
                )
                if removed is not None:
                    uow.events.append(
                        TransactionChanged(
                            person_id=account.person_id, transaction_id=removed.transaction.id, created=False
                        )
                    )
            elif record.event_type == "balance.updated" and await access.store_balance(
                deps.vault, uow, account, parse_balance(data["balance"], "data.balance")
            ):
                uow.events.append(BalanceChanged(person_id=account.person_id, account_id=account.id))
            # Reconcile too: whatever this event said, the bank's change log is the truth.
            uow.events.append(AccountSyncRequested(account_id=account.id))
        await uow.inbox.mark_processed(record.id, now)
        await deps.commit_and_publish(uow)
    if revoked_consent is not None:
        try:
            await bank_revoked(deps, partner_id=event.partner_id, consent_id=revoked_consent)
        except NotFound:
            log.info("revoked_consent_unknown", partner_id=event.partner_id)


async def replay_unprocessed(deps: Deps) -> int:
    """After a restart: process what was stored but not yet applied."""
    async with deps.uow() as uow:
        records = await uow.inbox.unprocessed(limit=10_000)
    for record in records:
        await deps.bus.publish(BankEventReceived(inbox_id=record.id, partner_id=record.partner_id))
    return len(records)
