"""Prometheus metrics. Labels are codes and kinds, never ids or personal data.

The scale-out figures (issue 12) are read when /metrics is scraped (`refresh`), from the
database and JetStream, so every api or gateway process reports the whole cluster's: the
outbox's depth, each durable consumer's lag, the dead letters. A figure that cannot be read
(NATS down) is left out of that scrape rather than reported stale; `ledgerlink_nats_connected`
says why."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

__all__ = ["bank_events", "refresh"]

_log = structlog.get_logger(__name__)

bank_events = Counter(
    "ledgerlink_bank_events_total",
    "Signed bank events received, by outcome code",
    ["partner", "outcome"],
)
outbox_depth = Gauge(
    "ledgerlink_outbox_depth", "Events committed to the outbox and not yet published to JetStream")
consumer_lag = Gauge(
    "ledgerlink_consumer_lag",
    "Per durable JetStream consumer: messages not yet delivered plus delivered and not acknowledged",
    ["consumer"],
)
dead_letters = Gauge("ledgerlink_dead_letters", "Messages in the dead-letter stream")
nats_connected = Gauge("ledgerlink_nats_connected", "1 while this process is connected to NATS")

SCRAPE_TIMEOUT = 2.0  # a scrape answers in bounded time, whatever the dependencies do


async def refresh(bus: Any) -> None:
    """Read the scale-out gauges now. A bus without them (the embedded default) sets none."""
    if not hasattr(bus, "lag"):
        return
    nats_connected.set(1 if bus.connected else 0)
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT):
            outbox_depth.set(await bus.outbox_depth())
    except Exception as exc:
        _log.warning("metrics_outbox_unreadable", error=type(exc).__name__)
    consumer_lag.clear()  # consumers that are gone disappear; unreadable ones are left out
    if not bus.connected:
        return
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT):
            for name, lag in (await bus.lag()).items():
                consumer_lag.labels(consumer=name).set(lag)
            dead_letters.set(await bus.dead_letters())
    except Exception as exc:
        _log.warning("metrics_jetstream_unreadable", error=type(exc).__name__)
