"""One run of the scale-out crash test (issue 12), shared by tests/integration/test_cluster_crash.py
and `bench/crash.py --profile cluster`.

Set-up: a fresh PostgreSQL database, the harness's own nats-server, the cluster (2 api, 2 worker,
2 gateway processes) and, in this process, the sandbox bank and a platform (role `api`) through
which four persons register and link their bank (alice, bob, carol, dave). Then the bank sends
`events` signed events (spread over the persons and the two api processes) in chunks, while each
person's client stays connected, and between chunks, at seeded random moments, a process is
killed with SIGKILL: an api, a worker, the relay's lease holder, a gateway or the nats-server.
Each killed process is started again (in the background; traffic goes on meanwhile).

Before the traffic, one poison message (not an event: `not json`) is published on the
TransactionChanged subject: each consumer of it must dead-letter it once. Every other message
of the run is a well-formed event, so any other dead letter is a defect (an insight or alert
never evaluated): the figures count them per consumer and the test fails on any."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import free_ports, fresh_database, running_stack
from tests.integration._cluster import scaleout_env
from tests.integration._crash_cluster import START_SECONDS, Cluster, NatsServer
from tests.integration._crash_traffic import Bank, Figures, Person, Watcher
from tests.integration.test_linking_flow import _linked
from tests.integration.test_realtime import signed_in

from ledgerlink.adapters.db import schema
from ledgerlink.adapters.db.engine import create_engine
from ledgerlink.adapters.db.migrate import upgrade_async
from ledgerlink.adapters.events.dead_letters import DeadLetter, read_dead_letters
from ledgerlink.domain.privacy import Grant

LOGINS = ("alice", "bob", "carol", "dave")
QUIET = {f"{job}_seconds": 0 for job in ("sync_interval", "prompt_check_interval", "consent_check_interval",
                                         "audit_sign_interval", "retention_interval", "digest_interval")}
TARGETS = ("api", "worker", "relay", "gateway", "nats")
NATS_GAP = 8.0  # seconds between two kills of the nats-server at least
POISON_ID = "evt_crash_poison"  # the Nats-Msg-Id of the one poison message
POISON_EVENT = "TransactionChanged"


async def crash_cluster_run(work: Path, *, nats_binary: str, events: int, kills: int, seed: int,
                            gap: tuple[float, float] = (0.3, 1.2)) -> Figures:
    started = time.monotonic()
    rng, run, root = random.Random(seed), f"c{seed}", f"crash{secrets.token_hex(4)}"
    nats_port, monitor, *ports = free_ports(6)
    server = NatsServer(nats_binary, nats_port, monitor, work / "nats")
    await server.start()
    async with fresh_database("postgres", work) as db_url:
        await upgrade_async(db_url)
        async with running_stack(work, db_url, nats_url=server.url, nats_root=root, roles="api") as stack:
            await asyncio.wait_for(stack.container.deps.bus.wait_ready(), 30)  # type: ignore[attr-defined]
            env = scaleout_env(database_url=db_url, nats_url=server.url, root=root,
                               sandbox_url=stack.bank_url, public_url=stack.platform_url, log_level="info",
                               nats_ack_wait_seconds=5, **QUIET)
            cluster = Cluster(work, env, db_url, server, ports)
            cluster.settle_seconds = max(120.0, events / 10)  # the backlog left after the last kill
            engine = create_engine(db_url, pool_size=2)
            try:
                await cluster.start_all()
                poison_expected = await _inject_poison(cluster)
                persons = []
                for login in LOGINS:
                    person_id, cookie = await signed_in(stack, f"p{login}")
                    await _linked(stack, login=login, grant=Grant.for_person(person_id))
                    async with stack.deps.uow() as uow:
                        account = (await uow.accounts.for_person(person_id))[0]
                    persons.append(Person(person_id, cookie, account.bank_account_id, account.currency))
                secret = stack.container.sandbox_credentials.webhook_secret
                figures = await _traffic(cluster, engine, persons, secret, rng, run,
                                         events=events, kills=kills, gap=gap)
            except BaseException:
                print(cluster.tails())
                raise
            finally:
                cluster.stop()
                await engine.dispose()
    figures.seconds = time.monotonic() - started
    figures.poison_expected = poison_expected
    return figures


async def _inject_poison(cluster: Cluster) -> int:
    """Publishes the poison message; how many consumers take its subject (each must
    dead-letter it once)."""
    root = cluster.env["LEDGERLINK_NATS_ROOT"]
    subject = f"{root}.events.{POISON_EVENT}"
    nc = await nats.connect(cluster.nats.url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream()
        infos = await js.consumers_info(f"{root.upper().replace('-', '_')}_EVENTS")
        await js.publish(subject, b"not json", headers={"Nats-Msg-Id": POISON_ID})
    finally:
        await nc.close()
    return sum(1 for i in infos if i.config.filter_subject == subject)


async def _traffic(cluster: Cluster, engine: AsyncEngine, persons: list[Person], secret: str,
                   rng: random.Random, run: str, *, events: int, kills: int,
                   gap: tuple[float, float]) -> Figures:
    bank = Bank(persons, run, events, secret, cluster.urls("api"))
    gateways = [u.replace("http://", "ws://") + "/ws" for u in cluster.urls("gateway")]
    watchers = [Watcher(p, gateways, first=i) for i, p in enumerate(persons)]
    tasks = [asyncio.create_task(bank.run()), *(asyncio.create_task(w.run()) for w in watchers)]
    try:
        began = time.monotonic()
        order = list(range(events))
        rng.shuffle(order)
        chunks = [order[k::kills + 1] for k in range(kills + 1)]  # the last after the last kill
        last_nats = -NATS_GAP
        for k in range(kills):
            bank.release(chunks[k])
            await asyncio.sleep(rng.uniform(*gap))  # the chunk is in flight
            target = await _target(cluster, rng, killed=cluster.kills, nats_ok=time.monotonic() - last_nats)
            await _kill(cluster, engine, target, rng, watchers)
            last_nats = time.monotonic() if target == "nats" else last_nats
            print(f"{time.monotonic() - began:6.1f} s kill {k + 1} {target}: acked {len(bank.acked)}",
                  flush=True)
        bank.release(chunks[-1])
        await cluster.settle()
        print(f"{time.monotonic() - began:6.1f} s kills done, restarts settled", flush=True)
        answered = _true_when(lambda: len(bank.acked | bank.known | bank.conflicts) == events)
        await _until_async(answered, "every event acknowledged", cluster)
        expected = await _settled(cluster, engine)
        if not await _until_async(lambda: _all_seen(watchers, expected), "every client saw every message",
                                  cluster):
            for w in watchers:
                want, got = expected.get(w.person.person_id, {}), w.latest()
                unseen = sum(got.get(m) != r for m, r in want.items())
                print(f"{w.person.person_id}: {len(want)} messages, {unseen} not seen at their current rev, "
                      f"marks {w.marks}", flush=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    figures = await _figures(engine, cluster, bank, watchers, run, events)
    await _print_retries(cluster)
    figures.kills = dict(cluster.kills)
    figures.resent, figures.answers = bank.resent, dict(bank.answers)
    figures.reconnects = sum(w.connects - 1 for w in watchers)
    figures.restart_p50 = statistics.median(cluster.restart_seconds)
    return figures


async def _target(cluster: Cluster, rng: random.Random, *, killed: Counter[str], nats_ok: float) -> str:
    """A seeded random choice among what can be killed now: a role whose two processes are both
    up (never the last one standing), the nats-server at most every NATS_GAP seconds; a target
    not killed yet first."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        up = {role for role in ("api", "worker", "gateway") if all(s.ready for s in cluster.of(role))}
        can = [t for t in TARGETS if (t == "nats" and nats_ok >= NATS_GAP)
               or ("worker" if t == "relay" else t) in up]
        fresh = [t for t in can if not killed[t]]
        if can:
            return rng.choice(fresh or can)
        assert time.monotonic() < deadline, f"nothing killable for {START_SECONDS} s\n{cluster.tails()}"
        await asyncio.sleep(0.05)
        nats_ok += 0.05


