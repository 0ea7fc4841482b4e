"""Prometheus metrics. Labels are codes and kinds, never ids or personal data."""

from __future__ import annotations

from prometheus_client import Counter

bank_events = Counter(
    "ledgerlink_bank_events_total",
    "Signed bank events received, by outcome code",
    ["partner", "outcome"],
)
