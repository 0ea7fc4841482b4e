"""Redelivery after kills on the scale-out profile (issue 12, ADR 0035) against a real
nats-server: JetStream counts a delivery whenever it sends a message, so a kill charges every
message the killed process had fetched. Only a message that kills its process on every attempt
may end in the dead letters; one whose deliveries were used up by kills while other work ran,
or on its own last delivery, is handled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import nats
import pytest
from tests.integration.test_jetstream import _line, _publish, _until, nats_url, root  # noqa: F401

from ledgerlink.adapters.events.jetstream import JetStreamBus
from ledgerlink.domain.events import AccountSyncRequested, Event

_WORKER = """
import asyncio, sys
from ledgerlink.adapters.events.jetstream import JetStreamBus
from ledgerlink.domain.events import AccountSyncRequested

async def main():
    bus = JetStreamBus(sys.argv[1], root=sys.argv[2], relay=False, ack_wait=1.0)
    async def handler(event):
        if event.account_id == "acc_a":
            print("got", event.account_id, flush=True)
            await asyncio.Event().wait()  # killed here, before the ack
        print("handled", event.account_id, flush=True)
    bus.subscribe(AccountSyncRequested, handler, name="probe")
    await bus.start()
    await bus.wait_ready()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _spawn(url: str, subjects: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _WORKER, url, subjects], stdout=subprocess.PIPE, text=True)


@pytest.mark.postgres  # and NATS
@pytest.mark.parametrize("kills", [5, 6])
async def test_only_the_message_whose_every_attempt_killed_its_process_is_dead_lettered(
    nats_url: str, root: str, kills: int  # noqa: F811
) -> None:
    """acc_a hangs its worker, which is killed on it `kills` times (the bus's max_deliver is 5,
    the server's 6); acc_b and acc_c are published behind it. Fetched along with acc_a (the old
    batch of 64), they waited behind it, were charged a delivery per kill and were
    dead-lettered unattempted, like acc_a on its 6th delivery. Now the workers handle them
    between the kills; after 5 kills acc_a's last delivery is handled, after 6 it is in the dead
    letters."""
    subject = f"{root}.events.AccountSyncRequested"
    hung_on: list[str] = []
    for round_ in range(kills):
        proc = _spawn(nats_url, root)
        assert proc.stdout is not None
        try:
            if round_ == 0:
                await _line(proc, "ready")
                for name in ("acc_a", "acc_b", "acc_c"):
                    await _publish(nats_url, subject, f'{{"account_id":"{name}"}}'.encode())
            hung_on.append((await _line(proc, "got")).split()[1])
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
    assert hung_on == ["acc_a"] * kills
    handled: list[str] = []

    async def handler(event: Event) -> None:
        assert isinstance(event, AccountSyncRequested)
        handled.append(event.account_id)

    bus = JetStreamBus(nats_url, root=root, relay=False, ack_wait=1.0)
    bus.subscribe(AccountSyncRequested, handler, name="probe")
    try:
        await bus.start()
        await bus.wait_ready()
        if kills == 5:  # acc_a's last delivery
            await _until(lambda: "acc_a" in handled, seconds=30)
        await bus.drain()
        assert handled.count("acc_a") == (kills == 5)
        assert bus.dead_lettered == 0
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            state = (await js.stream_info(bus.dead_stream)).state
            seqs = range(state.first_seq, state.last_seq + 1) if state.messages else range(0)
            dead = [await js.get_msg(bus.dead_stream, seq) for seq in seqs]
        finally:
            await nc.close()
        if kills == 5:
            assert dead == []  # the provisional dead letter of its last delivery was withdrawn
        else:
            headers = [m.headers or {} for m in dead]
            assert [m.data for m in dead] == [b'{"account_id":"acc_a"}']
            assert [(h.get("Ledgerlink-Reason"), h.get("Ledgerlink-Deliveries")) for h in headers] == [
                ("gave_up_after_crashes", "6")]
        for _ in range(100):  # the server drops a message past max_deliver after its ack_wait
            if await bus.pending() == {"AccountSyncRequested-probe": 0}:
                break
            await asyncio.sleep(0.1)
        assert await bus.pending() == {"AccountSyncRequested-probe": 0}
    finally:
        await bus.stop()
