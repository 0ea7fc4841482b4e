"""Retention: personal data is kept only as long as it is useful, then purged automatically.

Limits per data type come from settings (`LEDGERLINK_RETENTION_*`, passed in as a
`RetentionPolicy`); defaults and reasons are in docs/privacy.md ("Retention"). The audit log
is not purged: it holds ids, purposes and counts only (never values), and removing leaves
would break the Merkle tree that lets a person verify it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.privacy.ports import RetentionRepository

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each kind of row is kept; 0 keeps it forever. Built from settings by the caller."""

    inbox_days: int = 30  # bank event payloads, counted from processing
    transactions_days: int = 730  # counted from the booking date
    messages_days: int = 730  # counted from the last edit
    abandoned_links_days: int = 7  # consent flows that never became a link
    receipts_days: int = 730  # shop orders (receipts) and followed parcels, from the last change
    batch_size: int = 500  # rows per statement and unit of work
    max_batches: int = 200  # per data type per run, so one run stays short


@dataclass(slots=True)
class PurgeReport:
    started_at: datetime
    deleted: dict[str, int] = field(default_factory=dict)
    complete: bool = True  # False: a type hit max_batches; the next run continues

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _repo(uow: UnitOfWork) -> RetentionRepository:
    return uow.retention


async def _purge_kind(deps: Deps, kind: str, cutoff: datetime, policy: RetentionPolicy) -> tuple[int, bool]:
    total = 0
    for _ in range(policy.max_batches):
        async with deps.uow() as uow:
            repo = _repo(uow)
            if kind == "inbox":
                n = await repo.purge_inbox(processed_before=cutoff, limit=policy.batch_size)
            elif kind == "messages":
                n = await repo.purge_messages(before=cutoff, limit=policy.batch_size)
            elif kind == "transactions":
                n = await repo.purge_transactions(before=cutoff, limit=policy.batch_size)
            elif kind == "bank_dialogue":
                n = await repo.purge_bank_dialogue(before=cutoff, limit=policy.batch_size)
            elif kind == "digests":
                n = await repo.purge_digests(before=cutoff, limit=policy.batch_size)
            elif kind == "receipts":
                n = await repo.purge_receipts(before=cutoff, limit=policy.batch_size)
            elif kind == "merchant_events":
                n = await repo.purge_merchant_events(before=cutoff, limit=policy.batch_size)
            else:
                n = await repo.purge_abandoned_links(before=cutoff, limit=policy.batch_size)
            await uow.commit()
        total += n
        if n < policy.batch_size:
            return total, True
    return total, False


async def purge(deps: Deps, policy: RetentionPolicy | None = None) -> PurgeReport:
    """Delete every row older than its limit, in bounded batches (one unit of work each, so
    other work interleaves). Safe to run at any time and from several places."""
    policy = policy or RetentionPolicy()
    now = deps.clock.now()
    report = PurgeReport(started_at=now)
    limits = {
        "inbox": policy.inbox_days,
        "messages": policy.messages_days,
        "bank_dialogue": policy.messages_days,  # prompts and requests live as long as messages
        "digests": policy.messages_days,  # released held alerts: their text is in a message
        "transactions": policy.transactions_days,
        "abandoned_links": policy.abandoned_links_days,
        "receipts": policy.receipts_days,
        "merchant_events": policy.inbox_days,  # seen webhook ids: a replay is stale after 5 minutes
    }
    for kind, days in limits.items():
        if days <= 0:
            continue
        deleted, complete = await _purge_kind(deps, kind, now - timedelta(days=days), policy)
        report.deleted[kind] = deleted
        report.complete = report.complete and complete
    log.info("retention_purged", complete=report.complete, **report.deleted)
    return report


async def run_purger(deps: Deps, interval_seconds: float, *, policy: RetentionPolicy | None = None) -> None:
    """Purge now and then every `interval_seconds` until cancelled; a failed run is logged
    and retried at the next interval. An incomplete run goes again right away."""
    while True:
        try:
            report = await purge(deps, policy)
            delay = interval_seconds if report.complete else 0.0
        except Exception as exc:  # the purger must outlive a bad run
            log.warning("retention_purge_failed", error=type(exc).__name__)
            delay = interval_seconds
        await asyncio.sleep(delay)
