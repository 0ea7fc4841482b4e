"""Periodic jobs run once across worker processes (issue 12, ADR 0029): two real
`ledgerlink serve --role worker` processes on one PostgreSQL and one NATS, every job every
second. Each job's runs are counted per period from both processes' logs; the holder is
killed with SIGKILL and the other process takes its jobs over."""

from __future__ import annotations

import math
import secrets
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.integration import test_jetstream as _jetstream
from tests.integration._cluster import Proc, scaleout_env, serve, until

nats_url, pg_url = _jetstream.nats_url, _jetstream.pg_url  # the shared fixtures

JOBS = ("prompts", "sync", "consent_expiry", "audit_sign", "retention", "digests")
TICK = 0.1
INTERVAL = 1.0


def _runs(procs: tuple[Proc, ...], job: str) -> list[int]:
    return sorted(e["period"] for p in procs for e in p.events("job_ran", job=job))


def _skipped(procs: tuple[Proc, ...], job: str) -> set[int]:
    return {e["period"] for p in procs for e in p.events("job_still_running", job=job)}


@pytest.mark.postgres  # and NATS
async def test_each_periodic_job_runs_once_per_period_across_workers_and_moves_when_its_holder_is_killed(
    pg_url: str, nats_url: str, tmp_path: Path
) -> None:
    every = {f"{name}_interval_seconds": INTERVAL for name in
             ("prompt_check", "sync", "consent_check", "audit_sign", "retention", "digest")}
    env = scaleout_env(database_url=pg_url, nats_url=nats_url, root=f"t{secrets.token_hex(5)}",
                       schedule_tick_seconds=TICK, **every)
    first = serve("worker", data_dir=tmp_path / "data", env=env, name="first")
    procs: tuple[Proc, ...] = (first,)
    try:
        await until(lambda: all(first.events("job_lease_taken", job=j) for j in JOBS), seconds=60,
                    what="the first worker takes every job's lock", procs=procs)
        second = serve("worker", data_dir=tmp_path / "data", env=env, name="second")
        procs = (first, second)
        await until(lambda: any(e.get("event") == "jetstream_ready" for e in second.logs), seconds=60,
                    what="the second worker is up", procs=procs)
        await until(lambda: all(len(_runs((first,), j)) >= 3 for j in JOBS), seconds=30,
                    what="three periods of every job on the first worker", procs=procs)
        assert not second.events("job_lease_taken"), "a lock held by a live worker was taken"
        assert not second.events("job_ran")

        first.kill()
        killed_in = math.floor(time.time() / INTERVAL)
        taken = await until(lambda: all(second.events("job_lease_taken", job=j) for j in JOBS),
                            seconds=10, what="the survivor takes every lock", procs=procs)
        assert taken < 2.0, f"the locks moved {taken:.2f} s after the kill"
        await until(lambda: all(len(_runs((second,), j)) >= 3 for j in JOBS), seconds=30,
                    what="three periods of every job on the survivor", procs=procs)
    finally:
        for proc in procs:
            proc.stop()

    for job in JOBS:
        runs = _runs(procs, job)
        assert not [p for p, n in Counter(runs).items() if n > 1], f"{job}: a period ran twice: {runs}"
        before, after = _runs((first,), job), _runs((second,), job)
        assert max(before) < min(after), f"{job}: the survivor ran a period the holder had run"
        # One period may go without a run: the one in which the holder was killed before it ran.
        assert min(after) <= killed_in + 2, f"{job}: survivor began in {min(after)}, killed in {killed_in}"
        missing = set(range(runs[0], runs[-1] + 1)) - set(runs) - _skipped(procs, job)
        assert missing <= {max(before) + 1}, f"{job}: periods without a run: {sorted(missing)}"
