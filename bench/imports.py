"""Statement imports: our import beside the parser library alone, and memory at two sizes.

    .venv/bin/python bench/imports.py                 # OFX and camt.053, 5k and 50k entries
    .venv/bin/python bench/imports.py --sizes 2000 20000 --formats ofx

For each format and size, in the same run:

- **parse only**: the library alone on the generated file (bench/gen_ofx.py `parse_only`:
  ofxtools' OFXTree parse + convert; bench/gen_camt.py `parse_only`: one lxml iterparse pass),
  best of `--repeat` runs, in entries per second;
- **import**: `StatementImporter.import_file` (parse with our reader, map the account, match,
  seal every row, store in one unit of work, summary card) into a fresh SQLite data directory,
  best of `--repeat` runs, each on its own new directory;
- the **ratio** import / parse-only (target >= 50 %);
- **peak RSS** of a process that only imports the file (a subprocess per format and size, so
  one size's peak cannot hide the other's), and its growth from the smallest to the largest size
  (target < 2x).

Every measurement runs in a child process (`--child`); the parent prints the table. CI does not
run this: it is a benchmark, not a test. Everything stays on this machine (no network).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))


def _generate(fmt: str, n: int) -> tuple[bytes, str, Any]:
    if fmt == "ofx":
        import gen_ofx

        return gen_ofx.ofx_file(n), "bench.ofx", gen_ofx.parse_only
    import gen_camt

    return gen_camt.camt053_file(n), "bench.xml", gen_camt.parse_only


async def _import_once(data: bytes, filename: str) -> tuple[float, dict[str, Any]]:
    """One import into a fresh data directory: (seconds, result as JSON)."""
    from _platform import quiet_logs
    from ledgerlink.bootstrap import bootstrap
    from ledgerlink.config import Settings
    from ledgerlink.domain.privacy import Grant
    from ledgerlink.services.messaging import messenger

    quiet_logs()
    with tempfile.TemporaryDirectory(prefix="ll-bench-imports-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            embedded_sandbox=False,
            second_sandbox_bank=False,
            retention_interval_seconds=0,
        )
        from ledgerlink.adapters.crypto import Argon2PasswordHasher

        container = await bootstrap(
            settings, hasher=Argon2PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        )
        try:
            person = await messenger.register(
                container.deps, handle="bench", display_name="Bench", password="correct horse staple"
            )
            importer = container.imports
            assert importer is not None
            began = time.perf_counter()
            result = await importer.import_file(
                Grant.for_person(person), data, filename=filename, confirm=True
            )
            seconds = time.perf_counter() - began
        finally:
            await container.stop()
    return seconds, result.as_json()


def child(mode: str, fmt: str, n: int, repeat: int) -> dict[str, Any]:
    data, filename, parse_only = _generate(fmt, n)
    out: dict[str, Any] = {"format": fmt, "n": n, "bytes": len(data)}
    if mode == "rss":
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        seconds, result = asyncio.run(_import_once(data, filename))
        out.update(
            rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            rss_before_kb=base,
            import_s=seconds,
            status=result["status"],
            added=result["added"],
        )
        return out
    parse_best = float("inf")
    entries = 0
    for _ in range(repeat):
        began = time.perf_counter()
        entries = parse_only(data)
        parse_best = min(parse_best, time.perf_counter() - began)
    from ledgerlink.adapters.statements import read_statement

    reader_best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        read_statement(data, filename=filename)
        reader_best = min(reader_best, time.perf_counter() - began)
    import_best = float("inf")
    result: dict[str, Any] = {}
    for _ in range(repeat):
        seconds, result = asyncio.run(_import_once(data, filename))
        import_best = min(import_best, seconds)
    if result.get("status") != "imported":
        raise SystemExit(f"the import did not succeed: {result}")
    out.update(
        entries=entries, parse_s=parse_best, reader_s=reader_best, import_s=import_best, added=result["added"]
    )
    return out


def _run_child(mode: str, fmt: str, n: int, repeat: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, fmt, str(n), str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} {fmt} {n} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 50_000])
    parser.add_argument("--formats", nargs="+", default=["ofx", "camt"], choices=["ofx", "camt"])
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure; the best counts")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "FORMAT", "N", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, fmt, n, repeat = args.child
        print(json.dumps(child(mode, fmt, int(n), int(repeat))))
        return
    rows = []
    for fmt in args.formats:
        for n in args.sizes:
            speed = _run_child("speed", fmt, n, args.repeat)
            rss = _run_child("rss", fmt, n, 1)
            rows.append((speed, rss))
            print(f"... {fmt} {n}: done", file=sys.stderr, flush=True)
    header = (
        f"{'format':<6} {'entries':>8} {'stored':>8} {'file MB':>8} {'parse-only/s':>13} {'reader/s':>10} "
        f"{'import/s':>10} {'ratio':>6} {'peak RSS MB':>12} {'RSS growth':>11}"
    )
    print(header)
    print("-" * len(header))
    smallest: dict[str, float] = {}
    for speed, rss in rows:
        fmt, n = speed["format"], speed["n"]
        parse_rate = n / speed["parse_s"]  # the same file, counted in the same unit: its entries
        import_rate = n / speed["import_s"]
        reader_rate = n / speed["reader_s"]
        peak = rss["rss_kb"] / 1024
        smallest.setdefault(fmt, peak)
        print(
            f"{fmt:<6} {n:>8} {speed['added']:>8} {speed['bytes'] / 1e6:>8.1f} {parse_rate:>13,.0f} "
            f"{reader_rate:>10,.0f} {import_rate:>10,.0f} {import_rate / parse_rate:>6.0%} {peak:>12.0f} "
            f"{peak / smallest[fmt]:>10.2f}x"
        )
    print(
        "\ntargets: import >= 50% of parse-only; peak RSS growth < 2x from the smallest to the largest size"
    )
    print("(rates in file entries per second; reader/s: our reader alone, what the import parses with;")
    print(" stored: rows written, a camt batch booking gives one per TxDtls)")


if __name__ == "__main__":
    main()
