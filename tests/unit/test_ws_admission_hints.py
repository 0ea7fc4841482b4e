"""The retry hint of a busy gateway's 1013 (admission control, issue 12): at least half a second,
growing with the queue ahead, spread by jitter, at most MAX_RETRY."""

from __future__ import annotations

import asyncio

import pytest

from ledgerlink.entrypoints.web.messaging_admission import MAX_RETRY, Admission, Busy


async def test_the_hint_grows_with_the_queue_and_the_jitter_spreads_it() -> None:
    admission = Admission(concurrent=2, waiting=0, wait=1.0, jitter=lambda: 0.0)
    tickets = [await admission.enter(), await admission.enter()]
    with pytest.raises(Busy) as short:
        await admission.enter()
    assert short.value.retry_after == 0.5  # two admitted, nothing queued: the floor
    admission._hold = 4.0  # slots held 4 s each: the queue ahead takes long
    with pytest.raises(Busy) as long:
        await admission.enter()
    assert long.value.retry_after == 4.0
    admission._jitter = lambda: 0.99
    with pytest.raises(Busy) as spread:
        await admission.enter()
    assert spread.value.retry_after == pytest.approx(7.96)
    admission._hold = 1000.0
    with pytest.raises(Busy) as capped:
        await admission.enter()
    assert capped.value.retry_after == MAX_RETRY
    assert capped.value.reason == "try again later; retry_after_ms=30000"
    assert admission.refused == 4
    for ticket in tickets:
        ticket.release()
        ticket.release()  # idempotent
    assert admission.admitted == 0
    async with asyncio.timeout(1):
        (await admission.enter()).release()
