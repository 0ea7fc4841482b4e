"""The crash test, larger.

Embedded profile (default): `ledgerlink serve` on SQLite killed with SIGKILL under concurrent
signed bank events (tests/integration/test_crash_kill9.py, the same code), then every event
must be applied exactly once.

    .venv/bin/python bench/crash.py                        # 2000 events, 12 kills
    .venv/bin/python bench/crash.py --events 5000 --kills 20 --seed 7

Prints "crash bench: N events, kills K, acked before a kill A, resent R, backlog at kills
[...], lost L, duplicated D" and the answers seen; exits 1 if anything was lost or duplicated.

Scale-out profile (issue 12): 2 api, 2 worker, 2 gateway processes on PostgreSQL and the
bench's own nats-server, SIGKILLed (every role, the relay's lease holder, the nats-server) while
WebSocket clients stay connected (tests/integration/test_cluster_crash.py, the same code).
PostgreSQL: LEDGERLINK_TEST_PG_URL, else a throwaway server started with scripts/pg.

    .venv/bin/python bench/crash.py --profile cluster      # 10000 events, 200 kills

Prints "cluster crash bench: N events, acknowledged, applied, delivered, duplicates, lost, ...,
kills K (per role), dead letters (poison, others by consumer)"; exits 1 if anything was lost,
duplicated or shown twice, or a well-formed event was dead-lettered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration._crash_run import crash_cluster_run
from tests.integration.test_crash_kill9 import crash_run

ROOT = Path(__file__).resolve().parent.parent
PG_URL_ENV = "LEDGERLINK_TEST_PG_URL"


@contextlib.contextmanager
def _postgres(prefix: str) -> Iterator[None]:
    """LEDGERLINK_TEST_PG_URL as given, or a throwaway server (scripts/pg) in a new directory
    named by `prefix`, stopped by its PID and removed. The server runs as the postgres user:
    its directory must be reachable by that user, which a TemporaryDirectory (mode 0700,
    owned by us) is not."""
    if os.environ.get(PG_URL_ENV):
        yield
        return
    work = Path(tempfile.mkdtemp(prefix=prefix))
    work.chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        subprocess.run(["bash", str(ROOT / "scripts/pg"), "start", str(work / "pg"), str(port)], check=True)
        try:
            subprocess.run(["/usr/lib/postgresql/15/bin/createdb", "-h", "127.0.0.1", "-p", str(port),
                            "-U", "postgres", "ledgerlink_bench"], check=True)
            os.environ[PG_URL_ENV] = f"postgresql+psycopg://postgres@127.0.0.1:{port}/ledgerlink_bench"
            yield
        finally:
            subprocess.run(["bash", str(ROOT / "scripts/pg"), "stop", str(work / "pg")], check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cluster(args: argparse.Namespace) -> int:
    started = time.monotonic()
    binary = str(Path(sys.executable).with_name("nats-server"))
    with tempfile.TemporaryDirectory(prefix="ledgerlink-crash-cluster-") as work, \
            _postgres("ledgerlink-crash-pg-"):
        figures = asyncio.run(crash_cluster_run(Path(work), nats_binary=binary, events=args.events,
                                                kills=args.kills, seed=args.seed))
    print(figures.line("cluster crash bench"))
    print(f"answers: {figures.answers}; {time.monotonic() - started:.0f} s")
    clean = (figures.lost, figures.duplicated, figures.duplicates, figures.out_of_order) == (0, 0, 0, 0)
    # every event is well-formed: a dead letter other than the poison message's is a defect
    dead_clean = not figures.dead_by_consumer and figures.poison_dead == figures.poison_expected
    if not dead_clean:
        print(f"dead letters of well-formed events, by consumer: {figures.dead_by_consumer}; "
              f"poison dead-lettered {figures.poison_dead} times of {figures.poison_expected}")
    complete = figures.acknowledged + figures.already_received == figures.events
    return 0 if clean and dead_clean and complete else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("embedded", "cluster"), default="embedded")
    parser.add_argument("--events", type=int, help="default 2000 (embedded), 10000 (cluster)")
    parser.add_argument("--kills", type=int, help="default 12 (embedded), 200 (cluster)")
    parser.add_argument("--burst", type=int, default=300, help="events in the backlog burst (first kill)")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    cluster_profile = args.profile == "cluster"
    args.events = args.events or (10000 if cluster_profile else 2000)
    args.kills = args.kills or (200 if cluster_profile else 12)
    if cluster_profile:
        return cluster(args)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ledgerlink-crash-") as work:
        figures = asyncio.run(crash_run(Path(work), events=args.events, kills=args.kills,
                                        seed=args.seed, burst=args.burst))
    print(figures.line("crash bench"))
    print(f"answers: {figures.answers}; {time.monotonic() - started:.0f} s")
    return 0 if figures.lost == 0 and figures.duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
