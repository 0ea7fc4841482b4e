"""The cluster of the scale-out crash test (issue 12): its own nats-server (JetStream in a temp
dir, fsync before ack) and 2 api, 2 worker and 2 gateway `ledgerlink serve` processes on one
PostgreSQL, each of which can be killed with SIGKILL (by its PID) and started again.

Each process connects to PostgreSQL with its slot's name as `application_name`, so the relay's
lease holder (who holds the advisory lock, kernel_outbox.RELAY_LOCK_KEY) is read from
`pg_locks` and killed by name."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.integration._cluster import Proc, serve

from ledgerlink.adapters.db.kernel_outbox import RELAY_LOCK_KEY

START_SECONDS = 60.0  # a process (or NATS) must be ready within this after a (re)start
ROLES = ("api", "worker", "gateway")


def with_app_name(database_url: str, name: str) -> str:
    return make_url(database_url).update_query_dict({"application_name": name}).render_as_string(
        hide_password=False)


class NatsServer:
    """A nats-server of the harness's own: SIGKILLed and restarted on the same port and store."""

    def __init__(self, binary: str, port: int, monitor: int, work: Path) -> None:
        self.binary, self.port, self.monitor, self.work = binary, port, monitor, work
        self.url = f"nats://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        store = work / "store"
        store.mkdir(parents=True, exist_ok=True)
        self.conf = work / "nats.conf"
        self.conf.write_text(f'listen: "127.0.0.1:{port}"\nhttp: "127.0.0.1:{monitor}"\n'
                             f'jetstream {{\n  store_dir: "{store}"\n  sync_interval: always\n}}\n')

    async def start(self) -> None:
        self.proc = self._spawn()
        health = f"http://127.0.0.1:{self.monitor}/healthz?js-enabled-only=true"
        async with httpx.AsyncClient(timeout=1.0) as http:
            deadline = time.monotonic() + START_SECONDS
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"nats-server exited: {self.work / 'server.log'}"
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(health)).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise AssertionError("nats-server did not become ready")

    def _spawn(self) -> subprocess.Popen[bytes]:
        with (self.work / "server.log").open("ab") as log:
            return subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Slot:
    """One process place: its role, port (api, gateway) and the process now in it."""

    role: str
    index: int
    port: int = 0
    proc: Proc | None = None
    ready: bool = False
    starts: int = 0

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"


@dataclass
class Cluster:
    work: Path
    env: dict[str, str]
    database_url: str
    nats: NatsServer
    ports: list[int]
    slots: list[Slot] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)
    restart_seconds: list[float] = field(default_factory=list)
    _restarts: set[asyncio.Task[None]] = field(default_factory=set)
    retired: list[Proc] = field(default_factory=list)
    settle_seconds: float = 120.0  # how long the end may wait for the backlog and the clients

    def __post_init__(self) -> None:
        ports = iter(self.ports)
        for role in ROLES:
            for index in range(2):
                self.slots.append(Slot(role, index, next(ports) if role != "worker" else 0))

    def of(self, role: str) -> list[Slot]:
        return [s for s in self.slots if s.role == role]

    def urls(self, role: str) -> list[str]:
        return [f"http://127.0.0.1:{s.port}" for s in self.of(role)]

    async def start_all(self) -> None:
        await asyncio.gather(*(self._start(slot) for slot in self.slots))

    async def _start(self, slot: Slot) -> None:
        began = time.monotonic()
        env = {**self.env, "LEDGERLINK_DATABASE_URL": with_app_name(self.database_url, slot.name)}
        slot.proc = serve(slot.role, data_dir=self.work / "data", env=env, port=slot.port,
                          name=f"{slot.name}#{slot.starts}", sandbox_url=self.env["LEDGERLINK_SANDBOX_URL"])
        slot.starts += 1
        await self._until_ready(slot, slot.proc)
        slot.ready = True
        self.restart_seconds.append(time.monotonic() - began)

    async def _until_ready(self, slot: Slot, proc: Proc) -> None:
        """api, gateway: /healthz answers; worker: its JetStream consumers are set up."""
        deadline = time.monotonic() + START_SECONDS
        async with httpx.AsyncClient(timeout=1.0) as http:
            while time.monotonic() < deadline:
                assert proc.alive(), f"{proc.name} exited\n{proc.tail()}"
                if slot.role == "worker":
                    if proc.events("jetstream_ready"):
                        return
                else:
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get(f"http://127.0.0.1:{slot.port}/healthz")).status_code < 500:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError(f"{proc.name} not ready within {START_SECONDS} s\n{proc.tail()}")

    async def relay_holder(self, engine: AsyncEngine) -> Slot | None:
        """The worker whose connection holds the relay's advisory lock now, if any."""
        query = text("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                     "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key")
        async with engine.connect() as conn:
            names = set((await conn.execute(query, {"key": RELAY_LOCK_KEY})).scalars())
        return next((s for s in self.of("worker") if s.name in names), None)

    def kill(self, slot: Slot, *, as_role: str) -> None:
        """SIGKILL the slot's process and start its replacement in the background."""
        assert slot.proc is not None and slot.ready
        slot.ready = False
        slot.proc.kill()
        self.retired.append(slot.proc)
        self.kills[as_role] += 1
        task = asyncio.create_task(self._start(slot))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def kill_nats(self) -> None:
        self.nats.kill()
        self.kills["nats"] += 1
        await asyncio.sleep(0.2)  # the clients see it gone
        began = time.monotonic()
        await self.nats.start()
        self.restart_seconds.append(time.monotonic() - began)

    async def settle(self) -> None:
        """Every restart finished (its failure is raised here)."""
        while self._restarts:
            await asyncio.gather(*list(self._restarts))

    def stop(self) -> None:
        for task in self._restarts:
            task.cancel()
        for slot in self.slots:
            if slot.proc is not None:
                slot.proc.stop()
        for proc in self.retired:
            proc.stop()
        self.nats.stop()

    def tails(self) -> str:
        return "\n".join(f"--- {s.name} (alive {s.proc.alive()}):\n{s.proc.tail(15)}"
                         for s in self.slots if s.proc is not None)
