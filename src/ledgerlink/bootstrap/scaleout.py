"""The scale-out profile's part of the composition root (issue 12, ADR 0027): which event bus
this process uses, and what its roles run. Without `nats_url` nothing changes: the embedded
default keeps the in-process bus and one process doing everything."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerlink.adapters.db.kernel_outbox import OutboxRouting, SqlOutboxStore, lease_for
from ledgerlink.adapters.db.kernel_schedules import ClusterSchedule, PeriodicJob, SessionLocks
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.adapters.events import InProcessBus
from ledgerlink.adapters.events.invalidations import (
    LINK_ENDED,
    PERSON_KEY,
    BroadcastingKeyStore,
    CacheInvalidations,
)
from ledgerlink.adapters.events.jetstream import JetStreamBus
from ledgerlink.adapters.events.live import LIVE_EVENTS, LiveSubjects
from ledgerlink.config import Settings
from ledgerlink.domain.audit import CompactRange
from ledgerlink.domain.clock import Clock
from ledgerlink.domain.events import LinkRevoked
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.access.ports import KeyStore
from ledgerlink.services.alerts import digests
from ledgerlink.services.dialogue import prompts
from ledgerlink.services.kernel.bus import EventBus
from ledgerlink.services.linking import consent_expiry
from ledgerlink.services.messaging import messenger
from ledgerlink.services.privacy import audit, retention
from ledgerlink.services.privacy.retention import RetentionPolicy
from ledgerlink.services.receipts import parcels

if TYPE_CHECKING:
    from ledgerlink.bootstrap.container import Container

__all__ = [
    "ROLES", "cluster_schedule", "event_bus", "key_store", "live_source", "parse_roles", "periodic_jobs",
    "wire_invalidations", "wire_live",
]

ROLES = ("api", "worker", "gateway")


def parse_roles(text: str) -> frozenset[str]:
    """`api`, `worker`, `gateway`, any comma-separated combination, or `all`."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("--role: give api, worker, gateway (comma-separated) or all")
    if "all" in names:
        if len(names) > 1:
            raise ValueError("--role: 'all' already includes every role; give it alone")
        return frozenset(ROLES)
    unknown = sorted(set(names) - set(ROLES))
    if unknown:
        raise ValueError(f"--role: unknown role {unknown[0]!r}; known: {', '.join(ROLES)}, all")
    return frozenset(names)


def event_bus(settings: Settings, engine: AsyncEngine, uow: SqlUnitOfWorkFactory, clock: Clock) -> EventBus:
    """The in-process bus, or with `nats_url` JetStream behind the outbox. Only a process with
    the worker role consumes events and relays the outbox."""
    if not settings.nats_url:
        return InProcessBus()
    worker = "worker" in parse_roles(settings.roles)
    bus = JetStreamBus(
        settings.nats_url, outbox=SqlOutboxStore(engine), lease=lease_for(engine), root=settings.nats_root,
        consume=worker, relay=worker, max_deliver=settings.nats_max_deliver,
        ack_wait=settings.nats_ack_wait_seconds, clock=clock,
    )
    uow.outbox = OutboxRouting(clock=clock, wake=bus.relay.wake if bus.relay else None, prefix=bus.prefix)
    return bus


def cluster_schedule(settings: Settings, container: Container) -> ClusterSchedule | None:
    """Scale-out profile (ADR 0029): the periodic jobs run once across all worker processes,
    each under its own advisory lock. None in the embedded default, whose one process runs
    them itself (`Container.start`)."""
    if not settings.nats_url:
        return None
    return ClusterSchedule(SessionLocks(container.engine), periodic_jobs(settings, container),
                           container.deps.clock, tick=settings.schedule_tick_seconds)


