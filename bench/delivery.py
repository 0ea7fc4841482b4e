"""Delivery benchmark: bank events -> chat messages on connected WebSocket clients (throughput and
latency), beside Synapse's own message rate and send-to-sync latency measured in the same run on
the same machine, one after the other. See bench/README.md.

    .venv/bin/python bench/delivery.py [--clients 4] [--events 2000] [--rate 20] [--seconds 10]

Processes: this one (orchestrator and every client: HTTP senders, WebSocket clients, /sync
long-pollers), then the ledgerlink server (one uvicorn worker, embedded SQLite + in-process bus +
embedded sandbox bank, like `ledgerlink serve`), stopped, then Synapse (SQLite, started with
scripts/synapse, stopped by PID). Everything is on 127.0.0.1; every load loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from _platform import add_bank_customer, link_person, quiet_logs, start_platform, write_ready
from _spy import Spy, summarize
from ingest import (
    BENCH_PASSWORD,
    Paced,
    Server,
    Watcher,
    index_of_card,
    paced_load,
    pct,
    purchase_of,
    read_response,
    rss_kib,
    sign_events,
    ws_login,
)

ROOT = Path(__file__).resolve().parent.parent
SYNAPSE_SCRIPT = ROOT / "scripts" / "synapse"
SYNAPSE_VENV = Path(os.environ.get("SYNAPSE_VENV", ROOT / ".venv-synapse"))
CLIENT = "/_matrix/client/v3"
# Receivers' /sync: only the timeline of m.room.message, nothing else (no presence, receipts,
# typing, account data, state), so a sync answer carries what the WebSocket frame carries.
SYNC_FILTER = json.dumps({
    "presence": {"types": []}, "account_data": {"types": []},
    "room": {"timeline": {"limit": 5000, "types": ["m.room.message"]}, "state": {"types": []},
             "ephemeral": {"types": []}, "account_data": {"types": []}}}, separators=(",", ":"))


class SetupError(RuntimeError):
    """A server or its setup failed: reported in one line, exit status 2."""


# ============================================================================ ledgerlink server


def _install_profiler(out: Path) -> None:
    """SIGUSR1 starts cProfile on the event loop's thread, SIGUSR2 stops it and writes `out`."""
    import cProfile

    loop = asyncio.get_running_loop()
    state: dict[str, cProfile.Profile] = {}

    def start() -> None:
        state["prof"] = cProfile.Profile()
        state["prof"].enable()

    def stop() -> None:
        prof = state.pop("prof", None)
        if prof is not None:
            prof.disable()
            tmp = out.with_suffix(".tmp")
            prof.dump_stats(tmp)
            tmp.replace(out)

    loop.add_signal_handler(signal.SIGUSR1, start)
    loop.add_signal_handler(signal.SIGUSR2, stop)


def _drop_insights(container: Any) -> None:
    """Diagnostic (--without-insights): unsubscribe the TransactionChanged insights consumer
    (bootstrap/wiring.py `on_transaction_insights`), so the figure is the delivery path alone."""
    from ledgerlink.domain.events import TransactionChanged

    handlers = container.deps.bus._handlers.get(TransactionChanged, [])
    kept = [h for h in handlers if getattr(h, "__name__", "") != "on_transaction_insights"]
    if len(kept) != len(handlers) - 1:
        raise SetupError("--without-insights: the insights consumer was not found on the bus")
    handlers[:] = kept


async def _serve(ready: Path, loop: str, data_dir: Path, clients: int, insights: bool) -> None:
    """The platform with `clients` persons, each linking their own sandbox bank customer (the
    demo customers first, then added one-account customers)."""
    platform = await start_platform(loop, data_dir, f"sqlite:///{data_dir / 'ledgerlink.db'}",
                                    prepare=None if insights else _drop_insights)
    container = platform.container
    logins = [c.login for c in container.sandbox.customers][:clients]
    for extra in range(len(logins), clients):
        add_bank_customer(container, f"bench{extra + 1}")
        logins.append(f"bench{extra + 1}")
    persons = [await link_person(container, handle=f"bench{i + 1}", password=BENCH_PASSWORD,
                                 bank_login=login, display_name=f"Bench {i + 1}")
               for i, login in enumerate(logins)]
    _install_profiler(ready.with_suffix(".prof"))
    write_ready(ready, {"url": platform.url, "pid": os.getpid(), "persons": persons})
    await asyncio.gather(*platform.tasks)


def _server_main(argv: list[str]) -> int:
    """`delivery.py _serve-delivery READY LOOP DATA_DIR CLIENTS INSIGHTS`."""
    import uvicorn

    quiet_logs()
    ready, loop, data_dir, clients = Path(argv[1]), argv[2], Path(argv[3]), int(argv[4])
    insights = argv[5] == "1"
    factory = uvicorn.Config("x", loop=loop).get_loop_factory()
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_serve(ready, loop, data_dir, clients, insights))
    return 0


