from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from structlog.testing import capture_logs

from ledgerlink.adapters.events import InProcessBus
from ledgerlink.domain.events import BalanceChanged, Event, LinkActivated
from ledgerlink.services.kernel.bus import EventBus


@dataclass(frozen=True, slots=True)
class SpecialBalanceChanged(BalanceChanged):
    pass


class Boom(RuntimeError):
    pass


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    bus = InProcessBus(retry_backoff=0)
    yield bus
    await bus.stop(grace=1)


async def test_events_reach_every_handler_of_their_exact_type(bus: InProcessBus) -> None:
    port: EventBus = bus
    seen: list[tuple[str, Event]] = []

    async def first(event: Event) -> None:
        seen.append(("first", event))

    async def second(event: Event) -> None:
        seen.append(("second", event))

    port.subscribe(BalanceChanged, first)
    port.subscribe(BalanceChanged, second)
    port.subscribe(BalanceChanged, second)  # twice is once
    port.subscribe(LinkActivated, first)

    balance = BalanceChanged(person_id="per_1", account_id="acc_1")
    await port.publish(balance)
    await port.publish(SpecialBalanceChanged(person_id="per_1", account_id="acc_2"))
    await port.drain()

    assert sorted(seen, key=lambda item: item[0]) == [("first", balance), ("second", balance)]
    assert bus.published_count == 2
    assert bus.failed_count == 0


async def test_publish_returns_before_handlers_run(bus: InProcessBus) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(event: Event) -> None:
        started.set()
        await release.wait()

    bus.subscribe(LinkActivated, slow)
    await bus.publish(LinkActivated(person_id="per_1", link_id="lnk_1"))
    assert not started.is_set()

    await started.wait()
    drained = asyncio.create_task(bus.drain())
    await asyncio.sleep(0)
    assert not drained.done()
    release.set()
    await drained


async def test_a_failing_handler_does_not_stop_the_others(bus: InProcessBus) -> None:
    handled: list[str] = []

    async def broken(event: Event) -> None:
        raise Boom("secret detail from per_1")

    async def healthy(event: Event) -> None:
        handled.append("healthy")

    bus.subscribe(BalanceChanged, broken)
    bus.subscribe(BalanceChanged, healthy)

    with capture_logs() as logs:
        await bus.publish(BalanceChanged(person_id="per_1", account_id="acc_1"))
        await bus.publish(BalanceChanged(person_id="per_1", account_id="acc_2"))
        await bus.drain()

    assert handled == ["healthy", "healthy"]
    assert bus.failed_count == 2
    gave_up = [entry for entry in logs if entry["event"] == "event_handler_gave_up"]
    assert len(gave_up) == 2
    assert gave_up[0]["log_level"] == "error"
    assert gave_up[0]["event_type"] == "BalanceChanged"
    assert gave_up[0]["handler"].endswith("broken")
    assert gave_up[0]["error"] == "Boom"
    assert "per_1" not in repr(logs)  # neither the event nor the exception message is logged


async def test_a_failing_handler_is_retried_until_it_succeeds(bus: InProcessBus) -> None:
    attempts: list[int] = []

    async def flaky(event: Event) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise Boom

    bus.subscribe(LinkActivated, flaky)
    with capture_logs() as logs:
        await bus.publish(LinkActivated(person_id="per_1", link_id="lnk_1"))
        await bus.drain()

    assert len(attempts) == 3
    assert bus.failed_count == 0
    assert [entry["attempt"] for entry in logs] == [1, 2]


async def test_a_handler_gets_three_retries_then_is_dropped(bus: InProcessBus) -> None:
    attempts: list[int] = []

    async def always_broken(event: Event) -> None:
        attempts.append(1)
        raise Boom

    bus.subscribe(LinkActivated, always_broken)
    with capture_logs():
        await bus.publish(LinkActivated(person_id="per_1", link_id="lnk_1"))
        await bus.drain()

    assert len(attempts) == 4  # one try + three retries
    assert bus.failed_count == 1


async def test_drain_waits_for_events_published_by_handlers(bus: InProcessBus) -> None:
    seen: list[str] = []

    async def on_link(event: Event) -> None:
        await asyncio.sleep(0)
        await bus.publish(BalanceChanged(person_id="per_1", account_id="acc_1"))

    async def on_balance(event: Event) -> None:
        await asyncio.sleep(0)
        seen.append("balance")

    bus.subscribe(LinkActivated, on_link)
    bus.subscribe(BalanceChanged, on_balance)
    await bus.publish(LinkActivated(person_id="per_1", link_id="lnk_1"))
    await bus.drain()

    assert seen == ["balance"]


async def test_handlers_run_concurrently_up_to_the_bound() -> None:
    bus = InProcessBus(max_in_flight=3, retry_backoff=0)
    running = 0
    peak = 0

    async def handler(event: Event) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    bus.subscribe(LinkActivated, handler)
    for i in range(10):
        await bus.publish(LinkActivated(person_id="per_1", link_id=f"lnk_{i}"))
    await bus.drain()
    await bus.stop()

    assert peak == 3


async def test_drain_without_any_publish_returns_and_the_bus_restarts_after_stop(
    bus: InProcessBus,
) -> None:
    await bus.drain()
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    bus.subscribe(LinkActivated, handler)
    await bus.start()
    await bus.stop()
    await bus.publish(LinkActivated(person_id="per_1", link_id="lnk_1"))
    await bus.drain()

    assert len(seen) == 1
