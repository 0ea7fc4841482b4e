"""The crash test on the scale-out profile (issue 12), at CI scale: 2 api, 2 worker and 2 gateway
processes on one PostgreSQL and the test's own nats-server take 1,000 signed bank events for four
persons while each person's WebSocket client stays connected, and processes are killed with
SIGKILL at seeded random moments (every role, the relay's lease holder and the nats-server), at
least 20 times, each restarted. Events not answered 2xx are resent. At the end every
acknowledged event is exactly one transaction and one message, every client saw every message's
current revision once and in per-thread order, the outbox and the consumers are empty, and the
dead letters hold only the one poison message published among the events.

How it runs: tests/integration/_crash_run.py; larger: `bench/crash.py --profile cluster`."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import report_figure
from tests.integration._crash_run import crash_cluster_run
from tests.integration.test_jetstream import nats_binary  # noqa: F401  (fixture)

EVENTS, KILLS = 1000, 22


@pytest.mark.postgres  # and the test's own nats-server
@pytest.mark.timeout(420)  # aimed at < 3 min on 2 cores; six processes start ~30 times
async def test_a_cluster_killed_22_times_loses_no_acknowledged_event_and_shows_none_twice(
    tmp_path: Path, nats_binary: str,  # noqa: F811
) -> None:
    figures = await crash_cluster_run(tmp_path, nats_binary=nats_binary, events=EVENTS, kills=KILLS, seed=12)
    report_figure(figures.line())
    report_figure(f"cluster crash test: the bank's answers {figures.answers}")
    assert sum(figures.kills.values()) == KILLS
    roles = ("api", "worker", "relay", "gateway", "nats")
    assert all(figures.kills.get(role) for role in roles), figures.kills
    # 202, or 200 already_received to a resend whose first attempt was stored but not answered;
    # never 409 (a resend carries the same body)
    assert figures.acknowledged + figures.already_received == EVENTS, figures.line()
    assert figures.conflicts == 0, figures.line()
    assert figures.lost == 0 and figures.duplicated == 0 and figures.duplicates == 0, figures.line()
    assert figures.applied == figures.delivered == EVENTS, figures.line()  # the 409s too
    assert figures.out_of_order == 0, figures.line()
    assert (figures.outbox, figures.pending, figures.unapplied) == (0, 0, 0), figures.line()
    # A redelivery is a no-op in every consumer (the insights one locks the thread before it
    # sends: tests/integration/test_insights_redelivery.py), and kills do not use up the
    # deliveries of messages not being handled (ADR 0035), so only the poison message is in
    # the dead letters: once per consumer of its subject.
    assert figures.dead_by_consumer == {}, figures.line()
    assert figures.poison_expected > 0 and figures.poison_dead == figures.poison_expected, figures.line()
    assert figures.dead_letters == figures.poison_dead, figures.line()
