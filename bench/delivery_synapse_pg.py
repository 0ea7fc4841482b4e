"""bench/delivery.py's comparison in production shape (issue 12): Synapse on PostgreSQL, beside
ledgerlink's scale-out profile on the same PostgreSQL server, in one run.

    .venv/bin/python bench/delivery_synapse_pg.py               # delivery.py's defaults
    .venv/bin/python bench/delivery_synapse_pg.py --events 500 --seconds 10

The phases, clients, figures and report are bench/delivery.py's (imported from it): a latency
phase at a fixed `--rate` for `--seconds` (open loop, from each send's due time to the client
having the message), then a closed-loop burst of `--events` from `--connections` keep-alive
connections (delivered messages/s, first send -> last delivery), one system after the other,
never both at once. What differs is what runs:

- **One PostgreSQL server** for both: LEDGERLINK_TEST_PG_URL's, else a throwaway `scripts/pg`
  server (fsync off, as for the tests). Ledgerlink gets its own empty database; Synapse gets one
  created as it requires (ENCODING 'UTF8', LC_COLLATE 'C', LC_CTYPE 'C', TEMPLATE template0).
- **ledgerlink, scale-out profile**: the bench's own nats-server (JetStream `sync_interval:
  always`), `ledgerlink serve --role api` (the partner's events go here), `--role worker` (relay,
  consumers, live fan-out) and `--role gateway` (the WebSockets), one process each; the sandbox
  bank and a platform with the `api` role in this process, through which `--clients` persons
  register and link a bank customer each (alice, bob, carol, dave). Each person's client signs in
  on the api process (`POST /login`) and holds its WebSocket on the gateway. All of them are
  stopped by PID before Synapse starts.
- **Synapse on PostgreSQL**: `scripts/synapse install-postgres` (psycopg2 in Synapse's own
  venv), then `scripts/synapse start` with SYNAPSE_PG_* naming the database above; one process,
  the same sender, receivers, rooms and /sync clients as bench/delivery.py.

"Server CPU" is the sum over ledgerlink's api, worker, gateway and nats-server processes, and
Synapse's one process; the PostgreSQL server's own CPU (postmaster and its backends) is printed
beside it for each phase. "RSS" for ledgerlink is the sum of its three processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from delivery import (  # noqa: E402
    BENCH_PASSWORD,
    SYNAPSE_SCRIPT,
    PhaseResult,
    SetupError,
    SynapseProcess,
    Watcher,
    _burst_counts,
    _collect,
    _ll_close,
    _ll_requests,
    _paced_counts,
    burst,
    cpu_seconds,
    matrix_setup,
    paced_load,
    report,
    rss_kib,
    settle,
    synapse_latency,
    synapse_throughput,
    wait_for_arrivals,
    ws_login,
)

LOGINS = ("alice", "bob", "carol", "dave")
PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))


def pg_pids(postmaster: int) -> list[int]:
    """The postmaster and every process it started (its backends, checkpointer, ...)."""
    try:
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    except OSError:
        return []
    return [postmaster, *map(int, children)]


class CpuOf:
    """CPU seconds over a phase of a fixed set of processes and of the PostgreSQL server."""

    def __init__(self, pids: list[int], postmaster: int) -> None:
        self.pids, self.postmaster = pids, postmaster
        self.t0, self.cpu0, self.pg0 = time.perf_counter(), self._cpu(pids), self._pg()

    @staticmethod
    def _cpu(pids: list[int]) -> float:
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                total += cpu_seconds(pid)
        return total

    def _pg(self) -> dict[int, float]:
        out = {}
        for pid in pg_pids(self.postmaster):
            with contextlib.suppress(OSError):
                out[pid] = cpu_seconds(pid)
        return out

    def into(self, result: PhaseResult) -> float:
        """Fills the result's CPU figures (runq is not measured for a set: 0); returns the
        PostgreSQL server's CPU seconds over the phase (backends alive at the end)."""
        wall = time.perf_counter() - self.t0
        result.cpu_s = self._cpu(self.pids) - self.cpu0
        result.cpu_pct = 100 * result.cpu_s / wall
        result.load = os.getloadavg()[0]
        return sum(cpu - self.pg0.get(pid, 0.0) for pid, cpu in self._pg().items())