class PlatformProcess(Server):
    """bench/ingest.py's server handle (wait_ready, stop), running this file's server role."""

    def __init__(self, workdir: Path, loop: str, clients: int, *, insights: bool = True) -> None:
        self.ready_file = workdir / "ledgerlink.ready"
        self.log = workdir / "ledgerlink.log"
        cmd = [sys.executable, str(Path(__file__).resolve()), "_serve-delivery", str(self.ready_file),
               loop, str(workdir / "data"), str(clients), "1" if insights else "0"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.info: dict[str, Any] = {}


# ============================================================================ Synapse server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SynapseProcess:
    """Synapse via scripts/synapse in DIR on 127.0.0.1:PORT; stopped by the PID it wrote."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.dir = workdir / "synapse"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pid = 0
        self.version = "?"

    def install(self) -> None:
        out = subprocess.run([str(SYNAPSE_SCRIPT), "install"], capture_output=True, text=True,
                             timeout=600, check=False)
        if out.returncode != 0:
            raise SetupError(f"scripts/synapse install failed: {(out.stderr or out.stdout).strip()[-800:]}")
        ver = subprocess.run([str(SYNAPSE_VENV / "bin" / "python"), "-c",
                              "import synapse; print(synapse.__version__)"],
                             capture_output=True, text=True, timeout=60, check=False)
        self.version = ver.stdout.strip() or "?"

    def start(self) -> None:
        out = subprocess.run([str(SYNAPSE_SCRIPT), "start", str(self.dir), str(self.port)],
                             capture_output=True, text=True, timeout=120, check=False)
        pidfile = self.dir / "homeserver.pid"
        if pidfile.exists():
            self.pid = int(pidfile.read_text().split()[0])
        if out.returncode != 0 or "ready" not in out.stdout:
            tail = "\n  ".join((out.stderr or out.stdout).strip().splitlines()[-6:])
            raise SetupError(f"scripts/synapse start failed (exit {out.returncode}); "
                             f"its last lines:\n  {tail}")

    @property
    def secret(self) -> str:
        return (self.dir / "shared_secret").read_text().strip()

    def stop(self) -> None:
        """scripts/synapse stop (SIGTERM to the pidfile's PID, SIGKILL after 10 s), then make
        sure that PID is gone."""
        if not self.dir.exists():
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([str(SYNAPSE_SCRIPT), "stop", str(self.dir)], capture_output=True,
                           timeout=30, check=False)
        if self.pid and _alive(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


# ============================================================================ clients


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runq_seconds(pid: int) -> float:
    """Seconds the process's main thread (the event loop) spent runnable but waiting for a CPU
    (/proc/PID/schedstat, second field): how much the machine's other load held it back."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


class Usage:
    """Server CPU (all threads) and run-queue wait (main thread) over a phase, % of the wall."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.t0, self.cpu0, self.runq0 = time.perf_counter(), cpu_seconds(pid), runq_seconds(pid)

    def into(self, result: PhaseResult, since: float | None = None) -> None:
        wall = time.perf_counter() - (self.t0 if since is None else since)
        result.cpu_s = cpu_seconds(self.pid) - self.cpu0
        result.cpu_pct = 100 * result.cpu_s / wall
        result.runq_pct = 100 * (runq_seconds(self.pid) - self.runq0) / wall
        result.load = os.getloadavg()[0]


async def settle(pid: int, *, below: float = 0.05, cap: float = 20.0) -> float:
    """Wait (at most `cap` s) until the process uses less than `below` of a core over 0.5 s, so
    one phase's leftovers do not land in the next. Returns the time waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < cap:
        cpu = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(pid) - cpu < below * 0.5:
            break
    return time.perf_counter() - started


@dataclass
class Burst:
    """A closed-loop burst: `connections` keep-alive connections, each sending its next request
    when the previous answer is in."""

    first_send: float = 0.0
    last_answer: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    unsent: int = 0


async def burst(url: str, requests: list[bytes], connections: int, *, cap: float) -> Burst:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    result = Burst()
    queue = iter(requests)
    conns = [await asyncio.open_connection(host, port) for _ in range(connections)]
    attempted = 0

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempted
        for payload in queue:
            attempted += 1
            try:
                writer.write(payload)
                status, _ = await read_response(reader)
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                result.errors += 1
                break
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.last_answer = time.perf_counter()
        writer.close()

    result.first_send = time.perf_counter()
    tasks = [asyncio.create_task(worker(r, w)) for r, w in conns]
    _, pending = await asyncio.wait(tasks, timeout=cap)
    for task in pending:
        task.cancel()
    result.unsent = len(requests) - attempted
    return result


async def wait_for_arrivals(count: Callable[[], int], target: int, *, stall: float, cap: float) -> None:
    """Until `count() >= target`, or no new arrival for `stall` s, or `cap` s in all."""
    started = last_change = time.perf_counter()
    seen = count()
    while seen < target:
        await asyncio.sleep(0.02)
        now = time.perf_counter()
        if count() != seen:
            seen, last_change = count(), now
        if now - last_change > stall or now - started > cap:
            return


class SyncWatcher:
    """One Matrix receiver long-polling /sync: arrival time of each bench message (by the
    purchase its body names, `index_of_card`), taken when the sync answer is in, before it is
    parsed."""

    def __init__(self, base: str, token: str, run: str) -> None:
        self.arrivals: dict[int, float] = {}
        self.limited = 0  # sync answers whose timeline was cut (a gap: messages not delivered)
        self.errors = 0
        self._base, self._token = base, token
        self._run = run
        self._task: asyncio.Task[None] | None = None
        self._since = ""

    async def start(self) -> None:
        import httpx

        self._http = httpx.AsyncClient(base_url=self._base, timeout=60.0,
                                       headers={"Authorization": f"Bearer {self._token}"})
        resp = await self._http.get(f"{CLIENT}/sync", params={"filter": SYNC_FILTER, "timeout": "0"})
        resp.raise_for_status()
        self._since = resp.json()["next_batch"]
        self._task = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            try:
                resp = await self._http.get(f"{CLIENT}/sync", params={
                    "filter": SYNC_FILTER, "since": self._since, "timeout": "30000"})
            except OSError:
                self.errors += 1
                await asyncio.sleep(0.1)
                continue
            now = time.perf_counter()
            if resp.status_code != 200:
                self.errors += 1
                await asyncio.sleep(0.1)
                continue
            body = resp.json()
            self._since = body["next_batch"]
            for room in body.get("rooms", {}).get("join", {}).values():
                timeline = room.get("timeline", {})
                self.limited += bool(timeline.get("limited"))
                for event in timeline.get("events", []):
                    index = index_of_card(self._run, str(event.get("content", {}).get("body", "")))
                    if index is not None:
                        self.arrivals.setdefault(index, now)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._http.aclose()


# ============================================================================ measurements


@dataclass
class PhaseResult:
    """One phase of one system."""

    sent: int = 0
    accepted: int = 0  # 202 (ledgerlink) / 200 (Synapse)
    rejected: int = 0  # other statuses, socket errors, unsent, unanswered
    delivered: int = 0
    lost: int = 0  # accepted but never seen by a client
    misrouted: int = 0  # seen by a client that was not the addressee
    latencies: list[float] = field(default_factory=list)  # latency phase: s from scheduled send
    rtt: list[float] = field(default_factory=list)  # latency phase: send -> 2xx answer
    late: list[float] = field(default_factory=list)  # latency phase: the sender's own lateness
    wall: float = 0.0  # throughput phase: first send -> last delivery
    accept_wall: float = 0.0  # throughput phase: first send -> last answer
    cpu_s: float = 0.0  # server CPU seconds (all threads) over the phase
    cpu_pct: float = 0.0  # server CPU, % of one core, over the phase
    runq_pct: float = 0.0  # server's event-loop thread waiting for a CPU, % of the phase
    load: float = 0.0  # 1-minute load average at the end of the phase
    notes: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.delivered / self.wall if self.wall > 0 else float("nan")


def _interleave(per_client: list[list[bytes]], total: int) -> tuple[list[bytes], list[tuple[int, int]]]:
    """Round-robin over the clients: the requests in send order, and (client, index) of each."""
    order: list[bytes] = []
    owners: list[tuple[int, int]] = []
    for k in range(max(len(c) for c in per_client)):
        for client, chunk in enumerate(per_client):
            if k < len(chunk) and len(order) < total:
                order.append(chunk[k])
                owners.append((client, k))
    return order, owners


def _collect(result: PhaseResult, owners: list[tuple[int, int]], base: list[int],
             arrivals: list[dict[int, float]], sent_at: list[float] | None) -> None:
    """Fill delivered/misrouted/latencies. Client c's message k carries index base[c] + k."""
    expected = {base[c] + k: (pos, c) for pos, (c, k) in enumerate(owners)}
    for client, seen in enumerate(arrivals):
        for index, at in seen.items():
            where = expected.get(index)
            if where is None:
                continue
            pos, owner = where
            if owner != client:
                result.misrouted += 1
                continue
            result.delivered += 1
            if sent_at is not None and pos < len(sent_at):
                result.latencies.append(at - sent_at[pos])
    result.lost = max(0, result.accepted - result.delivered)


def _paced_counts(result: PhaseResult, paced: Paced, ok: int) -> None:
    result.late = list(paced.late_starts)
    result.accepted = paced.statuses.get(ok, 0)
    result.rejected = (sum(v for k, v in paced.statuses.items() if k != ok) + paced.errors
                       + paced.unsent + paced.unfinished)
    result.rtt = paced.latencies


def _burst_counts(result: PhaseResult, res: Burst, ok: int) -> None:
    result.accepted = res.statuses.get(ok, 0)
    result.rejected = sum(v for k, v in res.statuses.items() if k != ok) + res.errors + res.unsent
    result.accept_wall = res.last_answer - res.first_send if res.last_answer else float("nan")
    if result.rejected:
        result.notes.append(f"rejected: statuses {res.statuses}, errors {res.errors}, unsent {res.unsent}")


# ---------------------------------------------------------------------------- ledgerlink


def _ll_requests(persons: list[dict[str, Any]], run: str, total: int, host: str,
                 ) -> tuple[list[bytes], list[tuple[int, int]], list[int]]:
    per = -(-total // len(persons))
    base = [c * per for c in range(len(persons))]
    signed = [[s.raw(host) for s in sign_events(p, run, base[c], per)] for c, p in enumerate(persons)]
    order, owners = _interleave(signed, total)
    return order, owners, base


async def _ll_watchers(url: str, persons: list[dict[str, Any]], run: str,
                       owners: list[tuple[int, int]]) -> list[Watcher]:
    watchers = []
    for c, person in enumerate(persons):
        watcher = Watcher(run, sum(1 for o, _ in owners if o == c), person["currency"])
        await watcher.connect(url, await ws_login(url, person["handle"], BENCH_PASSWORD))
        watchers.append(watcher)
    return watchers


async def _ll_close(watchers: list[Watcher], result: PhaseResult) -> None:
    for watcher in watchers:
        code = getattr(watcher._ws, "close_code", None)
        if code is not None:
            result.notes.append(f"a WebSocket was closed by the server (code {code})")
        await watcher.close()


async def ledgerlink_latency(args: argparse.Namespace, server: PlatformProcess, run: str) -> PhaseResult:
    url, persons = server.info["url"], server.info["persons"]
    total = int(args.rate * args.seconds)
    order, owners, base = _ll_requests(persons, run, total, urlparse(url).netloc)
    watchers = await _ll_watchers(url, persons, run, owners)
    result = PhaseResult(sent=len(order))
    usage = Usage(server.proc.pid)
    paced = await paced_load(url, order, args.rate)
    _paced_counts(result, paced, 202)
    await wait_for_arrivals(lambda: sum(len(w.arrivals) for w in watchers), result.accepted,
                            stall=10.0, cap=30.0)
    usage.into(result)
    _collect(result, owners, base, [w.arrivals for w in watchers], paced.scheduled)
    await _ll_close(watchers, result)
    return result


async def ledgerlink_throughput(args: argparse.Namespace, server: PlatformProcess, run: str) -> PhaseResult:
    url, persons = server.info["url"], server.info["persons"]
    order, owners, base = _ll_requests(persons, run, args.events, urlparse(url).netloc)
    watchers = await _ll_watchers(url, persons, run, owners)
    result = PhaseResult(sent=len(order))
    if args.profile:
        server.proc.send_signal(signal.SIGUSR1)
    spy = Spy(server.proc.pid, server.ready_file.with_name("spy.txt")) if args.spy else None
    if spy is not None:
        spy.start()
    usage = Usage(server.proc.pid)
    res = await burst(url, order, args.connections, cap=args.burst_cap)
    _burst_counts(result, res, 202)
    await wait_for_arrivals(lambda: sum(len(w.arrivals) for w in watchers), result.accepted,
                            stall=args.stall, cap=args.grace)
    last = max((at for w in watchers for at in w.arrivals.values()), default=res.first_send)
    result.wall = last - res.first_send
    usage.into(result)
    if args.profile:
        server.proc.send_signal(signal.SIGUSR2)
    if spy is not None:
        spy.stop()
    _collect(result, owners, base, [w.arrivals for w in watchers], None)
    await _ll_close(watchers, result)
    return result


def print_profile(path: Path, limit: int = 25) -> None:
    import pstats

    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not path.exists():
        print("   (no profile written)")
        return
    stats = pstats.Stats(str(path))
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\nledgerlink server profile, throughput phase (cProfile on the event loop's thread, "
          f"{total:.1f} s CPU in profiled calls; file {path})")
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative")):
        print(f"-- top {limit} by {title}")
        entries = sorted(stats.stats.items(),  # type: ignore[attr-defined]
                         key=lambda kv: kv[1][2] if key == "tottime" else kv[1][3], reverse=True)
        for (file, line, func), (_, calls, tt, ct, _) in entries[:limit]:
            where = file.split("site-packages/")[-1].split("/src/")[-1]
            print(f"   {tt:7.2f} {ct:7.2f} {100 * (tt if key == 'tottime' else ct) / total:5.1f}% "
                  f"{calls:>8}  {where}:{line}({func})")


async def run_ledgerlink(args: argparse.Namespace, workdir: Path, run: str) -> dict[str, Any]:
    started = time.monotonic()
    server = PlatformProcess(workdir, args.loop, args.clients, insights=not args.without_insights)
    try:
        try:
            server.wait_ready(timeout=180)
        except RuntimeError as exc:
            raise SetupError(f"ledgerlink server: {exc}") from None
        print(f"ledgerlink up with {args.clients} linked persons in {time.monotonic() - started:.1f} s "
              f"(pid {server.proc.pid}); latency phase ({args.rate:g}/s for {args.seconds:g} s)...",
              flush=True)
        lat = await ledgerlink_latency(args, server, run + "L")
        waited = await settle(server.proc.pid)
        print(f"throughput phase ({args.events} events, after {waited:.1f} s settling)...", flush=True)
        thr = await ledgerlink_throughput(args, server, run + "T")
        rss = rss_kib(server.proc.pid)
    finally:
        server.stop()
    if args.profile:
        print_profile(server.ready_file.with_suffix(".prof"))
    if args.spy:
        print(f"\nledgerlink server, throughput phase, sampled from outside:\n"
              f"{summarize(server.ready_file.with_name('spy.txt'))}")
    logged = [line for line in server.log.read_text().splitlines() if line.strip()]
    return {"lat": lat, "thr": thr, "rss": rss, "log": (len(logged), logged[-1][:200] if logged else ""),
            "version": "embedded: SQLite, in-process bus, embedded sandbox bank, 1 uvicorn worker"}


# ---------------------------------------------------------------------------- Synapse


@dataclass
class Matrix:
    url: str
    sender_token: str
    rooms: list[str]
    receivers: list[tuple[str, str]]  # (user id, token)


async def _register(http: Any, secret: str, username: str, password: str) -> tuple[str, str]:
    """The shared-secret admin registration API: returns (user id, access token)."""
    nonce = (await http.get("/_synapse/admin/v1/register")).json()["nonce"]
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), username.encode(), password.encode(), b"notadmin"]))
    resp = await http.post("/_synapse/admin/v1/register", json={
        "nonce": nonce, "username": username, "password": password, "admin": False,
        "mac": mac.hexdigest()})
    if resp.status_code != 200:
        raise SetupError(f"Synapse registration of {username} failed: {resp.status_code} {resp.text[:300]}")
    body = resp.json()
    return str(body["user_id"]), str(body["access_token"])


