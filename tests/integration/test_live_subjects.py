"""The per-person live subjects (ADR 0032) against a real nats-server: a worker's forwarded
event reaches the process watching that person only; the subscription holds before `watch`
returns, for every tab; the last tab's end stops the interest; after a reconnect every
watched person's threads are caught up; a malformed notice is dropped, not raised."""

from __future__ import annotations

import asyncio

import nats
import pytest
from tests.integration.test_jetstream import _until, nats_url, root  # noqa: F401  (fixtures)

from ledgerlink.adapters.events.live import LiveSubjects
from ledgerlink.domain.events import Event, LinkActivated, MessageStored, ThreadRead


@pytest.mark.postgres  # NATS
async def test_a_forwarded_event_reaches_only_the_process_watching_that_person(
    nats_url: str, root: str,  # noqa: F811
) -> None:
    worker, gateway, other = LiveSubjects(root=root), LiveSubjects(root=root), LiveSubjects(root=root)
    seen: dict[str, list[Event]] = {"gateway": [], "other": []}

    def collect(name: str) -> object:
        async def handler(event: Event) -> None:
            seen[name].append(event)
        return handler

    for name, source in (("gateway", gateway), ("other", other)):
        for kind in (MessageStored, ThreadRead, LinkActivated):
            source.subscribe(kind, collect(name))  # type: ignore[arg-type]
    connections = [await nats.connect(nats_url) for _ in range(3)]
    try:
        for source, nc in zip((worker, gateway, other), connections, strict=True):
            await source.attach(nc)
        await gateway.watch("per_pat")
        await gateway.watch("per_pat")  # a second tab: no second subscription
        await other.watch("per_sam")
        events: list[Event] = [
            MessageStored(person_id="per_pat", thread_id="thr_1", message_id="msg_1", rev=7),
            ThreadRead(person_id="per_pat", thread_id="thr_1", last_read_seq=3, last_seq=4),
            LinkActivated(person_id="per_pat", link_id="lnk_1"),
        ]
        for event in events:
            await worker.forward(event)  # the moment after watch() returned: nothing is missed
        await _until(lambda: len(seen["gateway"]) == 3, seconds=5)
        assert seen["gateway"] == events
        assert seen["other"] == []

        await gateway.unwatch("per_pat")
        assert gateway.watching() == 1  # one tab is still open
        await gateway.unwatch("per_pat")
        assert gateway.watching() == 0
        await connections[1].flush()
        await worker.forward(events[0])
        await connections[0].flush()
        await asyncio.sleep(0.2)
        assert len(seen["gateway"]) == 3  # no interest left: nothing more arrives

        await connections[0].publish(f"{root}.live.per_sam", b"not a notice")
        await connections[0].publish(f"{root}.live.per_sam", b'{"type": "Nope", "event": {}}')
        await worker.forward(LinkActivated(person_id="per_sam", link_id="lnk_2"))
        await _until(lambda: len(seen["other"]) == 1, seconds=5)
        assert seen["other"] == [LinkActivated(person_id="per_sam", link_id="lnk_2")]
    finally:
        for nc in connections:
            await nc.close()


@pytest.mark.postgres  # NATS
async def test_after_a_reconnect_every_watched_persons_threads_are_caught_up(
    nats_url: str, root: str,  # noqa: F811
) -> None:
    gateway = LiveSubjects(root=root)
    caught_up: list[MessageStored] = []

    async def handler(event: MessageStored) -> None:
        caught_up.append(event)

    async def threads_of(person_id: str) -> list[str]:
        return {"per_pat": ["thr_a", "thr_b"], "per_sam": ["thr_c"]}[person_id]

    gateway.subscribe(MessageStored, handler)
    gateway.on_resync(threads_of)
    await gateway.watch("per_pat")  # before NATS: the resume still reads the database
    await gateway.watch("per_sam")
    nc = await nats.connect(nats_url)
    try:
        await gateway.attach(nc)  # as on the bus's first connection or a reconnect
        await _until(lambda: len(caught_up) == 3, seconds=5)
        assert sorted((e.person_id, e.thread_id, e.rev) for e in caught_up) == [
            ("per_pat", "thr_a", 0), ("per_pat", "thr_b", 0), ("per_sam", "thr_c", 0)]
        with pytest.raises(ValueError, match="person id"):
            gateway.subject("per.pat.>")  # never a wildcard or a token break in a subject
    finally:
        gateway.detach()
        await nc.close()