class ScaleOut:
    """ledgerlink's scale-out profile for the bench: what the phases need."""

    def __init__(self, api: str, gateway: str, persons: list[dict[str, Any]], pids: list[int],
                 postmaster: int) -> None:
        self.api, self.gateway, self.persons = api, gateway, persons
        self.pids, self.postmaster = pids, postmaster
        self.pg_cpu: dict[str, float] = {}

    async def watchers(self, run: str, owners: list[tuple[int, int]]) -> list[Watcher]:
        out = []
        for c, person in enumerate(self.persons):
            watcher = Watcher(run, sum(1 for o, _ in owners if o == c))
            await watcher.connect(self.gateway, await ws_login(self.api, person["handle"], BENCH_PASSWORD))
            out.append(watcher)
        return out

    async def latency(self, args: argparse.Namespace, run: str) -> PhaseResult:
        total = int(args.rate * args.seconds)
        order, owners, base = _ll_requests(self.persons, run, total, urlparse(self.api).netloc)
        watchers = await self.watchers(run, owners)
        result = PhaseResult(sent=len(order))
        usage = CpuOf(self.pids, self.postmaster)
        paced = await paced_load(self.api, order, args.rate)
        _paced_counts(result, paced, 202)
        await wait_for_arrivals(lambda: sum(len(w.arrivals) for w in watchers), result.accepted,
                                stall=10.0, cap=30.0)
        self.pg_cpu["latency"] = usage.into(result)
        _collect(result, owners, base, [w.arrivals for w in watchers], paced.scheduled)
        await _ll_close(watchers, result)
        return result

    async def throughput(self, args: argparse.Namespace, run: str) -> PhaseResult:
        order, owners, base = _ll_requests(self.persons, run, args.events, urlparse(self.api).netloc)
        watchers = await self.watchers(run, owners)
        result = PhaseResult(sent=len(order))
        usage = CpuOf(self.pids, self.postmaster)
        res = await burst(self.api, order, args.connections, cap=args.burst_cap)
        _burst_counts(result, res, 202)
        await wait_for_arrivals(lambda: sum(len(w.arrivals) for w in watchers), result.accepted,
                                stall=args.stall, cap=args.grace)
        last = max((at for w in watchers for at in w.arrivals.values()), default=res.first_send)
        result.wall = last - res.first_send
        self.pg_cpu["throughput"] = usage.into(result)
        _collect(result, owners, base, [w.arrivals for w in watchers], None)
        await _ll_close(watchers, result)
        return result


async def idle(pids: list[int], *, cap: float = 20.0) -> float:
    """Wait (at most `cap`) until the processes together use < 5 % of a core over 0.5 s."""
    started = time.perf_counter()
    while time.perf_counter() - started < cap:
        before = CpuOf._cpu(pids)
        await asyncio.sleep(0.5)
        if CpuOf._cpu(pids) - before < 0.025:
            break
    return time.perf_counter() - started


