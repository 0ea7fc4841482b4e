"""Operating the scale-out profile (issue 12): `ledgerlink ops dead-letters` lists a poison
event by ids, subject, consumer, deliveries and error code (never its contents); /metrics
reads the outbox depth and each consumer's lag at scrape; /healthz names each dependency."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from tests.conftest import running_stack
from tests.integration.test_cluster_invalidation import _port
from tests.integration.test_jetstream import _until, nats_url, pg_url, root  # noqa: F401  (fixtures)

from ledgerlink.adapters.events.jetstream import JetStreamBus
from ledgerlink.domain.events import AccountSyncRequested
from ledgerlink.services.kernel.outbox import encode_event

LEDGERLINK = str(Path(sys.executable).with_name("ledgerlink"))
MARKER = "acc_do_not_print_me"


def _ops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINK_")}
    return subprocess.run([LEDGERLINK, "ops", *args], env={**clean, **env, "COLUMNS": "250"},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.postgres  # and NATS
async def test_a_poison_event_is_listed_by_ops_dead_letters_with_ids_and_codes_but_not_its_contents(
    nats_url: str, root: str,  # noqa: F811
) -> None:
    attempts: list[str] = []

    async def handler(event: AccountSyncRequested) -> None:
        attempts.append(event.account_id)
        raise ValueError(f"cannot apply {event.account_id}")

    env = {"LEDGERLINK_NATS_URL": nats_url, "LEDGERLINK_NATS_ROOT": root}
    empty = _ops("dead-letters", env=env)
    assert empty.returncode == 0, empty.stderr
    assert "no dead letters" in empty.stdout

    bus = JetStreamBus(nats_url, root=root, relay=False, max_deliver=3, backoff=0.01, ack_wait=5.0)
    bus.subscribe(AccountSyncRequested, handler, name="apply")
    event_id = f"evt_{secrets.token_hex(8)}"
    try:
        await bus.start()
        await bus.wait_ready()
        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().publish(f"{root}.events.AccountSyncRequested",
                                         encode_event(AccountSyncRequested(account_id=MARKER)),
                                         headers={"Nats-Msg-Id": event_id})
        finally:
            await nc.close()
        await _until(lambda: bus.dead_lettered == 1)
        assert await bus.dead_letters() == 1
    finally:
        await bus.stop()
    assert attempts == [MARKER] * 3  # bounded: max_deliver, then the dead letters

    listed = _ops("dead-letters", env=env)
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    assert f"{root.upper()}_DEAD: 1 dead letter(s)" in out
    row = next(line for line in out.splitlines() if event_id in line)
    for part in (f"{root}.events.AccountSyncRequested", "AccountSyncRequested-apply", "ValueError"):
        assert part in row, out
    assert " 3 " in row  # deliveries
    assert MARKER not in out + listed.stderr


def test_ops_dead_letters_without_a_nats_address_says_what_to_set() -> None:
    done = _ops("dead-letters", env={})
    assert done.returncode == 2
    assert "no_nats_url" in done.stdout and "LEDGERLINK_NATS_URL" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.postgres  # and NATS
async def test_metrics_show_outbox_depth_and_consumer_lag_and_healthz_names_each_dependency(
    tmp_path: Path, pg_url: str, nats_url: str, root: str,  # noqa: F811
) -> None:
    # An api process alone: it writes the outbox, and no worker relays or consumes.
    async with running_stack(tmp_path, pg_url, nats_url=nats_url, nats_root=root, roles="api") as stack:
        bus = stack.container.deps.bus
        assert isinstance(bus, JetStreamBus)
        await asyncio.wait_for(bus.wait_ready(), 30)
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await js.add_consumer(bus.stream, ConsumerConfig(
                durable_name="probe", ack_policy=AckPolicy.EXPLICIT,
                filter_subject=f"{root}.events.AccountSyncRequested"))
            for n in range(3):
                await js.publish(f"{root}.events.AccountSyncRequested",
                                 json.dumps({"account_id": f"acc_{n}"}).encode())
        finally:
            await nc.close()
        for n in range(2):  # committed, and no relay runs in an api process
            await bus.publish(AccountSyncRequested(account_id=f"acc_waiting_{n}"))
        async with stack.client() as client:
            depth = await bus.outbox_depth()
            health = await client.get("/healthz")
            scraped = (await client.get("/metrics")).text
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "checks": {"database": "ok", "nats": "ok"}}
    assert depth >= 2
    assert f"ledgerlink_outbox_depth {float(depth)}" in scraped
    assert 'ledgerlink_consumer_lag{consumer="probe"} 3.0' in scraped
    assert "ledgerlink_dead_letters 0.0" in scraped
    assert "ledgerlink_nats_connected 1.0" in scraped


@pytest.mark.postgres
async def test_healthz_says_nats_is_down_by_name_while_the_database_still_answers(
    tmp_path: Path, pg_url: str, root: str,  # noqa: F811
) -> None:
    nobody = f"nats://127.0.0.1:{_port()}"
    async with running_stack(tmp_path, pg_url, nats_url=nobody, nats_root=root, roles="api") as stack, \
            stack.client() as client:
        health = await client.get("/healthz")
        scraped = (await client.get("/metrics")).text
    assert health.status_code == 200  # events are still stored: the outbox keeps them
    assert health.json() == {"status": "degraded", "checks": {"database": "ok", "nats": "down"}}
    assert "ledgerlink_nats_connected 0.0" in scraped
