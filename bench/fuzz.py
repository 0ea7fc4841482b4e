"""Fuzz the parsers that take outside input, long: the properties of
tests/unit/test_fuzz_parsers.py (one definition) with many more examples.

    .venv/bin/python bench/fuzz.py                   # 5000 examples per parser
    .venv/bin/python bench/fuzz.py --examples 20000 --only wire

Prints "parser: N examples, crashes C, X s" per parser and a total; for a crash, the first
failing input and the exception. Exits 1 when any parser crashed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LEDGERLINK_FUZZ_PROFILE", "ledgerlink-fuzz-long")

from hypothesis import HealthCheck, Phase, given, settings
from tests.unit.test_fuzz_parsers import PROPERTIES


def fuzz(name: str, examples: int) -> tuple[int, int, str | None, float]:
    """Run one property `examples` times without stopping at a crash: (run, crashes, first, s)."""
    strategy, check = PROPERTIES[name]
    ran = crashes = 0
    first: str | None = None

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def run(args: tuple[Any, ...]) -> None:
        nonlocal ran, crashes, first
        ran += 1
        try:
            check(*args)
        except Exception as exc:  # counting crashes is the point
            crashes += 1
            if first is None:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                first = f"{type(exc).__name__}: {exc} at {where.filename}:{where.lineno}"
                first += f"\n    input: {args!r:.300}"

    start = time.perf_counter()
    run()
    return ran, crashes, first, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="examples per parser (default 5000)")
    parser.add_argument("--only", default="", help="run only the parsers whose name contains this")
    args = parser.parse_args()
    total_ran = total_crashes = 0
    total_s = 0.0
    for name in PROPERTIES:
        if args.only not in name:
            continue
        ran, crashes, first, seconds = fuzz(name, args.examples)
        print(f"{name}: {ran} examples, crashes {crashes}, {seconds:.1f} s", flush=True)
        if first:
            print(f"  first crash: {first}", flush=True)
        total_ran, total_crashes, total_s = total_ran + ran, total_crashes + crashes, total_s + seconds
    print(f"total: {total_ran} examples, crashes {total_crashes}, {total_s:.1f} s")
    return 1 if total_crashes else 0


if __name__ == "__main__":
    sys.exit(main())