async def _kill(cluster: Cluster, engine: AsyncEngine, target: str, rng: random.Random,
                watchers: list[Watcher]) -> None:
    """nats: the server, restarted at once; relay: the worker holding the lease; worker: the
    other one (a consumer only, when the lease is held); gateway: the one holding more clients;
    api: either."""
    if target == "nats":
        await cluster.kill_nats()
        return
    if target == "api":
        cluster.kill(rng.choice(cluster.of("api")), as_role="api")
        return
    if target == "gateway":
        held = Counter(w.on for w in watchers if w.on is not None)
        busiest = max(range(2), key=lambda i: (held[i], rng.random()))
        cluster.kill(cluster.of("gateway")[busiest], as_role="gateway")
        return
    holder = await cluster.relay_holder(engine)
    if holder is None:  # between two holders: whichever worker
        cluster.kill(rng.choice(cluster.of("worker")), as_role="worker")
    elif target == "relay":
        cluster.kill(holder, as_role="relay")
    else:
        cluster.kill(next(s for s in cluster.of("worker") if s is not holder), as_role="worker")


async def _settled(cluster: Cluster, engine: AsyncEngine) -> dict[str, dict[str, int]]:
    """Waits until the outbox is empty, no consumer has pending messages and every inbox row is
    applied; then each person's messages (id -> current rev), the database's word."""
    async def idle() -> bool:
        return (await _outbox(engine)) == 0 and (await _unapplied(engine)) == 0 \
            and (await _pending(cluster)) == 0
    if not await _until_async(idle, "outbox empty, consumers idle, inbox applied", cluster):
        print(f"outbox {await _outbox(engine)}, unapplied {await _unapplied(engine)}, "
              f"pending {await _pending(cluster)}", flush=True)
    out: dict[str, dict[str, int]] = {}
    async with engine.connect() as conn:
        for pid, mid, rev in await conn.execute(select(schema.messages.c.person_id, schema.messages.c.id,
                                                       schema.messages.c.rev)):
            out.setdefault(pid, {})[mid] = rev
    return out


