"""Bank events in: verify on the raw body, dedupe on the event id, persist, then 2xx.

Verification and parsing happen per request; persistence is group-committed: concurrent
requests share one transaction, and each request is answered only after its row is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.errors import BadRequest, Conflict, DomainError, InvalidInput, NotFound
from ledgerlink.domain.events import (
    AccountSyncRequested,
    BalanceChanged,
    BankEventsReceived,
    LinkRevoked,
    TransactionChanged,
)
from ledgerlink.domain.privacy import Grant
from ledgerlink.services import access
from ledgerlink.services.ingest.account_events import HANDLERS as ACCOUNT_EVENT_HANDLERS
from ledgerlink.services.ingest.delivery import deliver_balance, deliver_transaction
from ledgerlink.services.ingest.ports import InboxRecord, InboxWriter
from ledgerlink.services.ingest.wire import parse_balance, parse_transaction
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.kernel.worker import WakeableWorker
from ledgerlink.services.linking.links import bank_revoked
from ledgerlink.services.linking.ports import AccountRecord

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
    if event_type not in EVENT_TYPES and event_type not in ACCOUNT_EVENT_HANDLERS:
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
    elif event_type in ACCOUNT_EVENT_HANDLERS:
        ACCOUNT_EVENT_HANDLERS[event_type].validate(data)
    elif not isinstance(data.get("transaction_id"), str):
        raise InvalidInput("data.transaction_id is required", code="malformed_event")
    return event_type, data, account_id, consent_id


class Ingest:
    def __init__(
        self, deps: Deps, *, writer: InboxWriter, max_batch: int = 512, resolve_ttl: float = 5.0
    ) -> None:
        self._deps = deps
        self._writer = writer
        self._max_batch = max_batch
        self._partners: dict[str, PartnerRecord] = {}
        # (partner, bank account, consent) -> (monotonic time, account or refusal). Short-lived
        # and dropped at once when a link of this process ends; other processes' revocations
        # are seen within the TTL (and processing re-checks the link before applying).
        self._targets: dict[tuple[str, str, str | None], tuple[float, AccountRecord | DomainError]] = {}
        self._resolve_ttl = resolve_ttl
        self._queue: asyncio.Queue[_Pending] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.in_flight = 0  # requests being accepted right now: the load on the front door
        # What this process just stored, opened, for its own inbox worker (which then need not
        # read and decrypt it back). Bounded: past the limit the oldest are read back instead.
        self._stored: dict[str, tuple[InboxRecord, dict[str, Any]]] = {}
        self._stored_limit = 4096

    def take_stored(self, inbox_id: str) -> tuple[InboxRecord, dict[str, Any]] | None:
        """The record and opened payload of an event this process stored, once."""
        return self._stored.pop(inbox_id, None)

    @property
    def writer(self) -> InboxWriter:
        return self._writer

    async def on_link_revoked(self, event: LinkRevoked) -> None:
        self._targets = {
            k: v for k, v in self._targets.items()
            if not (isinstance(v[1], AccountRecord) and v[1].link_id == event.link_id)
        }  # fmt: skip

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
        self.in_flight += 1
        try:
            return await self._receive(partner_slug, body, headers)
        finally:
            self.in_flight -= 1

    async def _receive(self, partner_slug: str, body: bytes, headers: Mapping[str, str]) -> str:
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

    def _cached(self, item: _Pending) -> AccountRecord | DomainError | None:
        if item.bank_account_id is None:
            return None
        cached = self._targets.get((item.partner_id, item.bank_account_id, item.consent_id))
        if cached is not None and time.monotonic() - cached[0] < self._resolve_ttl:
            return cached[1]
        return None

    async def _lookup(self, uow: UnitOfWork, item: _Pending) -> AccountRecord | DomainError | str:
        """The account (or, for consent events, the person id) an event belongs to."""
        if item.bank_account_id is None:
            assert item.consent_id is not None
            link = await uow.links.by_consent(item.partner_id, item.consent_id)
            if link is None:
                return NotFound("no link with that consent", code="unknown_consent")
            return link.person_id
        candidates = await uow.accounts.by_bank_id(item.partner_id, item.bank_account_id)
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
        if len(self._targets) > 100_000:
            self._targets.clear()
        self._targets[(item.partner_id, item.bank_account_id, item.consent_id)] = (time.monotonic(), found)
        return found

    async def _resolve(self, batch: list[_Pending]) -> list[AccountRecord | DomainError | str]:
        targets: list[AccountRecord | DomainError | str | None] = [self._cached(i) for i in batch]
        if any(t is None for t in targets):
            async with self._deps.uow(readonly=True) as uow:  # readers never queue for the writer
                for index, item in enumerate(batch):
                    if targets[index] is None:
                        targets[index] = await self._lookup(uow, item)
        return [t for t in targets if t is not None]

    async def _flush(self, batch: list[_Pending]) -> None:
        """Everything but the insert happens before taking the writer, so the write lock is
        held for one lookup, one executemany and the commit."""
        deps = self._deps
        now = deps.clock.now()
        accepted: list[_Pending] = []
        errors: dict[int, DomainError] = {}
        records: list[InboxRecord] = []
        payloads: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        for index, (item, target) in enumerate(zip(batch, await self._resolve(batch), strict=True)):
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
                deps.vault, person_id=person_id, inbox_id=item.inbox_id, payload=payload
            )
            records.append(InboxRecord(id=item.inbox_id, partner_id=item.partner_id, person_id=person_id,
                                       event_type=item.event_type, sealed=sealed, received_at=now))
            payloads[item.inbox_id] = payload
            accepted.append(item)
        inserted: set[str] = set()
        if records:
            inserted = await self._writer.add_many(records)
        for record in records:
            if record.id in inserted:
                self._stored[record.id] = (record, payloads[record.id])
        while len(self._stored) > self._stored_limit:
            del self._stored[next(iter(self._stored))]
        for index, error in errors.items():
            batch[index].future.set_exception(error)
        stored = [item for item in accepted if item.inbox_id in inserted]
        if stored:
            await deps.bus.publish(BankEventsReceived(
                partner_ids=tuple(sorted({i.partner_id for i in stored})),
                inbox_ids=tuple(i.inbox_id for i in stored),
            ))
        for item in accepted:
            if item.inbox_id in inserted:
                item.future.set_result(item.inbox_id)
            else:
                item.future.set_exception(
                    Conflict("this event id was already received", code="duplicate_event")
                )


async def _apply(
    deps: Deps, uow: UnitOfWork, record: InboxRecord, payload: dict[str, Any] | None = None
) -> str | None:
    """Apply one stored bank event inside the caller's unit of work. Returns the consent id
    when the event revoked a consent (handled after commit). `payload`: the event as this
    process accepted it; without it, the stored payload is read (and audited)."""
    now = deps.clock.now()
    if record.person_id is None:
        return None
    grant = Grant.for_component(record.person_id, "ingest")
    if payload is None:
        payload = await access.open_inbox_payload(deps.vault, uow, grant, record, at=now)
    data = payload.get("data", {})
    account = await uow.accounts.get(payload["account"]) if "account" in payload else None
    link = None if account is None else await uow.links.get(account.link_id)
    if record.event_type == "consent.revoked":
        return str(data["consent_id"])
    if account is None or link is None or link.status != LinkStatus.ACTIVE.value:
        return None  # the link ended after the event was accepted: nothing is applied
    handler = ACCOUNT_EVENT_HANDLERS.get(record.event_type)
    if handler is not None:  # fraud alerts, declines...: no reconciliation needed
        await handler.apply(deps, uow, account, link, data)
        return None
    if record.event_type == "transaction.updated":
        report = parse_transaction(data["transaction"], "data.transaction")
        change = await access.upsert_transaction(deps.vault, uow, grant, account, report, at=now)
        if change.changed:
            await deliver_transaction(deps, uow, person_id=account.person_id,
                                      transaction_id=change.transaction.id, created_here=change.created)
            uow.events.append(TransactionChanged(person_id=account.person_id,
                                                 transaction_id=change.transaction.id,
                                                 created=change.created, delivered=True))
    elif record.event_type == "transaction.removed":
        removed = await access.remove_transaction(
            deps.vault, uow, grant, account, str(data["transaction_id"]), at=now
        )
        if removed is not None:
            await deliver_transaction(deps, uow, person_id=account.person_id,
                                      transaction_id=removed.transaction.id)
            uow.events.append(TransactionChanged(person_id=account.person_id,
                                                 transaction_id=removed.transaction.id, created=False,
                                                 delivered=True))
    elif record.event_type == "balance.updated" and await access.store_balance(
        deps.vault, uow, account, parse_balance(data["balance"], "data.balance")
    ):
        await deliver_balance(deps, uow, person_id=account.person_id, account_id=account.id)
        uow.events.append(BalanceChanged(person_id=account.person_id, account_id=account.id, delivered=True))
    # Reconcile too: whatever this event said, the bank's change log is the truth.
    uow.events.append(AccountSyncRequested(account_id=account.id))
    return None


MAX_ATTEMPTS = 5


def _payload(held: tuple[InboxRecord, dict[str, Any]] | None) -> dict[str, Any] | None:
    return None if held is None else held[1]


class InboxWorker(WakeableWorker):
    """Applies stored bank events in batches: one unit of work per batch, one batch at a time.

    `BankEventsReceived` wakes it; the inbox table is the queue, so a restart loses nothing
    and a burst costs one transaction per batch rather than one per event. Batches are small
    so the single SQLite writer is never held long: accepting events (priority) waits at most
    one batch.

    Which rows: while nothing is left behind, the ids the events announced (a primary-key
    read); otherwise (at start, after a failed batch, while a backlog lasts, when woken without
    ids, and after `rescan_every` seconds idle) the oldest unprocessed rows. The ids are
    announced after their rows commit, and a scan that comes back short has seen every row
    committed before it, so both paths apply events in received order and none is skipped."""

    def __init__(
        self, deps: Deps, *, batch: int = 16, pressure: Callable[[], int] | None = None,
        busy_above: int = 16, max_deferral: float = 1.0, rescan_every: float = 30.0,
        stored: Callable[[str], tuple[InboxRecord, dict[str, Any]] | None] | None = None,
    ) -> None:
        self._deps = deps
        self._batch = batch
        # In one process, accepting events comes first: while many are arriving, applying
        # them waits (at most `max_deferral` at a time, so it always progresses) and the
        # inbox absorbs the burst.
        self._pressure = pressure or (lambda: 0)
        self._busy_above = busy_above
        self._max_deferral = max_deferral
        self._announced: list[str] = []  # inbox ids from BankEventsReceived, in received order
        self._behind = True  # rows may be waiting that no announcement names: scan
        self._rescan_every = rescan_every  # idle this long: scan anyway (an announcement lost)
        self._stored = stored or (lambda _id: None)  # Ingest.take_stored of this process
        super().__init__()

    async def on_event(self, event: BankEventsReceived) -> None:
        self._announced.extend(event.inbox_ids)
        self.poke()

    async def _take(self, uow: UnitOfWork) -> tuple[list[tuple[InboxRecord, dict[str, Any] | None]], bool]:
        """The batch, each with its payload when this process still holds it, and whether the
        rows are claimed already (announced ids) or must be marked processed (a scan)."""
        if self._behind or not self._announced:
            self._announced.clear()  # a scan finds those too
            records = await uow.inbox.unprocessed(limit=self._batch)
            self._behind = len(records) >= self._batch
            return [(r, _payload(self._stored(r.id))) for r in records], False
        ids, self._announced = self._announced[: self._batch], self._announced[self._batch :]
        claimed = await uow.inbox.claim(ids, self._deps.clock.now())
        batch: list[tuple[InboxRecord, dict[str, Any] | None]] = []
        for inbox_id in ids:  # announced in received order
            held = self._stored(inbox_id)
            if inbox_id not in claimed:
                continue  # processed already (by a scan, or another process)
            if held is not None:
                batch.append(held)
            elif (record := await uow.inbox.get(inbox_id)) is not None:
                batch.append((record, None))
        return batch, True

    async def _yield_to_ingest(self) -> None:
        waited = 0.0
        while self._pressure() > self._busy_above and waited < self._max_deferral:
            await asyncio.sleep(0.02)
            waited += 0.02

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            await self._yield_to_ingest()
            try:
                done = await self.run_once()
            except Exception:
                log.exception("inbox_worker_failed")
                self._behind = True  # the batch's announcement was used up: find it by a scan
                await asyncio.sleep(1.0)
                continue
            if done < self._batch and not self._wake.is_set():
                self._idle.set()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._rescan_every)
                except TimeoutError:
                    self._behind = True
                    self._idle.clear()

    async def run_once(self) -> int:
        """Apply one batch; returns how many events it took."""
        deps = self._deps
        async with deps.uow() as uow:
            batch, claimed = await self._take(uow)
            if not batch:
                return 0
            records = [record for record, _ in batch]
            revoked: list[tuple[str, str]] = []
            try:
                for record, payload in batch:
                    consent = await _apply(deps, uow, record, payload)
                    if consent is not None:
                        revoked.append((record.partner_id, consent))
                if not claimed:
                    await uow.inbox.mark_processed_many([r.id for r in records], deps.clock.now())
                await deps.commit_and_publish(uow)
            except Exception as exc:
                # On PostgreSQL a sync of the same account can update the same rows in another
                # order (deadlock detected): the batch is rolled back and applied row by row.
                await uow.rollback()
                self._behind = True  # what failed is retried by a scan
                log.warning("inbox_batch_failed_retrying_one_by_one", size=len(records),
                            error=getattr(exc, "code", type(exc).__name__))
                revoked = await self._one_by_one([r.id for r in records])
        for partner_id, consent_id in revoked:
            try:
                await bank_revoked(deps, partner_id=partner_id, consent_id=consent_id)
            except NotFound:
                log.info("revoked_consent_unknown", partner_id=partner_id)
        return len(records)

    async def _one_by_one(self, ids: list[str]) -> list[tuple[str, str]]:
        """Isolate a poisoned event: apply each alone; a failing one is retried a few times,
        then set aside (processed, with its error code) so it cannot block the inbox."""
        deps = self._deps
        revoked: list[tuple[str, str]] = []
        for inbox_id in ids:
            try:
                async with deps.uow() as uow:
                    record = await uow.inbox.get(inbox_id)
                    if record is None or record.processed_at is not None:
                        continue
                    consent = await _apply(deps, uow, record)
                    await uow.inbox.mark_processed(record.id, deps.clock.now())
                    await deps.commit_and_publish(uow)
                    if consent is not None:
                        revoked.append((record.partner_id, consent))
            except Exception as exc:
                code = getattr(exc, "code", type(exc).__name__)
                log.warning("inbox_event_failed", inbox_id=inbox_id, error=code)
                async with deps.uow() as uow:
                    await uow.inbox.mark_failed(inbox_id, str(code))
                    record = await uow.inbox.get(inbox_id)
                    if record is not None and record.attempts >= MAX_ATTEMPTS:
                        await uow.inbox.mark_processed(inbox_id, deps.clock.now())  # set aside
                    await uow.commit()
        return revoked