def periodic_jobs(settings: Settings, container: Container) -> list[PeriodicJob]:
    """The same jobs and intervals the embedded default runs (0 = off), one step per period."""
    deps = container.deps
    tree: list[CompactRange] = [CompactRange()]  # the holder's incremental Merkle state

    async def sign() -> None:
        try:
            await audit.sign_tree_head(deps, tree=tree[0])
        except Exception:
            tree[0] = CompactRange()  # rebuilt from the log next period
            raise

    policy = RetentionPolicy(
        inbox_days=settings.retention_inbox_days, transactions_days=settings.retention_transactions_days,
        messages_days=settings.retention_messages_days,
        abandoned_links_days=settings.retention_abandoned_links_days,
        receipts_days=settings.retention_receipts_days,
        batch_size=settings.retention_batch_size,
    )

    async def purge() -> None:
        while not (await retention.purge(deps, policy)).complete:  # as the embedded purger does
            pass

    candidates = [
        ("prompts", settings.prompt_check_interval_seconds, lambda: prompts.run_due(deps)),
        ("sync", settings.sync_interval_seconds, container.scheduler.sync_all),
        ("consent_expiry", settings.consent_check_interval_seconds, lambda: consent_expiry.check(deps)),
        ("audit_sign", settings.audit_sign_interval_seconds, sign),
        ("retention", settings.retention_interval_seconds, purge),
        ("digests", settings.digest_interval_seconds, lambda: digests.tick(deps)),
        ("parcels", settings.parcel_poll_seconds, lambda: parcels.poll(deps)),  # issue 11
        ("shop_sync", settings.shop_sync_seconds, lambda: container.merchant_sync.sync_all()),  # ADR 0031
    ]
    return [PeriodicJob(name, interval, step) for name, interval, step in candidates if interval > 0]


def key_store(bus: EventBus, keystore: KeyStore) -> KeyStore:
    """Scale-out (ADR 0029): the key store that tells every process when a data key is
    destroyed or rewrapped, on the bus's NATS connection. The key store itself otherwise."""
    if not isinstance(bus, JetStreamBus):
        return keystore
    bus.invalidations = CacheInvalidations(root=bus.root)
    return BroadcastingKeyStore(keystore, bus.invalidations)


def wire_invalidations(container: Container) -> None:
    """Every process forgets what others changed: data keys (erasure, rotation) and account
    resolutions through an ended link. A link ends in one process's unit of work, and its
    `LinkRevoked` reaches one worker through the outbox and JetStream (durably); that worker
    tells all processes."""
    bus = container.deps.bus
    if not isinstance(bus, JetStreamBus) or bus.invalidations is None:
        return
    invalidations: CacheInvalidations = bus.invalidations
    vault, ingest = container.deps.vault, container.ingest
    invalidations.on(PERSON_KEY, vault.forget)
    invalidations.on(LINK_ENDED, ingest.forget_link)
    invalidations.on_reset(vault.forget_all)
    invalidations.on_reset(ingest.forget_all)

    async def broadcast(event: LinkRevoked) -> None:
        await invalidations.publish(LINK_ENDED, event.link_id)

    bus.subscribe(LinkRevoked, broadcast, name="broadcast-link-ended")


def wire_live(container: Container) -> None:
    """Live frames across processes (ADR 0032): a worker forwards each event the web hub reacts
    to (from the outbox, through one durable `live-fanout` consumer per event type) to the
    person's core NATS subject; a process holding WebSockets watches the subjects of the
    persons connected to it and, after a reconnect to NATS, catches them up from the database."""
    bus = container.deps.bus
    if not isinstance(bus, JetStreamBus):
        return
    live = LiveSubjects(root=bus.root)
    deps = container.deps

    async def threads_of(person_id: str) -> list[str]:
        return [t.id for t in await messenger.list_threads(deps, Grant.for_person(person_id))]

    live.on_resync(threads_of)
    for event_type in LIVE_EVENTS:
        bus.subscribe(event_type, live.forward, name="live-fanout")
    bus.live = live


def live_source(container: Container) -> LiveSubjects | None:
    """Where the web hub takes its events from: the per-person subjects on the scale-out
    profile; None on the embedded default (the hub subscribes to the in-process bus)."""
    bus = container.deps.bus
    return bus.live if isinstance(bus, JetStreamBus) and isinstance(bus.live, LiveSubjects) else None
