"""Receipts benchmark (issue 11): matching throughput against a store of 100k transactions, and the
time to attach a receipt to an existing message beside a plain transaction update, both measured
end to end (signed event in -> WebSocket frame with the edited card). See bench/README.md.

    .venv/bin/python bench/receipts.py [--history 100000] [--receipts 2000] [--latency-events 200]
                                       [--rate 10] [--db sqlite|URL]

Processes: this one (orchestrator, HTTP senders, one WebSocket client per person), and the
ledgerlink server (one uvicorn worker, embedded SQLite + in-process bus + embedded sandbox bank,
like `ledgerlink serve`), which links the four demo persons, links the shop (acme) for each and
seeds the history through the access layer before it says it is ready. Everything is on
127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from _platform import link_person, quiet_logs, start_platform, write_ready
from delivery import Usage, _install_profiler, print_profile, settle, wait_for_arrivals
from ingest import BENCH_PASSWORD, paced_load, pct, read_response, rss_kib, ws_login

BANK_PATH = "/partners/sandbox-bank/events"
SHOP_PATH = "/partners/merchants/acme/events"
SHOP_NAME = "Acme Outfitters"  # the embedded merchant partner's name (bootstrap._receipts)
CARD_TYPES = ("checking", "credit_card")  # the accounts the bench's card charges go to
# "Pending: Acme Outfitters -20.05 USD (Everyday Checking ••1234)" (cards.plain_text, full level)
CARD_TEXT = re.compile(r"^(Pending|Posted): " + re.escape(SHOP_NAME) + r" (-\d+\.\d\d) ")
ORDER_TEXT = re.compile(r"\nReceipt from [^\n]*?, order (RB-\d+-\d{6}):")


class SetupError(RuntimeError):
    """The server or its setup failed: reported in one line, exit status 2."""


# ============================================================================ server


async def _seed_history(container: Any, persons: list[dict[str, Any]], total: int) -> float:
    """`total` posted purchases over the 365 days before now, round-robin over every account of
    the persons, stored as a bank sync stores them (`access.upsert_transaction`: sealed with the
    person's key, one row per purchase), 1 000 per unit of work. No messages: the history is
    what matching reads, not what the thread shows. Returns the seconds it took."""
    from ledgerlink.domain.banking import BankTransaction, TransactionStatus
    from ledgerlink.domain.money import Money
    from ledgerlink.domain.privacy import Grant
    from ledgerlink.sandbox.merchants import MERCHANTS
    from ledgerlink.services import access

    deps = container.deps
    rng = random.Random(11)
    now = deps.clock.now()
    started = time.perf_counter()
    accounts = []
    async with deps.uow() as uow:
        for person in persons:
            accounts += await uow.accounts.for_person(person["person_id"])
    pool = [m for m in MERCHANTS if m.high < 500]
    done = 0
    while done < total:
        batch = min(1000, total - done)
        async with deps.uow() as uow:
            for n in range(done, done + batch):
                account = accounts[n % len(accounts)]
                merchant = rng.choice(pool)
                at = now - timedelta(days=1, seconds=rng.randint(0, 364 * 86400))
                cents = rng.randint(int(merchant.low * 100), int(merchant.high * 100))
                report = BankTransaction(
                    bank_transaction_id=f"hist_{n:07d}", bank_account_id=account.bank_account_id,
                    status=TransactionStatus.POSTED, amount=Money(-Decimal(cents) / 100, account.currency),
                    booking_date=at.date(), value_date=at.date(), merchant=merchant.name,
                    descriptor=merchant.descriptor.format(store=rng.randrange(100, 9999), code="BENCH1"),
                    mcc=merchant.mcc)
                grant = Grant.for_component(account.person_id, "ingest")
                await access.upsert_transaction(deps.vault, uow, grant, account, report, at=at)
            await uow.commit()
        done += batch
    return time.perf_counter() - started


async def _serve(ready: Path, loop: str, data_dir: Path, database_url: str, history: int) -> None:
    platform = await start_platform(loop, data_dir, database_url)
    container = platform.container
    persons = []
    for i, customer in enumerate(container.sandbox.customers):
        info = await link_person(container, handle=f"rbench{i + 1}", password=BENCH_PASSWORD,
                                 bank_login=customer.login, display_name=f"Receipts Bench {i + 1}")
        await container.receipts.link_merchant(info["person_id"], slug="acme", customer_ref=customer.login)
        async with container.deps.uow() as uow:
            records = await uow.accounts.for_person(info["person_id"])
        info["accounts"] = [{"bank_account_id": a.bank_account_id, "currency": a.currency, "last4": a.last4}
                            for a in records if a.type in CARD_TYPES]
        persons.append(info)
    seeded = await _seed_history(container, persons, history)
    _install_profiler(ready.with_suffix(".prof"))  # --profile: SIGUSR1 starts cProfile, SIGUSR2 writes it
    async with container.deps.uow() as uow:
        stored = sum([len(await uow.transactions.for_account(a.id, limit=10**9))
                      for p in persons for a in await uow.accounts.for_person(p["person_id"])])
    write_ready(ready, {"url": platform.url, "pid": os.getpid(), "persons": persons, "seed_s": seeded,
                        "stored": stored,
                        "shop_secret": container.receipts._merchants["acme"].webhook_secrets[0]})
    await asyncio.gather(*platform.tasks)


def _server_main(argv: list[str]) -> int:
    """`receipts.py _serve-receipts READY LOOP DATA_DIR DB_URL HISTORY`."""
    import uvicorn

    quiet_logs()
    ready, loop, data_dir, url, history = Path(argv[1]), argv[2], Path(argv[3]), argv[4], int(argv[5])
    factory = uvicorn.Config("x", loop=loop).get_loop_factory()
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_serve(ready, loop, data_dir, url, history))
    return 0


class ServerProcess:
    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        self.ready_file = workdir / "ledgerlink.ready"
        self.log = workdir / "ledgerlink.log"
        db = f"sqlite:///{workdir / 'data' / 'ledgerlink.db'}" if args.db == "sqlite" else args.db
        cmd = [sys.executable, str(Path(__file__).resolve()), "_serve-receipts", str(self.ready_file),
               args.loop, str(workdir / "data"), db, str(args.history)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.info: dict[str, Any] = {}

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SetupError(f"the server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        self.info = json.loads(self.ready_file.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


# ============================================================================ events


@dataclass(frozen=True)
class Charge:
    """One bench card charge: its index k gives its amount (unique in the run) and order ref."""

    k: int
    person: int
    account: dict[str, Any]

    @property
    def amount(self) -> Decimal:
        return Decimal(2000 + self.k).scaleb(-2)

    @property
    def key(self) -> str:  # the card's amount as its text shows it
        return str(-self.amount)


def _request(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n").encode() + body


def _signed(host: str, path: str, secret: str, msg_id: str, payload: dict[str, Any]) -> bytes:
    from ledgerlink.adapters.webhooks import StandardWebhooksSigner

    body = json.dumps(payload, separators=(",", ":")).encode()
    return _request(host, path, StandardWebhooksSigner().sign(secret, msg_id, datetime.now(UTC), body), body)


def bank_event(host: str, secret: str, run: str, c: Charge, *, posted: bool) -> bytes:
    """The bank's card charge for `c`, pending; with `posted`, the same purchase posted (a new
    bank id naming the pending one, booked today)."""
    account = c.account["bank_account_id"]
    pending_id = f"rb_{run}_{c.k:06d}"
    txn = {"transaction_id": pending_id + ("p" if posted else ""), "account_id": account,
           "status": "posted" if posted else "pending",
           "pending_transaction_id": pending_id if posted else None,
           "amount": str(-c.amount), "currency": c.account["currency"],
           "booking_date": datetime.now(UTC).date().isoformat() if posted else None, "value_date": None,
           "merchant_name": SHOP_NAME, "descriptor": "PAYPAL *ACMEOUTFIT", "mcc": "5651"}
    payload = {"type": "transaction.updated", "timestamp": datetime.now(UTC).isoformat(),
               "data": {"consent_id": None, "account_id": account, "transaction": txn}}
    return _signed(host, BANK_PATH, secret, f"msg_rb{run}{c.k:06d}{'p' if posted else ''}", payload)


def order_ref(run: str, c: Charge) -> str:
    return f"RB-{run}-{c.k:06d}"


def order_event(host: str, secret: str, run: str, c: Charge, login: str) -> bytes:
    """The shop's signed `order.placed` for the charge `c`: one line item, the same total."""
    now = datetime.now(UTC)
    price = str(c.amount)
    data = {"customer_id": login, "order_id": order_ref(run, c), "version": 1, "shop": SHOP_NAME,
            "currency": c.account["currency"], "card_last4": c.account["last4"], "placed_at": now.isoformat(),
            "shipped_at": None, "order_url": f"http://127.0.0.1/shop/orders/{order_ref(run, c)}",
            "items": [{"name": "Trail socks", "quantity": 1, "unit_price": price}],
            "subtotal": price, "tax": "0.00", "shipping": "0.00", "total": price, "refunded": "0.00",
            "shipment": {"carrier": "UPS", "tracking_number": None,
                         "estimated_delivery": (now + timedelta(days=4)).date().isoformat(), "events": []}}
    payload = {"type": "order.placed", "timestamp": now.isoformat(), "data": data}
    return _signed(host, SHOP_PATH, secret, f"msg_ro{run}{c.k:06d}", payload)


