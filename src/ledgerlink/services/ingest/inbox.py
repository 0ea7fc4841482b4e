"""Bank events in: verify on the raw body, dedupe on the event id, persist, then 2xx.

Verification and parsing happen per request; persistence is group-committed: concurrent
requests share one transaction, and each request is answered only after its row is durable.
Applying the stored events is the inbox worker's (`ingest.inbox_worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.errors import BadRequest, DomainError, NotFound
from ledgerlink.domain.events import BankEventsReceived, LinkRevoked
from ledgerlink.services import access
from ledgerlink.services.ingest import repeats  # a bank's resend of a stored event (issue 12)
from ledgerlink.services.ingest.account_events import required_scope
from ledgerlink.services.ingest.front_door import (
    ACCOUNT_EVENTS,
    EVENT_TYPES,
    MAX_BODY,
    MAX_WEBHOOK_ID,
    PayloadTooLarge,
    UnsupportedMediaType,
    check_headers,
    too_large,
    validate_event,
)
from ledgerlink.services.ingest.inbox_worker import InboxWorker
from ledgerlink.services.ingest.ports import InboxRecord, InboxWriter
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import AccountRecord

# InboxWorker lives in `ingest.inbox_worker`; it stays importable from here for the callers
# that import it with `Ingest`.
__all__ = ["ACCOUNT_EVENTS", "EVENT_TYPES", "MAX_BODY", "MAX_WEBHOOK_ID", "Accepted", "InboxWorker", "Ingest",
           "LinkEnded", "PayloadTooLarge", "ScopeNotGranted", "UnsupportedMediaType", "check_headers",
           "too_large"]

log = structlog.get_logger(__name__)


class LinkEnded(DomainError):
    """The event is for a link that was revoked: the bank should stop sending (410)."""

    code = "link_revoked"
    status = 410


class ScopeNotGranted(DomainError):
    """The event carries data the person's consent does not share (balances on a
    transactions-only link, say): refused, nothing stored; the bank should not send it (403)."""

    code = "scope_not_granted"
    status = 403


@dataclass(frozen=True, slots=True)
class Accepted:
    """A stored event: `repeat` when it was stored before, by an earlier send of the same
    webhook id with the same content (the bank retried: answer 200, nothing stored again)."""

    inbox_id: str
    repeat: bool = False

    @property
    def webhook_id(self) -> str:
        return self.inbox_id.split(":", 1)[1]


@dataclass
class _Pending:
    inbox_id: str
    partner_id: str
    event_type: str
    payload: dict[str, Any]
    bank_account_id: str | None
    consent_id: str | None
    future: asyncio.Future[Accepted] = field(repr=False)


class Ingest:
    def __init__(
        self, deps: Deps, *, writer: InboxWriter, max_batch: int = 512, resolve_ttl: float = 5.0,
        hold: int = 4096,
    ) -> None:
        """`hold`: how many just-stored events to keep opened for this process's inbox worker
        (`take_stored`); 0 in a process that does not apply the inbox (the api role alone)."""
        self._deps = deps
        self._writer = writer
        self._max_batch = max_batch
        self._partners: dict[str, PartnerRecord] = {}
        # (partner, bank account, consent) -> (monotonic time, account or refusal). Short-lived
        # and dropped at once when a link of this process ends; other processes' revocations
        # are seen within the TTL (and processing re-checks the link before applying).
        self._targets: dict[tuple[str, str, str | None, str], tuple[float, AccountRecord | DomainError]] = {}
        self._resolve_ttl = resolve_ttl
        self._queue: asyncio.Queue[_Pending] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.in_flight = 0  # requests being accepted right now: the load on the front door
        # What this process just stored, opened, for its own inbox worker (which then need not
        # read and decrypt it back). Bounded: past the limit the oldest are read back instead.
        self._stored: dict[str, tuple[InboxRecord, dict[str, Any]]] = {}
        self._stored_limit = hold

    def take_stored(self, inbox_id: str) -> tuple[InboxRecord, dict[str, Any]] | None:
        """The record and opened payload of an event this process stored, once."""
        return self._stored.pop(inbox_id, None)

    @property
    def writer(self) -> InboxWriter:
        return self._writer

    async def on_link_revoked(self, event: LinkRevoked) -> None:
        self.forget_link(event.link_id)

    def forget_link(self, link_id: str) -> None:
        """Resolutions through this link (also told by other processes: ADR 0029)."""
        self._targets = {
            k: v for k, v in self._targets.items()
            if not (isinstance(v[1], AccountRecord) and v[1].link_id == link_id)
        }  # fmt: skip

    def forget_all(self) -> None:
        self._targets = {}

    async def _partner(self, slug: str) -> PartnerRecord:
        partner = self._partners.get(slug)
        if partner is None:
            async with self._deps.uow() as uow:
                partner = await uow.partners.by_slug(slug)
            if partner is None:
                raise NotFound("unknown partner", code="unknown_partner")
            self._partners[slug] = partner
        return partner

    async def admit(self, partner_slug: str, headers: Mapping[str, str]) -> None:
        """The checks that need no body (partner, then `check_headers`): callers run them before
        reading the body, and stop reading past `MAX_BODY` (`too_large()`)."""
        await self._partner(partner_slug)
        check_headers(headers)

    async def receive(
        self, partner_slug: str, body: bytes, headers: Mapping[str, str], *, admitted: bool = False
    ) -> Accepted:
        """Accept one signed event: stored now, or stored before with the same content (a
        resend, `repeats`); raises a DomainError otherwise (the same id with another body: 409).
        `admitted`: the caller already ran `admit` on these headers."""
        self.in_flight += 1
        try:
            if not admitted:
                await self.admit(partner_slug, headers)
            return await self._receive(partner_slug, body, headers)
        finally:
            self.in_flight -= 1

    async def _receive(self, partner_slug: str, body: bytes, headers: Mapping[str, str]) -> Accepted:
        partner = await self._partner(partner_slug)
        if len(body) > MAX_BODY:
            raise too_large()
        self._deps.verifier.verify(partner.webhook_secrets, body, headers)
        try:
            envelope = json.loads(body)
        except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, a 5,000-digit int, deep nesting
            raise BadRequest(
                f"the body is not valid JSON ({exc.__class__.__name__} at position {getattr(exc, 'pos', 0)})",
                code="malformed_json",
            ) from None
        event_type, data, account_id, consent_id = validate_event(envelope)
        webhook_id = headers.get("webhook-id", "")
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
        await self._writer.aclose()

    async def _flush_forever(self, queue: asyncio.Queue[_Pending]) -> None:
        """Up to `writer.concurrency` batches in flight: while one waits for the database, the
        next is taken (a free slot first, then the queue, so a busy writer gathers bigger
        batches)."""
        slots = asyncio.Semaphore(max(1, self._writer.concurrency))
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                await slots.acquire()
                try:
                    batch = [await queue.get()]
                except BaseException:
                    slots.release()
                    raise
                while len(batch) < self._max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                task = asyncio.create_task(self._flush_one(batch, slots))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _flush_one(self, batch: list[_Pending], slots: asyncio.Semaphore) -> None:
        try:
            await self._flush(batch)
        except Exception as exc:
            log.exception("ingest_flush_failed", size=len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        finally:
            slots.release()

    def _cached(self, item: _Pending) -> AccountRecord | DomainError | None:
        if item.bank_account_id is None:
            return None
        cached = self._targets.get((item.partner_id, item.bank_account_id, item.consent_id, item.event_type))
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
                scope = required_scope(item.event_type)
                if scope is not None and scope.value not in link.scopes:
                    found = ScopeNotGranted(
                        f"{item.event_type} carries {scope.value}, which the person's consent for this "
                        f"account does not share (it shares {', '.join(link.scopes) or 'nothing'})",
                        code="scope_not_granted")
                    break
                found = account
                break
            found = LinkEnded("the link for this account was revoked", code="link_revoked")
        if len(self._targets) > 100_000:
            self._targets.clear()
        self._targets[(item.partner_id, item.bank_account_id, item.consent_id, item.event_type)] = (
            time.monotonic(), found)
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
        """Everything but the insert happens before taking the writer, so the write lock
        (SQLite) is held for one lookup, one executemany and the commit; PostgreSQL's
        transaction is one INSERT .. RETURNING (and the outbox row) and the commit."""
        deps = self._deps
        now = deps.clock.now()
        accepted: list[_Pending] = []
        errors: dict[int, DomainError] = {}
        records: list[InboxRecord] = []
        payloads: dict[str, dict[str, Any]] = {}
        seen: dict[str, _Pending] = {}
        again: list[_Pending] = []  # the same id twice in this batch, with the same content
        for index, (item, target) in enumerate(zip(batch, await self._resolve(batch), strict=True)):
            if isinstance(target, DomainError):
                errors[index] = target
                continue
            if item.inbox_id in seen:
                if repeats.same_event(seen[item.inbox_id].payload, item.payload):
                    again.append(item)
                else:
                    errors[index] = repeats.different()
                continue
            seen[item.inbox_id] = item
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
            partner_of = {r.id: r.partner_id for r in records}

            def announce(ids: list[str]) -> BankEventsReceived:
                return BankEventsReceived(partner_ids=tuple(sorted({partner_of[i] for i in ids})),
                                          inbox_ids=tuple(ids))

            # Scale-out profile: the announcement commits with the rows (outbox); otherwise it
            # is published below, after the commit, to the in-process bus.
            inserted = await self._writer.add_many(records, announce=announce)
        for record in records:
            if record.id in inserted and self._stored_limit:
                self._stored[record.id] = (record, payloads[record.id])
        while len(self._stored) > self._stored_limit:
            del self._stored[next(iter(self._stored))]
        for index, error in errors.items():
            batch[index].future.set_exception(error)
        stored = [item for item in accepted if item.inbox_id in inserted]
        if stored and not self._writer.announces:
            await deps.bus.publish(BankEventsReceived(
                partner_ids=tuple(sorted({i.partner_id for i in stored})),
                inbox_ids=tuple(i.inbox_id for i in stored),
            ))
        for item in accepted:
            if item.inbox_id in inserted:
                item.future.set_result(Accepted(item.inbox_id))
        await self._answer_repeats([i for i in accepted if i.inbox_id not in inserted] + again)

    async def _answer_repeats(self, items: list[_Pending]) -> None:
        """Ids stored before this batch (or earlier in it): 200 when the content is the same."""
        if not items:
            return
        try:
            same = await repeats.stored_matches(self._deps, [(i.inbox_id, i.payload) for i in items])
        except Exception as exc:
            log.exception("ingest_repeat_check_failed", size=len(items))
            for item in items:
                item.future.set_exception(exc)
            return
        for item in items:
            match = same.get(item.inbox_id)
            if match:
                item.future.set_result(Accepted(item.inbox_id, repeat=True))
            else:
                item.future.set_exception(repeats.different() if match is False else repeats.unverifiable())