async def _all_seen(watchers: list[Watcher], expected: dict[str, dict[str, int]]) -> bool:
    return all(w.latest() == expected.get(w.person.person_id, {}) for w in watchers)


async def _outbox(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(schema.outbox))).scalar_one())


async def _unapplied(engine: AsyncEngine) -> int:
    query = select(func.count()).select_from(schema.inbox).where(schema.inbox.c.processed_at.is_(None))
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _jetstream(cluster: Cluster) -> tuple[int, int]:
    """(pending + ack pending over every consumer of the events stream, dead letters)."""
    root = cluster.env["LEDGERLINK_NATS_ROOT"].upper().replace("-", "_")
    nc = await nats.connect(cluster.nats.url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream()
        infos = await js.consumers_info(f"{root}_EVENTS")
        dead = (await js.stream_info(f"{root}_DEAD")).state.messages
        return sum(int(i.num_pending or 0) + int(i.num_ack_pending or 0) for i in infos), int(dead)
    finally:
        await nc.close()


async def _print_retries(cluster: Cluster) -> None:
    """Why events were retried or dead-lettered: handler failures from every process's log and
    the dead letters' headers (consumer, reason, deliveries: nothing of the contents)."""
    names = {"event_dead_lettered", "event_handler_gave_up", "event_handler_failed",
             "event_handled_on_last_delivery"}
    procs = [*cluster.retired, *(s.proc for s in cluster.slots if s.proc is not None)]
    seen: Counter[str] = Counter()
    for proc in procs:
        for entry in list(proc.logs):
            if entry.get("event") in names:
                why = entry.get("reason") or entry.get("error")
                seen[f"{entry['event']} {entry.get('consumer')} {why}"] += 1
    if seen:
        print(f"handler retries: {dict(seen)}", flush=True)
    kinds = Counter(f"{d.consumer} {d.reason} after {d.deliveries} deliveries"
                    + (" (the poison message)" if d.event_id == POISON_ID else "")
                    for d in await _dead(cluster))
    for kind, n in sorted(kinds.items()):
        print(f"dead letters: {n} x {kind}", flush=True)


async def _dead(cluster: Cluster) -> list[DeadLetter]:
    """Every dead letter (headers only: consumer, reason, deliveries, event id)."""
    total, dead = await read_dead_letters(cluster.nats.url, cluster.env["LEDGERLINK_NATS_ROOT"],
                                          limit=1_000_000)
    assert len(dead) == total, (len(dead), total)
    return dead


async def _pending(cluster: Cluster) -> int:
    return (await _jetstream(cluster))[0]


def _true_when(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check_async() -> bool:
        return check()
    return check_async


async def _until_async(check: object, what: str, cluster: Cluster) -> bool:
    """Whether `check` came true within the cluster's settle_seconds; if not, says so with the processes'
    last lines (the figures then show what is missing)."""
    assert callable(check)
    deadline = time.monotonic() + cluster.settle_seconds
    while True:
        with contextlib.suppress(OSError, nats.errors.Error):
            if await check():
                return True
        if time.monotonic() > deadline:
            print(f"{what}: not within {cluster.settle_seconds:.0f} s\n{cluster.tails()}", flush=True)
            return False
        await asyncio.sleep(0.2)


async def _figures(engine: AsyncEngine, cluster: Cluster, bank: Bank, watchers: list[Watcher],
                   run: str, events: int) -> Figures:
    figures = Figures(events, acknowledged=len(bank.acked), already_received=len(bank.known - bank.acked),
                      conflicts=len(bank.conflicts))
    t, m = schema.transactions, schema.messages
    async with engine.connect() as conn:
        rows = (await conn.execute(select(t.c.id, t.c.source_key, t.c.person_id)
                                   .where(t.c.source_key.like(f"btx_{run}_%")))).all()
        subjects = (await conn.execute(select(m.c.subject_key, m.c.id)
                                       .where(m.c.subject_key.like("txn:%")))).all()
    txns: dict[str, list[str]] = {}
    for tid, source, _ in rows:
        txns.setdefault(source, []).append(tid)
    messages: dict[str, list[str]] = {}
    for subject, mid in subjects:
        messages.setdefault(subject.removeprefix("txn:"), []).append(mid)
    seen = {mid for w in watchers for mid in w.latest()}
    for i in sorted(bank.acked | bank.known):  # both were stored: each must be applied once
        tids = txns.get(f"btx_{run}_{i:06d}", [])
        mids = [mid for tid in tids for mid in messages.get(tid, [])]
        if len(tids) > 1 or len(mids) > 1:
            figures.duplicated += 1
        if tids and mids:
            figures.applied += 1
            if all(mid in seen for mid in mids):
                figures.delivered += 1
                continue
        figures.lost += 1
    figures.duplicates = sum(w.duplicates() for w in watchers)
    figures.out_of_order = sum(w.out_of_order() for w in watchers)
    figures.outbox, figures.unapplied = await _outbox(engine), await _unapplied(engine)
    figures.pending, figures.dead_letters = await _jetstream(cluster)
    dead = await _dead(cluster)
    figures.poison_dead = sum(d.event_id == POISON_ID for d in dead)
    figures.dead_by_consumer = dict(Counter(d.consumer for d in dead if d.event_id != POISON_ID))
    return figures
