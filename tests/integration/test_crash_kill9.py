"""The crash test on the embedded profile (issue 14): a real `ledgerlink serve` process on
SQLite receives signed bank events concurrently and is killed with SIGKILL (by its PID) at
seeded random moments, the first time while a whole burst is in flight and half of it was
acknowledged. After each kill the stored but unapplied inbox rows are counted in the database
and printed ("backlog at kills"); the inbox worker is fast enough that this is usually 0.
After each kill the process is started again, and every event whose answer was not 2xx is
sent again, as a bank retries. At the end every event
must be applied exactly once: one transaction per bank transaction id and one message per
transaction (0 lost, 0 duplicated), in particular every event acknowledged before a kill.

Small here (300 events, 2 kills); `bench/crash.py` runs the same, larger, and prints the same
figures. The figures of this run are printed in the attack-suite summary of `./scripts/test`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from tests.conftest import fast_hasher, free_ports, report_figure

from ledgerlink.adapters.webhooks import StandardWebhooksSigner
from ledgerlink.bootstrap import SANDBOX_PARTNER_ID, bootstrap
from ledgerlink.config import Settings
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.linking import links
from ledgerlink.services.messaging import messenger

EVENTS_PATH = "/partners/sandbox-bank/events"
CONCURRENCY = 16


@dataclass
class Prepared:
    """A data dir and SQLite database with one person linked to the sandbox bank."""

    data_dir: Path
    db_path: Path
    account_id: str
    currency: str
    secret: str


@dataclass
class Figures:
    events: int
    kills: int = 0
    acked_before_kill: int = 0
    resent: int = 0
    backlog: list[int] = field(default_factory=list)  # unapplied inbox rows after each kill
    lost: int = 0
    duplicated: int = 0
    answers: dict[str, int] = field(default_factory=dict)

    def line(self, name: str = "crash test") -> str:
        return (f"{name}: {self.events} events, kills {self.kills}, acked before a kill "
                f"{self.acked_before_kill}, resent {self.resent}, backlog at kills {self.backlog}, "
                f"lost {self.lost}, duplicated {self.duplicated}")


def _ledgerlink(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cli = Path(sys.executable).with_name("ledgerlink")
    with log.open("ab") as out:
        return subprocess.Popen([str(cli), *args], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **env}, start_new_session=True)


async def _until_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, path: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"exited early, see {log}"
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(path)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer within 60 s")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


class Server:
    """`ledgerlink serve` as a child process (killed with SIGKILL by its PID), beside the sandbox
    bank as its own process (`ledgerlink sandbox`), which outlives every kill like a real bank:
    each applied event asks for a reconciling sync, so the bank must still know the link."""

    def __init__(self, work: Path) -> None:
        self.work, self.log = work, work / "serve.log"
        self.data_dir, self.db_path = work / "data", work / "ledgerlink.db"
        self.port, self.bank_port = free_ports(2)
        self.url, self.bank_url = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.bank_port}"
        self.env = {"LEDGERLINK_DATABASE_URL": f"sqlite:///{self.db_path}",
                    "LEDGERLINK_SANDBOX_SIMULATE": "false", "LEDGERLINK_SYNC_INTERVAL_SECONDS": "0",
                    "LEDGERLINK_CONSENT_CHECK_INTERVAL_SECONDS": "0", "LEDGERLINK_LOG_LEVEL": "warning"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.bank: subprocess.Popen[bytes] | None = None

    async def start_bank(self) -> None:
        self.bank = _ledgerlink(["sandbox", "--port", str(self.bank_port), "--data-dir", str(self.data_dir),
                                 "--platform-url", self.url], self.env, self.work / "sandbox.log")
        await _until_healthy(self.bank_url, self.bank, self.work / "sandbox.log", "/")

    async def start(self) -> None:
        self.proc = _ledgerlink(["serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
                                 "--sandbox-url", self.bank_url], self.env, self.log)
        await _until_healthy(self.url, self.proc, self.log, "/healthz")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        _stop(self.proc)
        _stop(self.bank)
        self.proc = self.bank = None


async def prepare(server: Server) -> Prepared:
    """Link a person to the sandbox bank process through the real consent flow, from a platform
    bootstrapped in this process on the same data dir and database, then stopped: that is
    what `ledgerlink serve` starts from."""
    settings = Settings(data_dir=server.data_dir, database_url=f"sqlite:///{server.db_path}",
                        public_url=server.url, sandbox_url=server.bank_url, embedded_sandbox=False,
                        second_sandbox_bank=False, sync_interval_seconds=0)
    container = await bootstrap(settings, hasher=fast_hasher())
    await container.start()
    try:
        deps = container.deps
        person_id = await messenger.register(deps, handle="pat", display_name="Pat", password="correct horse")
        grant = Grant.for_person(person_id)
        url = await links.start_link(deps, grant, partner_id=SANDBOX_PARTNER_ID)
        async with httpx.AsyncClient(timeout=10.0) as browser:
            resp = await browser_consent(browser, url, login="alice")
        query = parse_qs(urlparse(resp.headers["location"]).query)
        await links.complete_link(deps, grant, state=query["state"][0], code=query["code"][0])
        await container.drain()
        async with deps.uow() as uow:
            account = (await uow.accounts.for_person(person_id))[0]
        secret = container.sandbox_credentials.webhook_secret
    finally:
        await container.stop()
    return Prepared(server.data_dir, server.db_path, account.bank_account_id, account.currency, secret)


def _event(prep: Prepared, run: str, index: int) -> tuple[str, bytes]:
    account = prep.account_id
    body = {"type": "transaction.updated", "timestamp": datetime.now(UTC).isoformat(), "data": {
        "consent_id": None, "account_id": account, "transaction": {
            "transaction_id": f"btx_{run}_{index:06d}", "account_id": account, "status": "pending",
            "pending_transaction_id": None, "amount": "-4.50", "currency": prep.currency,
            "booking_date": None, "value_date": None, "merchant_name": f"Crash {index}",
            "descriptor": f"CRASH {index}", "mcc": "5814"}}}
    return f"msg_{run}_{index:06d}", json.dumps(body, separators=(",", ":")).encode()


class Bank:
    """Sends events like a bank: each signed when sent (the same webhook-id on a retry)."""

    def __init__(self, prep: Prepared, run: str, count: int) -> None:
        self.prep = prep
        self.events = [_event(prep, run, i) for i in range(count)]
        self.acked: set[int] = set()
        self.answers: Counter[str] = Counter()  # status codes, and "dropped" (the process died)
        self.signer = StandardWebhooksSigner()

    async def send(self, http: httpx.AsyncClient, indexes: list[int], on_answer: asyncio.Event | None = None,
                   quorum: int = 0, concurrency: int = CONCURRENCY) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            msg_id, body = self.events[i]
            async with gate:  # signed when it leaves, not while it waits its turn (stale_timestamp)
                headers = {**self.signer.sign(self.prep.secret, msg_id, datetime.now(UTC), body),
                           "content-type": "application/json"}
                try:
                    resp = await http.post(EVENTS_PATH, content=body, headers=headers)
                except httpx.TransportError:
                    self.answers["dropped"] += 1
                    return  # the process died under it: the bank will retry
            code = resp.json().get("code") if resp.status_code >= 300 else None
            self.answers[f"{resp.status_code} {code}" if code else str(resp.status_code)] += 1
            if 200 <= resp.status_code < 300:
                self.acked.add(i)
                if on_answer is not None and len(self.acked) >= quorum:
                    on_answer.set()

        await asyncio.gather(*(one(i) for i in indexes))


def _unapplied(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM inbox WHERE processed_at IS NULL").fetchone()[0])


async def _drained(db: Path, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _unapplied(db):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the inbox was not drained: {_unapplied(db)} events unapplied")


def _applied_counts(db: Path, run: str) -> tuple[Counter[str], Counter[str]]:
    """Per bank transaction id: its transactions rows, and the messages that show them."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT id, source_key FROM transactions WHERE source_key LIKE ?",
                            (f"btx_{run}_%",)).fetchall()
        txns = Counter(source for _, source in rows)
        by_txn = {f"txn:{tid}": source for tid, source in rows}
        messages: Counter[str] = Counter()
        for (subject,) in conn.execute("SELECT subject_key FROM messages WHERE subject_key LIKE 'txn:%'"):
            if subject in by_txn:
                messages[by_txn[subject]] += 1
    return txns, messages


