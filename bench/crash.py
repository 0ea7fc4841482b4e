"""The crash test, larger: `ledgerlink serve` on SQLite killed with SIGKILL under concurrent
signed bank events (tests/integration/test_crash_kill9.py, the same code), then every event
must be applied exactly once.

    .venv/bin/python bench/crash.py                        # 2000 events, 12 kills
    .venv/bin/python bench/crash.py --events 5000 --kills 20 --seed 7

Prints "crash bench: N events, kills K, acked before a kill A, resent R, backlog at kills
[...], lost L, duplicated D" and the answers seen; exits 1 if anything was lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.test_crash_kill9 import crash_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--burst", type=int, default=300, help="events in the backlog burst (first kill)")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ledgerlink-crash-") as work:
        figures = asyncio.run(crash_run(Path(work), events=args.events, kills=args.kills,
                                        seed=args.seed, burst=args.burst))
    print(figures.line("crash bench"))
    print(f"answers: {figures.answers}; {time.monotonic() - started:.0f} s")
    return 0 if figures.lost == 0 and figures.duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
