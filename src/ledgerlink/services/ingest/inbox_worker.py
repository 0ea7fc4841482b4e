"""Bank events applied: the inbox worker makes each stored event a change of transactions or
balances (delivered into the thread), a feature's account event, or a revoked consent; in
batches, in received order.

`ingest.inbox` (the front door) verified, checked and stored the events; the worker works
off the stored rows, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.events import (
    AccountSyncRequested,
    BalanceChanged,
    BankEventsReceived,
    TransactionChanged,
)
from ledgerlink.domain.privacy import Grant
from ledgerlink.services import access
from ledgerlink.services.ingest.account_events import HANDLERS as ACCOUNT_EVENT_HANDLERS
from ledgerlink.services.ingest.account_events import required_scope
from ledgerlink.services.ingest.delivery import deliver_balance, deliver_transaction
from ledgerlink.services.ingest.ports import InboxRecord
from ledgerlink.services.ingest.wire import parse_balance, parse_transaction
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.kernel.worker import WakeableWorker
from ledgerlink.services.linking.ending import bank_revoked

log = structlog.get_logger(__name__)


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
    scope = required_scope(record.event_type)
    if scope is not None and scope.value not in link.scopes:
        # The consent changed after the event was accepted (renewed with less): not applied.
        log.info("event_outside_scope", event_type=record.event_type, scope=scope.value)
        return None
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
                # One person after another (stable: each person's events stay in received order,
                # and a thread is one person's), so every batch takes its threads' locks in the
                # same order and two workers' batches cannot deadlock on each other (PostgreSQL).
                for record, payload in sorted(batch, key=lambda held: held[0].person_id or ""):
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
