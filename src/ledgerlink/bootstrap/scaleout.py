"""The scale-out profile's part of the composition root (issue 12, ADR 0027): which event bus
this process uses, and what its roles run. Without `nats_url` nothing changes: the embedded
default keeps the in-process bus and one process doing everything."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerlink.adapters.db.kernel_outbox import OutboxRouting, SqlOutboxStore, lease_for
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.adapters.events import InProcessBus
from ledgerlink.adapters.events.jetstream import JetStreamBus
from ledgerlink.config import Settings
from ledgerlink.domain.clock import Clock
from ledgerlink.services.kernel.bus import EventBus

__all__ = ["ROLES", "event_bus", "parse_roles"]

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