async def run_scaleout(args: argparse.Namespace, work: Path, run: str, postmaster: int) -> dict[str, Any]:
    from tests.conftest import free_ports, fresh_database, running_stack
    from tests.integration._cluster import scaleout_env
    from tests.integration._crash_cluster import NatsServer
    from tests.integration._crash_run import QUIET
    from tests.integration.test_linking_flow import _linked

    from cluster import Slot, nats_conf, start
    from ledgerlink.adapters.db.migrate import upgrade_async
    from ledgerlink.domain.privacy import Grant
    from ledgerlink.services.messaging import messenger

    started = time.monotonic()
    root = f"dsp{secrets.token_hex(4)}"
    nats_port, monitor, api_port, gw_port = free_ports(4)
    nats = NatsServer(str(Path(sys.executable).with_name("nats-server")), nats_port, monitor, work / "nats")
    nats_conf(nats, always=True)
    await nats.start()
    slots = [Slot("api", 0, api_port), Slot("worker", 0, 0), Slot("gateway", 0, gw_port)]
    try:
        async with fresh_database("postgres", work) as db_url:
            await upgrade_async(db_url)
            async with running_stack(work, db_url, nats_url=nats.url, nats_root=root, roles="api") as stack:
                await asyncio.wait_for(stack.container.deps.bus.wait_ready(), 30)  # type: ignore[attr-defined]
                env = scaleout_env(database_url=db_url, nats_url=nats.url, root=root,
                                   sandbox_url=stack.bank_url, public_url=stack.platform_url,
                                   log_level="info", **QUIET)  # info: a worker is ready at jetstream_ready
                await asyncio.gather(*(start(s, env, work) for s in slots))
                persons = []
                for i, login in enumerate(LOGINS[:args.clients]):
                    handle = f"bench{i + 1}"
                    person_id = await messenger.register(stack.deps, handle=handle, display_name=handle,
                                                         password=BENCH_PASSWORD)
                    await _linked(stack, login=login, grant=Grant.for_person(person_id))
                    async with stack.deps.uow() as uow:
                        account = (await uow.accounts.for_person(person_id))[0]
                    persons.append({"handle": handle, "bank_account_id": account.bank_account_id,
                                    "currency": account.currency,
                                    "secret": stack.container.sandbox_credentials.webhook_secret})
                pids = [s.proc.pid for s in slots if s.proc is not None]
                assert nats.proc is not None
                ll = ScaleOut(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{gw_port}", persons,
                              [*pids, nats.proc.pid], postmaster)
                await idle(ll.pids)
                print(f"ledgerlink scale-out up (api, worker, gateway, nats-server) with {len(persons)} "
                      f"linked persons in {time.monotonic() - started:.1f} s; latency phase "
                      f"({args.rate:g}/s for {args.seconds:g} s)...", flush=True)
                lat = await ll.latency(args, run + "L")
                waited = await idle(ll.pids)
                print(f"throughput phase ({args.events} events, after {waited:.1f} s settling)...",
                      flush=True)
                thr = await ll.throughput(args, run + "T")
                rss = [rss_kib(pid) for pid in pids]
    finally:
        for slot in slots:
            if slot.proc is not None:
                slot.proc.stop()
        nats.stop()
    return {"lat": lat, "thr": thr, "rss": (sum(r[0] for r in rss), sum(r[1] for r in rss)),
            "log": (0, ""), "pg_cpu": ll.pg_cpu,
            "version": "scale-out: PostgreSQL, NATS JetStream (fsync always), 1 api + 1 worker + 1 gateway "
                       "process (CPU: the three and nats-server; RSS: the three)"}