async def crash_run(work: Path, *, events: int, kills: int, seed: int, burst: int) -> Figures:
    """Send `events` events across `kills` SIGKILLs; the first kill comes right after a burst
    of `burst` events was acknowledged (a backlog), the others at random moments."""
    rng, run = random.Random(seed), f"s{seed}"
    server = Server(work)
    server.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        await server.start_bank()
        prep = await prepare(server)
        await server.start()
        figures = await _kill_and_resend(server, prep, rng, run, events=events, kills=kills, burst=burst)
    finally:
        server.stop()
    txns, messages = _applied_counts(prep.db_path, run)
    ids = [f"btx_{run}_{i:06d}" for i in range(events)]
    figures.lost = sum(1 for t in ids if txns[t] == 0 or messages[t] == 0)
    figures.duplicated = sum(1 for t in ids if txns[t] > 1 or messages[t] > 1)
    return figures


async def _kill_and_resend(server: Server, prep: Prepared, rng: random.Random, run: str, *,
                           events: int, kills: int, burst: int) -> Figures:
    bank, figures = Bank(prep, run, events), Figures(events)
    order = list(range(events))
    rng.shuffle(order)
    rest = order[burst:]
    chunks = [order[:burst], *(rest[i::kills] for i in range(kills))]  # the last: sent after the kills
    limits = httpx.Limits(max_connections=CONCURRENCY)
    for k in range(kills):
        # The first kill: the whole burst at once, killed when most of it was acknowledged,
        # while the inbox worker is still behind (storing is cheaper than applying).
        wide = burst if k == 0 else CONCURRENCY
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0,
                                     limits=httpx.Limits(max_connections=wide)) as http:
            acked = asyncio.Event()
            chunk = chunks[k]
            sending = asyncio.create_task(bank.send(
                http, chunk, on_answer=acked, quorum=len(bank.acked) + len(chunk) // 2,
                concurrency=wide))
            if k == 0:
                await asyncio.wait_for(acked.wait(), 60)
            else:
                await asyncio.sleep(rng.uniform(0.05, 1.0))
            server.kill()
            await sending
        figures.kills += 1
        figures.acked_before_kill = len(bank.acked)
        figures.backlog.append(_unapplied(prep.db_path))
        await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0, limits=limits) as http:
        await bank.send(http, chunks[kills])
        for _ in range(5):  # the bank retries until every event was acknowledged
            missing = [i for i in range(events) if i not in bank.acked]
            if not missing:
                break
            figures.resent += len(missing)
            await bank.send(http, missing)
    figures.answers = dict(bank.answers)
    assert len(bank.acked) == events, f"{events - len(bank.acked)} events never acknowledged: {bank.answers}"
    await _drained(prep.db_path)
    return figures


async def test_events_survive_kill_9_with_none_lost_and_none_applied_twice(tmp_path: Path) -> None:
    figures = await crash_run(tmp_path, events=300, kills=2, seed=14, burst=150)
    report_figure(figures.line())
    assert figures.kills == 2 and figures.acked_before_kill >= 75
    # The backlog after each kill is counted and printed, not asserted: the inbox worker applies
    # a stored batch within milliseconds, so a kill seldom finds one (see the report).
    assert figures.lost == 0 and figures.duplicated == 0, figures.line()