async def matrix_setup(synapse: SynapseProcess, receivers: int) -> Matrix:
    """A sender and `receivers` users; one private room per receiver, with the sender in it."""
    import httpx

    password = "bench-password-1"  # throwaway users on a throwaway server
    async with httpx.AsyncClient(base_url=synapse.url, timeout=30.0) as http:
        _, sender = await _register(http, synapse.secret, "sender", password)
        users = [await _register(http, synapse.secret, f"receiver{i + 1}", password)
                 for i in range(receivers)]
        rooms = []
        for user_id, token in users:
            resp = await http.post(f"{CLIENT}/createRoom", headers={"Authorization": f"Bearer {sender}"},
                                   json={"preset": "private_chat", "invite": [user_id]})
            if resp.status_code != 200:
                raise SetupError(f"createRoom failed: {resp.status_code} {resp.text[:300]}")
            room_id = resp.json()["room_id"]
            resp = await http.post(f"{CLIENT}/join/{quote(room_id, safe='')}",
                                   headers={"Authorization": f"Bearer {token}"}, json={})
            if resp.status_code != 200:
                raise SetupError(f"join failed: {resp.status_code} {resp.text[:300]}")
            rooms.append(room_id)
    return Matrix(synapse.url, sender, rooms, users)


def _mx_requests(mx: Matrix, run: str, total: int) -> tuple[list[bytes], list[tuple[int, int]], list[int]]:
    """PUT /rooms/{room}/send/m.room.message/{txn}, round-robin over the rooms; the body names
    the same merchant as the ledgerlink card would (client c's message k has index base[c] + k)."""
    host = urlparse(mx.url).netloc
    clients = len(mx.rooms)
    per = -(-total // clients)
    base = [c * per for c in range(clients)]
    per_client = []
    for c, room in enumerate(mx.rooms):
        chunk = []
        for k in range(per):
            index = base[c] + k
            buy = purchase_of(run, index)
            body = json.dumps({"msgtype": "m.text", "body": f"Pending: {buy.merchant} {buy.amount} USD "
                               f"(Checking) {buy.descriptor}"}).encode()
            path = f"{CLIENT}/rooms/{quote(room, safe='')}/send/m.room.message/t{run}{index}"
            chunk.append(f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {mx.sender_token}"
                         f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                         .encode() + body)
        per_client.append(chunk)
    order, owners = _interleave(per_client, total)
    return order, owners, base


async def _mx_watchers(mx: Matrix, run: str) -> list[SyncWatcher]:
    watchers = [SyncWatcher(mx.url, token, run) for _, token in mx.receivers]
    for watcher in watchers:
        await watcher.start()
    return watchers


async def _mx_close(watchers: list[SyncWatcher], result: PhaseResult) -> None:
    limited = sum(w.limited for w in watchers)
    errors = sum(w.errors for w in watchers)
    if limited or errors:
        result.notes.append(f"/sync: {limited} limited (gapped) timelines, {errors} errors")
    for watcher in watchers:
        await watcher.close()


async def synapse_latency(args: argparse.Namespace, synapse: SynapseProcess, mx: Matrix,
                          run: str) -> PhaseResult:
    order, owners, base = _mx_requests(mx, run, int(args.rate * args.seconds))
    watchers = await _mx_watchers(mx, run)
    result = PhaseResult(sent=len(order))
    usage = Usage(synapse.pid)
    paced = await paced_load(mx.url, order, args.rate)
    _paced_counts(result, paced, 200)
    await wait_for_arrivals(lambda: sum(len(w.arrivals) for w in watchers), result.accepted,
                            stall=10.0, cap=30.0)
    usage.into(result)
    _collect(result, owners, base, [w.arrivals for w in watchers], paced.scheduled)
    await _mx_close(watchers, result)
    return result


async def synapse_throughput(args: argparse.Namespace, synapse: SynapseProcess, mx: Matrix,
                             run: str) -> PhaseResult:
    order, owners, base = _mx_requests(mx, run, args.events)
    watchers = await _mx_watchers(mx, run)
    result = PhaseResult(sent=len(order))
    usage = Usage(synapse.pid)
    res = await burst(mx.url, order, args.connections, cap=args.burst_cap)
    _burst_counts(result, res, 200)
    await wait_for_arrivals(lambda: sum(len(w.arrivals) for w in watchers), result.accepted,
                            stall=args.stall, cap=args.grace)
    last = max((at for w in watchers for at in w.arrivals.values()), default=res.first_send)
    result.wall = last - res.first_send
    usage.into(result)
    _collect(result, owners, base, [w.arrivals for w in watchers], None)
    await _mx_close(watchers, result)
    return result


async def run_synapse(args: argparse.Namespace, synapse: SynapseProcess, run: str) -> dict[str, Any]:
    started = time.monotonic()
    synapse.start()
    mx = await matrix_setup(synapse, args.clients)
    print(f"Synapse {synapse.version} up with a sender, {args.clients} receivers and {args.clients} "
          f"rooms in {time.monotonic() - started:.1f} s (pid {synapse.pid}, port {synapse.port}); "
          f"latency phase...", flush=True)
    lat = await synapse_latency(args, synapse, mx, run + "L")
    waited = await settle(synapse.pid)
    print(f"throughput phase ({args.events} messages, after {waited:.1f} s settling)...", flush=True)
    thr = await synapse_throughput(args, synapse, mx, run + "T")
    return {"lat": lat, "thr": thr, "rss": rss_kib(synapse.pid),
            "version": f"Synapse {synapse.version}, SQLite, 1 process"}


# ============================================================================ report


def _ms(values: list[float], q: float | None) -> float:
    if not values:
        return float("nan")
    return 1000 * (max(values) if q is None else pct(values, q))


def _ratio(a: float, b: float) -> float:
    return a / b if b and b == b else float("nan")


def report(args: argparse.Namespace, ll: dict[str, Any], mx: dict[str, Any] | None, load: str) -> None:
    lt, ll_l = ll["thr"], ll["lat"]
    mt = mx["thr"] if mx else None
    ml = mx["lat"] if mx else None
    print()
    print(f"delivery bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
          f"at start {load}")
    print(f"ledgerlink: {ll['version']}")
    if args.without_insights:
        print("DIAGNOSTIC --without-insights: the insights consumer is unsubscribed; not the product's "
              "figure")
    missing = "skipped (--skip-synapse)" if args.skip_synapse else "FAILED (see the error below)"
    print(f"Synapse:    {mx['version'] if mx else missing}")
    print("Same machine, same run, one after the other: ledgerlink first (stopped before Synapse "
          "started), never concurrently. All clients run in this process, on the same 2 cores.")
    print(f"{args.clients} connected clients (ledgerlink: {args.clients} persons, one WebSocket each; "
          f"Synapse: {args.clients} receivers long-polling /sync, each in a room with the sender); "
          f"events round-robin over them.")
    print("=" * 106)
    w = 17

    def row(name: str, a: str, b: str, r: str = "", target: str = "", verdict: str = "") -> None:
        print(f"{name:<40}{a:>{w}}{b:>{w}}{r:>10}{target:>10}{verdict:>8}")

    def num(value: float, spec: str = ".0f") -> str:
        return "n/a" if value != value else format(value, spec)

    row("", "ledgerlink", "Synapse", "ratio", "target", "")
    print(f"1. Throughput: burst of {args.events}, {args.connections} keep-alive sender connections, "
          "first send -> last delivery")
    tp_ratio = _ratio(lt.throughput, mt.throughput) if mt else float("nan")
    tp_ok = tp_ratio >= 10 and lt.lost == 0 and lt.misrouted == 0
    row("   delivered messages/s", num(lt.throughput), num(mt.throughput) if mt else "-",
        num(tp_ratio, ".2f") + "x" if mt else "", ">= 10x", ("PASS" if tp_ok else "MISS") if mt else "")
    row("   delivered / accepted / sent", f"{lt.delivered}/{lt.accepted}/{lt.sent}",
        f"{mt.delivered}/{mt.accepted}/{mt.sent}" if mt else "-")
    row("   lost / misrouted / rejected", f"{lt.lost}/{lt.misrouted}/{lt.rejected}",
        f"{mt.lost}/{mt.misrouted}/{mt.rejected}" if mt else "-")
    row("   wall s: last answer / last delivery", f"{lt.accept_wall:.2f}/{lt.wall:.2f}",
        f"{mt.accept_wall:.2f}/{mt.wall:.2f}" if mt else "-")
    row("   accepted/s (sender side)", num(_ratio(lt.accepted, lt.accept_wall)),
        num(_ratio(mt.accepted, mt.accept_wall)) if mt else "-")
    row("   server CPU, % of one core", num(lt.cpu_pct), num(mt.cpu_pct) if mt else "-")
    per_ll = 1000 * lt.cpu_s / lt.delivered if lt.delivered else float("nan")
    per_mx = 1000 * mt.cpu_s / mt.delivered if mt and mt.delivered else float("nan")
    row("   server CPU ms/message (ratio Syn/ll)", num(per_ll, ".1f"), num(per_mx, ".1f") if mt else "-",
        num(_ratio(per_mx, per_ll), ".2f") + "x" if mt else "")
    row("   server loop waiting for a CPU, % wall", num(lt.runq_pct), num(mt.runq_pct) if mt else "-")
    row("   machine load average (1 min) at end", num(lt.load, ".1f"), num(mt.load, ".1f") if mt else "-")
    print(f"2. Latency at a fixed {args.rate:g}/s for {args.seconds:g} s, from each send's scheduled "
          "time to the client having it (WebSocket frame / sync answer)")
    for label, q in (("p50", 50.0), ("p99", 99.0), ("max", None)):
        a, b = _ms(ll_l.latencies, q), (_ms(ml.latencies, q) if ml else float("nan"))
        ratio = _ratio(a, b)
        target, verdict = "", ""
        if q == 50.0 and ml:
            target, verdict = "<= 0.2", "PASS" if ratio <= 0.2 and ll_l.lost == 0 else "MISS"
        row(f"   send -> client, {label} ms", num(a, ".1f"), num(b, ".1f") if ml else "-",
            num(ratio, ".2f") if ml else "", target, verdict)
    row("   send -> 2xx answer, p50 ms", num(_ms(ll_l.rtt, 50), ".1f"),
        num(_ms(ml.rtt, 50), ".1f") if ml else "-")
    row("   sender's own lateness, p50 / max ms", f"{_ms(ll_l.late, 50):.2f}/{_ms(ll_l.late, None):.2f}",
        f"{_ms(ml.late, 50):.2f}/{_ms(ml.late, None):.2f}" if ml else "-")
    row("   delivered / lost / misrouted / rejected",
        f"{ll_l.delivered}/{ll_l.lost}/{ll_l.misrouted}/{ll_l.rejected}",
        f"{ml.delivered}/{ml.lost}/{ml.misrouted}/{ml.rejected}" if ml else "-")
    row("   server CPU, % of one core", num(ll_l.cpu_pct), num(ml.cpu_pct) if ml else "-")
    row("   server loop waiting for a CPU, % wall", num(ll_l.runq_pct), num(ml.runq_pct) if ml else "-")
    row("   machine load average (1 min) at end", num(ll_l.load, ".1f"),
        num(ml.load, ".1f") if ml else "-")
    util = [(name, 100 * args.rate / t.throughput) for name, t in (("ledgerlink", lt), ("Synapse", mt))
            if t is not None and t.throughput > 0]
    row("   latency rate, % of measured throughput", *[num(u) for _, u in util], *["-"] * (2 - len(util)))
    print("3. Server memory")
    row("   RSS at end / peak (MiB)", f"{ll['rss'][0] // 1024}/{ll['rss'][1] // 1024}",
        f"{mx['rss'][0] // 1024}/{mx['rss'][1] // 1024}" if mx else "-")
    for name, u in util:
        if u > 30:
            print(f"WARNING: the latency rate is {u:.0f}% of {name}'s measured delivery throughput: its "
                  "latencies include queueing; rerun with a lower --rate for the unloaded figure")
    for name, res in (("ledgerlink latency", ll_l), ("ledgerlink throughput", lt),
                      ("Synapse latency", ml), ("Synapse throughput", mt)):
        for note in (res.notes if res else []):
            print(f"note ({name}): {note}")
    if ll["log"][0]:
        print(f"ledgerlink server log: {ll['log'][0]} lines; last: {ll['log'][1]}")


# ============================================================================ main


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve-delivery":
        return _server_main(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4,
                        help="persons with a WebSocket each / Matrix receivers with a room each (1-16)")
    parser.add_argument("--events", type=int, default=1000, help="events (messages) in the throughput burst")
    parser.add_argument("--connections", type=int, default=8,
                        help="sender keep-alive connections in the burst")
    parser.add_argument("--rate", type=float, default=5.0,
                        help="events/s in the latency phase (keep it well below both throughputs)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    parser.add_argument("--grace", type=float, default=90.0,
                        help="max wait for deliveries after the burst (and at most --stall without one)")
    parser.add_argument("--stall", type=float, default=20.0, help="give up after this long with no delivery")
    parser.add_argument("--burst-cap", type=float, default=180.0,
                        help="max time for sending the burst (unsent requests count as rejected)")
    parser.add_argument("--synapse-port", type=int, default=0, help="127.0.0.1 port for Synapse (0: free)")
    parser.add_argument("--skip-synapse", action="store_true", help="ledgerlink only (quick check)")
    parser.add_argument("--loop", default="auto", choices=["auto", "uvloop", "asyncio"],
                        help="ledgerlink's event loop (uvicorn's --loop; auto = uvloop if installed)")
    parser.add_argument("--without-insights", action="store_true",
                        help="diagnostic: the server drops the insights consumer (the delivery path alone)")
    parser.add_argument("--profile", action="store_true",
                        help="diagnostic: cProfile the ledgerlink server during the throughput burst")
    parser.add_argument("--spy", action="store_true",
                        help="diagnostic: sample the ledgerlink server with py-spy during the burst "
                             "(no per-call overhead; needs py-spy)")
    args = parser.parse_args()
    if not 1 <= args.clients <= 16 or not 1 <= args.events <= 20000 or not 0 < args.rate <= 500 \
            or not 0 < args.seconds <= 60 or not 1 <= args.connections <= 64:
        parser.error("out of bounds: --clients 1-16, --events 1-20000, --rate <= 500, --seconds <= 60, "
                     "--connections 1-64")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks stop the servers

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="ll-delivery-"))
    run = f"{int(time.time()) % 100000:05d}"
    started = time.monotonic()
    synapse = SynapseProcess(workdir, args.synapse_port)
    keep = False
    try:
        if not args.skip_synapse:  # before anything runs, so a failed install costs nothing
            synapse.install()
        ll = asyncio.run(run_ledgerlink(args, workdir, run))
        mx = None
        if not args.skip_synapse:
            try:
                mx = asyncio.run(run_synapse(args, synapse, run))
            except SetupError:
                report(args, ll, None, load)  # the ledgerlink half is still worth printing
                raise
            finally:
                synapse.stop()
        report(args, ll, mx, load)
        keep = args.profile or args.spy  # the profile is in the work dir
    except SetupError as exc:
        keep = True
        print(f"\nsetup failed: {exc}\n(work dir kept: {workdir})", file=sys.stderr)
        return 2
    finally:
        synapse.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"total {time.monotonic() - started:.0f} s" + (f"; work dir {workdir}" if keep else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
