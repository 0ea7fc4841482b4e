"""Scale-out profile benches (issue 12): the cost of durability, and what a second worker or api
process adds, in one run, on PostgreSQL and the bench's own nats-server.

    .venv/bin/python bench/cluster.py                   # --events 150 per phase, 4 persons
    .venv/bin/python bench/cluster.py --events 400 --phase-cap 90

One cluster, started once: `ledgerlink serve --role api|worker|gateway` processes (as
tests/integration/test_cluster_crash.py starts them, tests/integration/_crash_cluster.py), a
sandbox bank and a platform in this process through which four persons (alice, bob, carol, dave)
register and link; one WebSocket client per person on the gateway. Then phases, one after the
other, each a burst of `--events` signed `transaction.updated` events (8 connections, each
sending its next event when the previous one is answered; a non-2xx is sent again 0.2 s later):

  A. 1 api, 1 worker, 1 gateway; JetStream `sync_interval: always` (fsync before every ack)
  B. the same, the nats-server restarted on its store with the default sync interval (2 min)
  C. `always` again, a second worker process started
  D. a second api process started (the bank spreads its events over both)

then the same four in reverse (D C B A: the extra api and worker leave by SIGTERM), because every
phase adds to the persons' history and the insights consumer reads the whole recent history per
event: each ratio is of the means of a configuration's two passes.

Per phase: accepted events/s (first send -> last 2xx: ingest), delivered messages/s (first
send -> the last event's message frame on its person's WebSocket), and the CPU seconds of each
process (/proc/PID/stat, all threads) over the phase, per delivered message. PostgreSQL is
LEDGERLINK_TEST_PG_URL, else a throwaway server (scripts/pg), as bench/crash.py does.
Everything is on 127.0.0.1; processes are stopped by PID; each phase is capped (--phase-cap).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import free_ports, fresh_database, running_stack
from tests.integration._cluster import Proc, scaleout_env, serve
from tests.integration._crash_cluster import START_SECONDS, NatsServer, with_app_name
from tests.integration._crash_run import QUIET
from tests.integration._crash_traffic import EVENTS_PATH, Person, Watcher
from tests.integration.test_linking_flow import _linked
from tests.integration.test_realtime import signed_in

from crash import _postgres
from delivery import cpu_seconds
from ledgerlink.adapters.db.migrate import upgrade_async
from ledgerlink.adapters.webhooks import StandardWebhooksSigner
from ledgerlink.domain.privacy import Grant

LOGINS = ("alice", "bob", "carol", "dave")
SENDERS = 8


@dataclass(frozen=True)
class Config:
    name: str
    apis: int
    workers: int
    always: bool  # JetStream sync_interval: always (fsync before the ack), else the default


CONFIGS = [Config("A 1 api, 1 worker, fsync always", 1, 1, True),
           Config("B 1 api, 1 worker, default sync", 1, 1, False),
           Config("C 1 api, 2 workers, fsync always", 1, 2, True),
           Config("D 2 api, 2 workers, fsync always", 2, 2, True)]


def nats_conf(server: NatsServer, *, always: bool) -> None:
    sync = "  sync_interval: always\n" if always else ""  # absent: nats-server's default (2 min)
    server.conf.write_text(f'listen: "127.0.0.1:{server.port}"\nhttp: "127.0.0.1:{server.monitor}"\n'
                           f'jetstream {{\n  store_dir: "{server.work / "store"}"\n{sync}}}\n')


@dataclass
class Slot:
    role: str
    index: int
    port: int
    proc: Proc | None = None

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"


async def start(slot: Slot, env: dict[str, str], work: Path) -> None:
    """Spawn the slot's process and wait until it is ready (api, gateway: /healthz answers;
    worker: its JetStream consumers are set up)."""
    env = {**env, "LEDGERLINK_DATABASE_URL": with_app_name(env["LEDGERLINK_DATABASE_URL"], slot.name)}
    slot.proc = proc = serve(slot.role, data_dir=work / "data", env=env, port=slot.port, name=slot.name,
                             sandbox_url=env["LEDGERLINK_SANDBOX_URL"])
    deadline = time.monotonic() + START_SECONDS
    async with httpx.AsyncClient(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{slot.name} exited:\n{proc.tail()}")
            if slot.role == "worker":
                if proc.events("jetstream_ready"):
                    return
            else:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"http://127.0.0.1:{slot.port}/healthz")).status_code < 500:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{slot.name} not ready within {START_SECONDS} s:\n{proc.tail()}")


class Arrivals(Watcher):
    """A person's WebSocket client (tests/integration/_crash_traffic.py) that also notes when the
    message of each bench event (by its unique merchant) first arrived."""

    def __init__(self, person: Person, gateways: list[str], first: int) -> None:
        super().__init__(person, gateways, first)
        self.at: dict[str, float] = {}

    def take(self, frame: dict[str, Any]) -> None:
        now = time.perf_counter()
        super().take(frame)
        if frame.get("type") == "message":
            shown = f"{frame.get('text', '')} {frame.get('html', '')}"
            for merchant in re.findall(r"Bench (P\d-\d{6})", shown):
                self.at.setdefault(merchant, now)


def event(person: Person, tag: str, index: int) -> tuple[str, bytes]:
    body = {"type": "transaction.updated", "timestamp": datetime.now(UTC).isoformat(), "data": {
        "consent_id": None, "account_id": person.account_id, "transaction": {
            "transaction_id": f"btx_{tag}_{index:06d}", "account_id": person.account_id,
            "status": "pending", "pending_transaction_id": None, "amount": "-4.50",
            "currency": person.currency, "booking_date": None, "value_date": None,
            "merchant_name": f"Bench {tag}-{index:06d}", "descriptor": "CARD PURCHASE", "mcc": "5814"}}}
    return f"msg_{tag}_{index:06d}", json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Phase:
    name: str
    events: int
    accepted: int = 0
    delivered: int = 0
    resends: int = 0
    accept_wall: float = float("nan")
    deliver_wall: float = float("nan")
    cpu: dict[str, float] = field(default_factory=dict)  # process name -> CPU s over the phase
    load: float = 0.0

    def rate(self, count: int, wall: float) -> float:
        return count / wall if wall > 0 else float("nan")

    @property
    def ingest(self) -> float:
        return self.rate(self.accepted, self.accept_wall)

    @property
    def delivery(self) -> float:
        return self.rate(self.delivered, self.deliver_wall)

    def cpu_ms(self, *prefixes: str) -> float:
        spent = sum(s for name, s in self.cpu.items() if name.startswith(prefixes))
        return 1000 * spent / self.delivered if self.delivered else float("nan")


async def burst(phase: Phase, tag: str, persons: list[Person], apis: list[str], secret: str,
                watchers: list[Arrivals], pids: dict[str, int], cap: float) -> None:
    events = [event(persons[i % len(persons)], tag, i) for i in range(phase.events)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(phase.events):
        queue.put_nowait(i)
    signer, acked = StandardWebhooksSigner(), set[int]()
    last_ack = 0.0

    async def sender(http: httpx.AsyncClient, n: int) -> None:
        nonlocal last_ack
        sent = 0
        while len(acked) < phase.events:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                await asyncio.sleep(0.01)
                continue
            msg_id, body = events[i]
            api = apis[(n + sent) % len(apis)]
            sent += 1
            headers = {**signer.sign(secret, msg_id, datetime.now(UTC), body),
                       "content-type": "application/json"}
            try:
                resp = await http.post(f"{api}{EVENTS_PATH}", content=body, headers=headers)
                ok = 200 <= resp.status_code < 300
            except httpx.TransportError:
                ok = False
            if ok:
                acked.add(i)
                last_ack = time.perf_counter()
            else:
                phase.resends += 1
                asyncio.get_running_loop().call_later(0.2, queue.put_nowait, i)

    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=SENDERS)) as http:
        senders = [asyncio.create_task(sender(http, n)) for n in range(SENDERS)]
        done, pending = await asyncio.wait(senders, timeout=cap)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()
    phase.accepted = len(acked)
    phase.accept_wall = last_ack - began if last_ack else float("nan")
    wanted = {f"{tag}-{i:06d}" for i in acked}
    while time.perf_counter() - began < cap:
        if wanted <= {m for w in watchers for m in w.at}:
            break
        await asyncio.sleep(0.05)
    seen = [t for w in watchers for m, t in w.at.items() if m in wanted]
    phase.delivered = len(seen)
    phase.deliver_wall = max(seen) - began if seen else float("nan")
    phase.cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
    phase.load = os.getloadavg()[0]


async def run(work: Path, args: argparse.Namespace) -> list[Phase]:
    root = f"bench{secrets.token_hex(4)}"
    nats_port, monitor, api0, api1, gw0 = free_ports(5)
    nats = NatsServer(str(Path(sys.executable).with_name("nats-server")), nats_port, monitor, work / "nats")
    nats_conf(nats, always=True)
    await nats.start()
    slots = [Slot("api", 0, api0), Slot("worker", 0, 0), Slot("gateway", 0, gw0)]
    extra = {"worker": Slot("worker", 1, 0), "api": Slot("api", 1, api1)}
    phases: list[Phase] = []
    try:
        async with fresh_database("postgres", work) as db_url:
            await upgrade_async(db_url)
            async with running_stack(work, db_url, nats_url=nats.url, nats_root=root, roles="api") as stack:
                await asyncio.wait_for(stack.container.deps.bus.wait_ready(), 30)  # type: ignore[attr-defined]
                env = scaleout_env(database_url=db_url, nats_url=nats.url, root=root,
                                   sandbox_url=stack.bank_url, public_url=stack.platform_url,
                                   log_level="info", **QUIET)
                await asyncio.gather(*(start(s, env, work) for s in slots))
                persons = []
                for login in LOGINS:
                    person_id, cookie = await signed_in(stack, f"b{login}")
                    await _linked(stack, login=login, grant=Grant.for_person(person_id))
                    async with stack.deps.uow() as uow:
                        account = (await uow.accounts.for_person(person_id))[0]
                    persons.append(Person(person_id, cookie, account.bank_account_id, account.currency))
                secret = stack.container.sandbox_credentials.webhook_secret
                gateways = [f"ws://127.0.0.1:{gw0}/ws"]
                watchers = [Arrivals(p, gateways, first=0) for p in persons]
                tasks = [asyncio.create_task(w.run()) for w in watchers]
                try:
                    await asyncio.sleep(2.0)  # the clients connect and catch up
                    plan = CONFIGS + CONFIGS[::-1]  # ABCD DCBA: the history grows per phase
                    always = True
                    for k, config in enumerate(plan):
                        if config.always != always:
                            nats.stop()
                            nats_conf(nats, always=config.always)
                            await nats.start()
                            always = config.always
                            await asyncio.sleep(3.0)  # the processes reconnect
                        for role, wanted in (("api", config.apis), ("worker", config.workers)):
                            running = [s for s in slots if s.role == role]
                            if len(running) < wanted:
                                slots.append(extra[role])
                                await start(extra[role], env, work)
                            elif len(running) > wanted:
                                slots.remove(extra[role])
                                leaving = extra[role].proc
                                if leaving is not None:
                                    leaving.stop()  # SIGTERM by PID: a clean leave
                        apis = [f"http://127.0.0.1:{s.port}" for s in slots if s.role == "api"]
                        pids = {s.name: s.proc.pid for s in slots if s.proc is not None}
                        pids["nats-server"] = nats.proc.pid if nats.proc is not None else 0
                        phase = Phase(config.name, args.events)
                        print(f"phase {k + 1}: {config.name} ({args.events} events)...", flush=True)
                        await burst(phase, f"P{k + 1}", persons, apis, secret, watchers, pids, args.phase_cap)
                        phases.append(phase)
                        await asyncio.sleep(2.0)  # leftovers (syncs, insights) out of the next phase
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    for slot in {id(s): s for s in [*slots, *extra.values()]}.values():
                        if slot.proc is not None:
                            slot.proc.stop()
    finally:
        nats.stop()
    return phases


def report(phases: list[Phase], load: str) -> None:
    print(f"\ncluster bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average at "
          f"start {load}; PostgreSQL, nats-server, every process and this load generator on the same cores, "
          f"shared with other work")
    head = f"{'phase':<34}{'acc/s':>8}{'dlv/s':>8}{'dlv/acc':>10}{'resent':>7}" \
           f"{'ms CPU/msg: api':>17}{'worker':>8}{'gw':>6}{'nats':>6}{'all':>6}{'load':>6}"
    print(head)
    for p in phases:
        print(f"{p.name:<34}{p.ingest:8.0f}{p.delivery:8.0f}{p.delivered:>5}/{p.accepted:<4}{p.resends:>7}"
              f"{p.cpu_ms('api'):17.1f}{p.cpu_ms('worker'):8.1f}{p.cpu_ms('gateway'):6.1f}"
              f"{p.cpu_ms('nats'):6.1f}{p.cpu_ms('api', 'worker', 'gateway', 'nats'):6.1f}{p.load:6.1f}")
    by: dict[str, list[Phase]] = {}
    for p in phases:
        by.setdefault(p.name[0], []).append(p)

    def mean(key: str, figure: Callable[[Phase], float]) -> float:
        values = [figure(p) for p in by.get(key, []) if figure(p) == figure(p)]
        return sum(values) / len(values) if values else float("nan")

    def ratio(a: str, b: str, figure: Callable[[Phase], float]) -> str:
        x, y = mean(a, figure), mean(b, figure)
        return f"{x / y:.2f}" if y == y and y > 0 and x == x else "n/a"

    def dlv(p: Phase) -> float:
        return p.delivery

    def acc(p: Phase) -> float:
        return p.ingest

    def cpu(*prefixes: str) -> Callable[[Phase], float]:
        return lambda p: p.cpu_ms(*prefixes)
    print("ratios of the means of both passes (ABCD, then DCBA):")
    print(f"  durability, fsync always / default (A/B): delivered/s {ratio('A', 'B', dlv)}, accepted/s "
          f"{ratio('A', 'B', acc)}, nats-server CPU per message {ratio('A', 'B', cpu('nats'))}, all "
          f"processes' CPU per message {ratio('A', 'B', cpu('api', 'worker', 'gateway', 'nats'))}")
    print(f"  2 workers / 1 (C/A): delivered/s {ratio('C', 'A', dlv)}, accepted/s {ratio('C', 'A', acc)}, "
          f"worker CPU per message {ratio('C', 'A', cpu('worker'))}")
    print(f"  2 api / 1, with 2 workers (D/C): delivered/s {ratio('D', 'C', dlv)}, accepted/s "
          f"{ratio('D', 'C', acc)}, api CPU per message {ratio('D', 'C', cpu('api'))}")
    for p in phases:
        if p.delivered < p.accepted or p.accepted < p.events:
            print(f"note: {p.name}: {p.events} sent, {p.accepted} accepted, {p.delivered} delivered "
                  "within the cap")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=150, help="events per phase (1-5000)")
    parser.add_argument("--phase-cap", type=float, default=60.0, help="max seconds per phase")
    args = parser.parse_args()
    if not 1 <= args.events <= 5000 or not 5 <= args.phase_cap <= 300:
        parser.error("out of bounds: --events 1-5000, --phase-cap 5-300")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ll-cluster-bench-") as work, _postgres("ll-cluster-pg-"):
        phases = asyncio.run(run(Path(work), args))
    report(phases, load)
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