# ============================================================================ WebSocket client


class CardWatcher:
    """One person's WebSocket: when the bench's cards first arrived (by amount), when each was
    first shown posted, and when each showed a receipt (and which order it names)."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.posted: dict[str, float] = {}
        self.attached: dict[str, tuple[float, str]] = {}  # card amount -> (arrival, order ref)
        self.frames = 0
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, url: str, cookie: str) -> None:
        from websockets.asyncio.client import connect

        self._ws = await connect(url.replace("http://", "ws://") + "/ws", max_queue=None,
                                 additional_headers={"Cookie": f"ll_session={cookie}"})
        await self._ws.send(json.dumps({"type": "resume", "threads": {}}))
        async with asyncio.timeout(30):
            while json.loads(await self._ws.recv()).get("type") != "ready":
                pass
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._ws:
            now = time.perf_counter()
            self.frames += 1
            if '"type":"message"' not in raw or SHOP_NAME not in raw:
                continue
            text = json.loads(raw).get("text", "")
            card = CARD_TEXT.match(text)
            if card is None:
                continue
            status, key = card.groups()
            self.created.setdefault(key, now)
            if status == "Posted":
                self.posted.setdefault(key, now)
            order = ORDER_TEXT.search(text)
            if order is not None:
                self.attached.setdefault(key, (now, order.group(1)))

    @property
    def close_code(self) -> int | None:
        return getattr(self._ws, "close_code", None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._ws is not None:
            await self._ws.close()


# ============================================================================ load


@dataclass
class Sent:
    """A closed-loop burst's answers: statuses, and the `match` field of the 202 bodies."""

    first: float = 0.0
    last: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    matches: dict[str, int] = field(default_factory=dict)
    errors: int = 0


