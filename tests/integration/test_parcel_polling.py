"""Followed parcels are polled by the running product (issue 11): the embedded default's poller
and the scale-out profile's `parcels` cluster job both ask the embedded sandbox carrier (mounted
at /sandbox/carrier, Deps.carrier by default) every `parcel_poll_seconds` on the injected clock,
and the shipping card is edited when the parcel has moved."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db.kernel_schedules import ClusterSchedule, SessionLocks
from ledgerlink.bootstrap.scaleout import periodic_jobs
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands

NUMBER = "1Z5R89390357567127"  # sandbox timeline: label 0 h, picked up 8 h, in transit 16 h, delayed 24 h
START = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


async def _status(stack: Stack, person: Grant, thread_id: str) -> str:
    messages = await messenger.thread_messages(stack.deps, person, thread_id)
    found = [m.body["shipment"] for m in messages if "shipment" in m.body]
    assert len(found) == 1  # one card, edited in place
    assert isinstance(found[0], dict)
    return str(found[0]["status"])


async def _becomes(stack: Stack, person: Grant, thread_id: str, status: str) -> None:
    for _ in range(200):
        if await _status(stack, person, thread_id) == status:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the card stayed {await _status(stack, person, thread_id)!r}, not {status!r}")


async def test_the_embedded_poller_edits_the_card_once_per_interval_on_the_injected_clock(
        tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(START)
    async with running_stack(tmp_path, db_url, clock=clock, parcel_poll_seconds=12 * 3600,
                             schedule_tick_seconds=0.02) as stack:
        assert stack.deps.carrier is not None  # the embedded sandbox carrier, by default
        grant, thread_id = await _linked(stack)
        await commands.handle_text(stack.deps, grant, thread_id, f"track {NUMBER}")
        assert await _status(stack, grant, thread_id) == "label_created"
        for hours, before, after in [(12, "label_created", "picked_up"), (24, "picked_up", "delayed")]:
            clock.advance(timedelta(hours=8))  # the carrier has moved on, the poll is not due yet
            await asyncio.sleep(0.3)  # 15 ticks
            assert await _status(stack, grant, thread_id) == before
            clock.advance(START + timedelta(hours=hours) - clock.now())  # the interval has passed
            await _becomes(stack, grant, thread_id, after)


async def test_the_scaleout_parcels_job_runs_on_its_interval_and_edits_the_card(
        tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(START)
    async with running_stack(tmp_path, db_url, clock=clock, parcel_poll_seconds=0) as stack:
        container = stack.container
        assert "parcels" not in [job.name for job in periodic_jobs(container.settings, container)]  # 0 = off
        settings = container.settings.model_copy(update={"parcel_poll_seconds": 3600.0})
        jobs = [job for job in periodic_jobs(settings, container) if job.name == "parcels"]
        assert [job.interval for job in jobs] == [3600.0]
        grant, thread_id = await _linked(stack)
        await commands.handle_text(stack.deps, grant, thread_id, f"track {NUMBER}")
        schedule = ClusterSchedule(SessionLocks(container.engine), jobs, clock, tick=0.02)
        try:
            await schedule.step()  # takes the job's lock; runs from the next period on
            assert schedule.holds("parcels")
            clock.advance(timedelta(minutes=59))  # within the same hour (09:59)
            await schedule.step()
            assert schedule.runs("parcels") == 0
            clock.advance(timedelta(hours=8, minutes=1))  # 18:00: a new period, picked up at 17:00
            await schedule.step()
            for _ in range(200):
                if schedule.runs("parcels") == 1:
                    break
                await asyncio.sleep(0.025)
            assert schedule.runs("parcels") == 1
            assert await _status(stack, grant, thread_id) == "picked_up"
            await schedule.step()  # same period: not again
            await asyncio.sleep(0.1)
            assert schedule.runs("parcels") == 1
        finally:
            await schedule.locks.release_all()