def synapse_database(db_url: str) -> dict[str, str]:
    """An empty database for Synapse on the same server, created as Synapse requires; the
    SYNAPSE_PG_* variables that name it for scripts/synapse."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    name = f"synapse_{secrets.token_hex(4)}"
    host, port, user = url.host or "127.0.0.1", str(url.port or 5432), url.username or "postgres"
    subprocess.run([str(PGBIN / "createdb"), "-h", host, "-p", port, "-U", user, "-E", "UTF8",
                    "--lc-collate=C", "--lc-ctype=C", "-T", "template0", name], check=True)
    return {"SYNAPSE_PG_DATABASE": name, "SYNAPSE_PG_HOST": host, "SYNAPSE_PG_PORT": port,
            "SYNAPSE_PG_USER": user}


def postmaster_pid(db_url: str) -> int:
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    out = subprocess.run([str(PGBIN / "psql"), "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                          "-U", url.username or "postgres", "-d", url.database or "postgres", "-Atc",
                          "SHOW data_directory"], capture_output=True, text=True, check=True)
    data_dir = Path(out.stdout.strip())
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except OSError:
        return 0  # another user's server: its CPU is not read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4, help="persons / Matrix receivers (1-4)")
    parser.add_argument("--events", type=int, default=1000, help="events (messages) in the burst")
    parser.add_argument("--connections", type=int, default=8, help="sender keep-alive connections")
    parser.add_argument("--rate", type=float, default=5.0, help="events/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    parser.add_argument("--grace", type=float, default=90.0, help="max wait for deliveries after the burst")
    parser.add_argument("--stall", type=float, default=20.0, help="give up after this long with no delivery")
    parser.add_argument("--burst-cap", type=float, default=180.0, help="max time for sending the burst")
    args = parser.parse_args()
    if not 1 <= args.clients <= len(LOGINS) or not 1 <= args.events <= 20000 or not 0 < args.rate <= 500 \
            or not 0 < args.seconds <= 60 or not 1 <= args.connections <= 64:
        parser.error("out of bounds: --clients 1-4, --events 1-20000, --rate <= 500, --seconds <= 60, "
                     "--connections 1-64")
    args.skip_synapse, args.without_insights, args.profile = False, False, False  # for delivery.report
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks stop the servers
    from _platform import quiet_logs
    from crash import PG_URL_ENV, _postgres

    quiet_logs()
    installed = subprocess.run([str(SYNAPSE_SCRIPT), "install-postgres"], capture_output=True, text=True,
                               timeout=600, check=False)
    if installed.returncode != 0:
        print(f"scripts/synapse install-postgres failed: {installed.stderr.strip()[-800:]}", file=sys.stderr)
        return 2
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    run = f"{int(time.time()) % 100000:05d}"
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ll-dsp-"))
    synapse = SynapseProcess(work, 0)
    try:
        with _postgres("ll-dsp-pg-"):
            db_url = os.environ[PG_URL_ENV]
            postmaster = postmaster_pid(db_url)
            ll = asyncio.run(run_scaleout(args, work, run, postmaster))
            os.environ.update(synapse_database(db_url))
            synapse.install()  # a no-op by now; reads the version
            try:
                mx = asyncio.run(run_synapse_pg(args, synapse, run, postmaster))
            finally:
                synapse.stop()
    except SetupError as exc:
        print(f"\nsetup failed: {exc}\n(work dir kept: {work})", file=sys.stderr)
        return 2
    finally:
        synapse.stop()
    report(args, ll, mx, load)
    print(f"PostgreSQL server CPU s (postmaster + backends), ledgerlink / Synapse: latency phase "
          f"{ll['pg_cpu'].get('latency', 0):.1f} / {mx['pg_cpu'].get('latency', 0):.1f}, throughput phase "
          f"{ll['pg_cpu'].get('throughput', 0):.1f} / {mx['pg_cpu'].get('throughput', 0):.1f}"
          + ("" if postmaster else " (not readable: another user's server)"))
    shutil.rmtree(work, ignore_errors=True)
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


async def run_synapse_pg(args: argparse.Namespace, synapse: SynapseProcess, run: str,
                         postmaster: int) -> dict[str, Any]:
    """bench/delivery.py's Synapse half (its phases), with the PostgreSQL server's CPU per phase."""
    started = time.monotonic()
    synapse.start()
    mx = await matrix_setup(synapse, args.clients)
    print(f"Synapse {synapse.version} on PostgreSQL up with a sender, {args.clients} receivers and "
          f"{args.clients} rooms in {time.monotonic() - started:.1f} s (pid {synapse.pid}); latency phase...",
          flush=True)
    pg_cpu: dict[str, float] = {}
    usage = CpuOf([], postmaster)
    lat = await synapse_latency(args, synapse, mx, run + "L")
    pg_cpu["latency"] = usage.into(PhaseResult())
    waited = await settle(synapse.pid)
    print(f"throughput phase ({args.events} messages, after {waited:.1f} s settling)...", flush=True)
    usage = CpuOf([], postmaster)
    thr = await synapse_throughput(args, synapse, mx, run + "T")
    pg_cpu["throughput"] = usage.into(PhaseResult())
    return {"lat": lat, "thr": thr, "rss": rss_kib(synapse.pid), "pg_cpu": pg_cpu,
            "version": f"Synapse {synapse.version}, PostgreSQL (psycopg2), 1 process"}


if __name__ == "__main__":
    sys.exit(main())