async def burst(url: str, requests: list[bytes], connections: int, *, cap: float) -> Sent:
    parsed = urlparse(url)
    out = Sent()
    todo = iter(requests)
    conns = [await asyncio.open_connection(parsed.hostname, parsed.port) for _ in range(connections)]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for payload in todo:
            try:
                writer.write(payload)
                status, body = await read_response(reader)
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                out.errors += 1
                break
            out.last = time.perf_counter()
            out.statuses[status] = out.statuses.get(status, 0) + 1
            if status == 202 and b'"match"' in body:
                state = str(json.loads(body).get("match"))
                out.matches[state] = out.matches.get(state, 0) + 1
        writer.close()

    out.first = time.perf_counter()
    tasks = [asyncio.create_task(worker(r, w)) for r, w in conns]
    _, pending = await asyncio.wait(tasks, timeout=cap)
    for task in pending:
        task.cancel()
    return out


def _merge(into: Sent, other: Sent) -> None:
    for mine, theirs in ((into.statuses, other.statuses), (into.matches, other.matches)):
        for k, v in theirs.items():
            mine[k] = mine.get(k, 0) + v
    into.errors += other.errors


class Bench:
    def __init__(self, args: argparse.Namespace, server: ServerProcess, run: str) -> None:
        self.args, self.run = args, run
        self.url: str = server.info["url"]
        self.host = urlparse(self.url).netloc
        self.persons: list[dict[str, Any]] = server.info["persons"]
        self.bank_secret: str = self.persons[0]["secret"]
        self.shop_secret: str = server.info["shop_secret"]
        self.watchers: list[CardWatcher] = []
        self.accounts = [(p, a) for p, person in enumerate(self.persons) for a in person["accounts"]]
        self.next_k = 0
        self.notes: list[str] = []

    def charges(self, per_account: int) -> list[Charge]:
        """New charges, `per_account` on each card account, interleaved over the accounts."""
        out = []
        for _ in range(per_account):
            for person, account in self.accounts:
                out.append(Charge(self.next_k, person, account))
                self.next_k += 1
        return out

    def seen(self, attr: str, charges: list[Charge]) -> int:
        return sum(1 for c in charges if c.key in getattr(self.watchers[c.person], attr))

    async def connect(self) -> None:
        for person in self.persons:
            watcher = CardWatcher()
            await watcher.connect(self.url, await ws_login(self.url, person["handle"], BENCH_PASSWORD))
            self.watchers.append(watcher)

    async def book(self, charges: list[Charge]) -> list[Charge]:
        """The bank's pending charges; those whose message reached the person's WebSocket (a
        note says when some did not, in time; SetupError when none did)."""
        reqs = [bank_event(self.host, self.bank_secret, self.run, c, posted=False) for c in charges]
        sent = await burst(self.url, reqs, self.args.connections, cap=self.args.max_seconds + 120)
        await wait_for_arrivals(lambda: self.seen("created", charges), sent.statuses.get(202, 0), stall=30,
                                cap=self.args.max_seconds)
        booked = [c for c in charges if c.key in self.watchers[c.person].created]
        if len(booked) < len(charges):
            self.notes.append(f"booking {len(charges)} charges: answers {sent.statuses}, {sent.errors} "
                              f"socket errors, {len(booked)} cards on the WebSocket; went on with those")
        if not booked:
            raise SetupError(self.notes[-1])
        return booked

    def order(self, c: Charge) -> bytes:
        return order_event(self.host, self.shop_secret, self.run, c, self.persons[c.person]["bank_login"])

    async def latency(self) -> dict[str, Any]:
        """Paced, alternating: a receipt for charge A_i, a posted update of charge B_i."""
        n = self.args.latency_events // 2
        per = -(-n // len(self.accounts))
        attach, plain = self.charges(per)[:n], self.charges(per)[:n]
        booked = {c.k for c in await self.book(attach + plain)}
        pairs = [(a, b) for a, b in zip(attach, plain, strict=True) if a.k in booked and b.k in booked]
        attach, plain = [a for a, _ in pairs], [b for _, b in pairs]
        n = len(pairs)
        await settle(self.args.server_pid)
        reqs, kinds = [], []
        for a, b in zip(attach, plain, strict=True):
            reqs += [self.order(a), bank_event(self.host, self.bank_secret, self.run, b, posted=True)]
            kinds += [("attach", a), ("plain", b)]
        usage = Usage(self.args.server_pid)
        if self.args.profile:
            os.kill(self.args.server_pid, signal.SIGUSR1)
        paced = await paced_load(self.url, reqs, self.args.rate)
        total = self.args.grace
        await wait_for_arrivals(lambda: self.seen("attached", attach) + self.seen("posted", plain), 2 * n,
                                stall=min(20.0, total), cap=total)
        if self.args.profile:
            os.kill(self.args.server_pid, signal.SIGUSR2)
        out: dict[str, Any] = {"attach": [], "plain": [], "misattached": 0, "rtt": paced.latencies,
                               "statuses": paced.statuses,
                               "unsent": paced.unsent + paced.unfinished + paced.errors}
        for i, (kind, c) in enumerate(kinds):
            if i >= len(paced.scheduled):
                break
            w = self.watchers[c.person]
            if kind == "attach" and c.key in w.attached:
                at, ref = w.attached[c.key]
                out["misattached"] += ref != order_ref(self.run, c)
                out["attach"].append(at - paced.scheduled[i])
            elif kind == "plain" and c.key in w.posted:
                out["plain"].append(w.posted[c.key] - paced.scheduled[i])
        out["n"] = n
        out["cpu"] = _cpu(usage)
        return out

    async def throughput(self) -> dict[str, Any]:
        """Rounds: book `--round` pending charges on each card account, then a burst of one
        receipt per charge; time from the burst's first send to the last receipt on a card."""
        total, done, wall, http_wall = self.args.receipts, 0, 0.0, 0.0
        sent_all, attached, misattached, per_round, cpu_round = Sent(), 0, 0, [], []
        cpu, started = 0.0, time.monotonic()
        while done < total and time.monotonic() - started < self.args.max_seconds:
            per = min(self.args.round, -(-(total - done) // len(self.accounts)))
            charges = await self.book(self.charges(per)[:total - done])
            await settle(self.args.server_pid)
            reqs = [self.order(c) for c in charges]
            usage = Usage(self.args.server_pid)
            sent = await burst(self.url, reqs, self.args.connections, cap=self.args.max_seconds + 120)
            await wait_for_arrivals(lambda cs=charges: self.seen("attached", cs), len(charges),  # type: ignore[misc]
                                    stall=20, cap=self.args.grace)
            arrivals = [self.watchers[c.person].attached[c.key] for c in charges
                        if c.key in self.watchers[c.person].attached]
            misattached += sum(ref != order_ref(self.run, c) for c, (_, ref) in zip(
                [c for c in charges if c.key in self.watchers[c.person].attached], arrivals, strict=True))
            last = max((at for at, _ in arrivals), default=sent.last)
            wall += last - sent.first
            http_wall += sent.last - sent.first
            round_cpu = _cpu(usage)["cpu_s"]
            cpu += round_cpu
            attached += len(arrivals)
            _merge(sent_all, sent)
            done += len(charges)
            per_round.append(len(arrivals) / (last - sent.first) if last > sent.first else float("nan"))
            cpu_round.append(1000 * round_cpu / len(arrivals) if arrivals else float("nan"))
            print(f"   round {len(per_round)}: {len(charges)} receipts, {per_round[-1]:.1f}/s, server CPU "
                  f"{cpu_round[-1]:.0f} ms per receipt", flush=True)
        return {"sent": done, "wanted": total, "attached": attached, "misattached": misattached, "wall": wall,
                "http_wall": http_wall, "statuses": sent_all.statuses, "matches": sent_all.matches,
                "errors": sent_all.errors, "rounds": len(per_round), "per_round": per_round, "cpu_s": cpu,
                "cpu_round": cpu_round}


def _cpu(usage: Usage) -> dict[str, float]:
    from delivery import PhaseResult

    result = PhaseResult()
    usage.into(result)
    return {"cpu_s": result.cpu_s, "cpu_pct": result.cpu_pct, "runq_pct": result.runq_pct}


# ============================================================================ report


def _ms(values: list[float], q: float | None) -> str:
    if not values:
        return "n/a"
    return f"{1000 * (max(values) if q is None else pct(values, q)):.1f}"


def report_head(args: argparse.Namespace, info: dict[str, Any], load: str) -> None:
    accounts = sum(len(p["accounts"]) for p in info["persons"])
    print()
    print(f"receipts bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average at "
          f"start {load}; db={'sqlite (embedded default)' if args.db == 'sqlite' else 'URL given'}")
    print(f"store: {info['stored']} transactions in {len(info['persons'])} persons' accounts ({args.history} "
          f"seeded over 365 days in {info['seed_s']:.0f} s, the rest the demo history and the bench's "
          f"charges); bench charges on {accounts} card accounts")
    print("=" * 96)


def report_throughput(args: argparse.Namespace, thr: dict[str, Any]) -> None:
    print(f"2. Matching throughput: {thr['sent']} signed order.placed events, each for one pending charge, "
          f"in {thr['rounds']} rounds of at most {args.round} per account, {args.connections} connections")
    rate = thr["attached"] / thr["wall"] if thr["wall"] > 0 else float("nan")
    http = thr["statuses"].get(202, 0) / thr["http_wall"] if thr["http_wall"] > 0 else float("nan")
    print(f"   receipts/s, first send -> last receipt on a WebSocket card   {rate:10.1f}")
    print(f"   receipts/s, HTTP answered (matched before the 202)           {http:10.1f}")
    print(f"   receipts/s per round, in order (orders stored grow)          "
          f"{' '.join(f'{r:.1f}' for r in thr['per_round'])}")
    print(f"   server CPU ms per receipt per round (all threads)            "
          f"{' '.join(f'{r:.0f}' for r in thr['cpu_round'])}")
    if thr["sent"] < thr["wanted"]:
        print(f"   STOPPED at --max-seconds {args.max_seconds:g}: {thr['sent']} of {thr['wanted']} "
              "receipts sent")
    print(f"   attached / sent / misattached                                {thr['attached']:>5} / "
          f"{thr['sent']} / {thr['misattached']}")
    print(f"   answers {thr['statuses']}, match states {thr['matches']}, socket errors {thr['errors']}")
    per = 1000 * thr["cpu_s"] / thr["attached"] if thr["attached"] else float("nan")
    print(f"   server CPU per receipt (all threads), ms                     {per:10.1f}")


def report_latency(args: argparse.Namespace, lat: dict[str, Any]) -> bool:
    print(f"1. Latency at a fixed {args.rate:g} events/s, alternating, {lat['n']} of each, from each event's "
          "scheduled send to its WebSocket edit")
    print(f"   {'':<44}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, key in (("receipt attached (order.placed -> receipt)", "attach"),
                      ("plain update (bank: pending -> posted)", "plain")):
        values = lat[key]
        print(f"   {name:<44}{len(values):>6}{_ms(values, 50):>10}{_ms(values, 99):>10}"
              f"{_ms(values, None):>10}")
    p99a, p99p = pct(lat["attach"], 99), pct(lat["plain"], 99)
    ratio = p99a / p99p if p99p and p99p == p99p else float("nan")
    complete = len(lat["attach"]) == lat["n"] == len(lat["plain"]) and not lat["misattached"]
    ok = ratio <= 2.0 and complete
    p50a, p50p = pct(lat["attach"], 50), pct(lat["plain"], 50)
    print(f"   p99 ratio attach / plain = {ratio:.2f}x (target <= 2x: {'meets' if ok else 'MISSES'}); "
          f"p50 ratio {p50a / p50p:.2f}x")
    print(f"   missing: attach {lat['n'] - len(lat['attach'])}, plain {lat['n'] - len(lat['plain'])}; "
          f"misattached {lat['misattached']}; HTTP answers {lat['statuses']}, "
          f"unsent/unanswered {lat['unsent']}")
    print(f"   server CPU {lat['cpu']['cpu_pct']:.0f}% of a core, its loop waiting for a CPU "
          f"{lat['cpu']['runq_pct']:.0f}% of the wall time")
    if lat["unsent"] or p50p > 1.0 or p50a > 1.0:
        print("   WARNING: saturated (a p50 above 1 s or requests unsent): these latencies are mostly "
              "queueing; rerun with a lower --rate")
    return ok


# Where a receipt's attach and a bank update spend their time: (file suffix, function) pairs.
PATHS = (
    ("entrypoints/partner/merchants.py", "receive_merchant_event"),
    ("services/receipts/service.py", "_match"),
    ("services/access/accounts.py", "read_recent_transactions"),
    ("adapters/db/ingest.py", "for_account"),
    ("services/access/accounts.py", "_open_txn"),
    ("adapters/db/receipts.py", "for_transaction"),
    ("services/receipts/service.py", "_render"),
    ("services/messaging/outgoing.py", "put_card"),
    ("services/receipts/service.py", "on_transaction_changed"),
    ("services/ingest/delivery.py", "on_transaction_changed"),
    ("services/alerts/insights.py", "on_transaction_changed"),
    ("domain/categories.py", "categorise"),
)


def print_paths(path: Path) -> None:
    """Cumulative time and calls of the functions named in PATHS (cProfile's wall time)."""
    import pstats

    if not path.exists():
        return
    stats = pstats.Stats(str(path))
    total = stats.total_tt  # type: ignore[attr-defined]
    print("-- the receipt and bank-update paths (cumulative s, % of profiled time, calls)")
    for suffix, name in PATHS:
        for (file, line, func), (_, calls, _, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
            if func == name and file.endswith(suffix):
                print(f"   {ct:7.2f} {100 * ct / total:5.1f}% {calls:>8}  {suffix}:{line}({func})")


# ============================================================================ main


async def orchestrate(args: argparse.Namespace, workdir: Path) -> int:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    run = f"{int(time.time()) % 100000:05d}"
    started = time.monotonic()
    server = ServerProcess(workdir, args)
    try:
        server.wait_ready(timeout=args.setup_timeout)
        args.server_pid = server.proc.pid
        print(f"server up, {server.info['stored']} transactions stored, in "
              f"{time.monotonic() - started:.0f} s "
              f"(pid {server.proc.pid}); latency phase ({args.latency_events} events at {args.rate:g}/s)...",
              flush=True)
        bench = Bench(args, server, run)
        await bench.connect()
        lat = await bench.latency()
        report_head(args, server.info, load)
        report_latency(args, lat)  # printed now: the throughput phase may take minutes
        print(f"\nthroughput phase ({args.receipts} receipts)...", flush=True)
        try:
            report_throughput(args, await bench.throughput())
        except SetupError as exc:
            print(f"2. Matching throughput: FAILED: {exc}")
        closed = [w.close_code for w in bench.watchers if w.close_code is not None]
        for watcher in bench.watchers:
            await watcher.close()
        rss = rss_kib(server.proc.pid)
        print(f"\n3. Server memory: RSS at end {rss[0] // 1024} MiB, peak {rss[1] // 1024} MiB")
    finally:
        server.stop()
    for note in bench.notes:
        print(f"note: {note}")
    if args.profile:
        print("\n(the profile below covers the LATENCY phase: receipts and bank updates, interleaved)")
        print_profile(server.ready_file.with_suffix(".prof"))
        print_paths(server.ready_file.with_suffix(".prof"))
    if closed:
        print(f"note: the server closed {len(closed)} WebSocket(s): codes {closed}")
    logged = [line for line in server.log.read_text().splitlines() if line.strip()]
    if logged:
        where = server.log if args.keep else "removed with the work dir; --keep keeps it"
        print(f"server log: {len(logged)} lines ({where}); last: {logged[-1][:200]}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve-receipts":
        return _server_main(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--history", type=int, default=100_000,
                        help="transactions seeded in the store before the run (0-200000)")
    parser.add_argument("--receipts", type=int, default=2000,
                        help="order.placed events in the throughput phase (1-5000)")
    parser.add_argument("--round", type=int, default=40,
                        help="pending charges per card account booked before each throughput burst (1-90): "
                             "matching looks at an account's 100 latest transactions")
    parser.add_argument("--latency-events", type=int, default=100,
                        help="events in the latency phase: half receipts, half pending->posted updates "
                             "(2-400)")
    parser.add_argument("--rate", type=float, default=2.0, help="events/s in the latency phase (0-100]")
    parser.add_argument("--connections", type=int, default=8,
                        help="keep-alive sender connections in bursts")
    parser.add_argument("--max-seconds", type=float, default=150.0,
                        help="no new throughput round after this long (the report says how many were sent)")
    parser.add_argument("--grace", type=float, default=60.0,
                        help="max wait for WebSocket frames after sending")
    parser.add_argument("--setup-timeout", type=float, default=600.0,
                        help="max time for the server to link the persons and seed the history")
    parser.add_argument("--loop", default="auto", choices=["auto", "uvloop", "asyncio"],
                        help="the server's event loop (uvicorn's --loop)")
    parser.add_argument("--db", default="sqlite", help="'sqlite' (embedded default) or the URL of an empty "
                                                       "database (e.g. postgresql://...)")
    parser.add_argument("--profile", action="store_true",
                        help="diagnostic: cProfile the server's event loop during the latency phase")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (database, server log)")
    args = parser.parse_args()
    if not (0 <= args.history <= 200_000 and 1 <= args.receipts <= 5000 and 1 <= args.round <= 90
            and 2 <= args.latency_events <= 400 and 0 < args.rate <= 100 and 1 <= args.connections <= 64):
        parser.error("out of bounds: --history 0-200000, --receipts 1-5000, --round 1-90, "
                     "--latency-events 2-400, --rate (0, 100], --connections 1-64")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks stop the server
    workdir = Path(tempfile.mkdtemp(prefix="ll-receipts-"))
    keep = args.keep
    try:
        return asyncio.run(orchestrate(args, workdir))
    except SetupError as exc:
        keep = True
        print(f"\nsetup failed: {exc}\n(work dir kept: {workdir})", file=sys.stderr)
        return 2
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
