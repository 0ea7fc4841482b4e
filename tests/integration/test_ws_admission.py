"""Admission control on `/ws` (issue 12): a gateway works on a bounded number of new
connections at a time (session lookup, subscription, replay), queues a bounded number behind
them, and tells the rest to try again later (1013 with a retry hint) instead of dropping them."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from tests.conftest import Stack, running_stack
from tests.integration.test_realtime import frames_until_ready, live, signed_in
from websockets.exceptions import ConnectionClosed

from ledgerlink.config import Settings
from ledgerlink.entrypoints.web.messaging_admission import CLOSE_TRY_AGAIN_LATER, Admission


async def _until(check: object, seconds: float = 10.0) -> None:
    assert callable(check)
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not hold in time")


async def test_a_busy_gateway_queues_what_it_can_and_tells_the_rest_to_try_again_later(stack: Stack) -> None:
    _, cookie = await signed_in(stack, "ada")
    admission = Admission(concurrent=1, waiting=1, wait=30.0, jitter=lambda: 0.0)
    stack.app.state.hub.admission = admission
    async with live(stack, cookie, None) as first:  # admitted, and holds its slot until its replay
        await _until(lambda: admission.admitted == 1)
        async with live(stack, cookie, {"threads": {}, "all": True}) as second:  # queued
            await _until(lambda: admission.waiting == 1)
            async with live(stack, cookie, None) as third:  # the queue is full
                with pytest.raises(ConnectionClosed) as refused:
                    await asyncio.wait_for(third.recv(), 5)
            assert refused.value.rcvd is not None and refused.value.rcvd.code == CLOSE_TRY_AGAIN_LATER
            hint = re.fullmatch(r"try again later; retry_after_ms=(\d+)", refused.value.rcvd.reason)
            assert hint is not None and 500 <= int(hint.group(1)) <= 30_000
            assert admission.refused == 1
            await first.send('{"type":"resume","threads":{},"all":true}')
            assert any(f["type"] == "message" for f in await frames_until_ready(first))  # the welcome
            assert any(f["type"] == "message" for f in await frames_until_ready(second))  # its turn came
        await _until(lambda: admission.admitted == 0 and admission.waiting == 0)


async def test_a_connection_waiting_longer_than_the_queue_allows_is_told_to_try_again(stack: Stack) -> None:
    _, cookie = await signed_in(stack, "bea")
    admission = Admission(concurrent=1, waiting=8, wait=0.3, jitter=lambda: 0.0)
    stack.app.state.hub.admission = admission
    async with live(stack, cookie, None):
        await _until(lambda: admission.admitted == 1)
        async with live(stack, cookie, None) as late:
            with pytest.raises(ConnectionClosed) as refused:
                await asyncio.wait_for(late.recv(), 5)
        assert refused.value.rcvd is not None and refused.value.rcvd.code == CLOSE_TRY_AGAIN_LATER
    await _until(lambda: admission.admitted == 0)
    async with live(stack, cookie, {"threads": {}, "all": True}) as again:  # free again: admitted
        await frames_until_ready(again)


def test_the_admission_limits_are_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().ws_admission_concurrent, Settings().ws_admission_queue,
            Settings().ws_admission_wait_seconds) == (16, 512, 10.0)
    monkeypatch.setenv("LEDGERLINK_WS_ADMISSION_CONCURRENT", "2")
    monkeypatch.setenv("LEDGERLINK_WS_ADMISSION_QUEUE", "0")
    monkeypatch.setenv("LEDGERLINK_WS_ADMISSION_WAIT_SECONDS", "2.5")
    settings = Settings()
    assert (settings.ws_admission_concurrent, settings.ws_admission_queue,
            settings.ws_admission_wait_seconds) == (2, 0, 2.5)


async def test_a_gateway_configured_for_one_at_a_time_and_no_queue_refuses_the_second_at_once(
    tmp_path: Path, db_url: str,
) -> None:
    async with running_stack(tmp_path, db_url, ws_admission_concurrent=1, ws_admission_queue=0) as stack:
        _, cookie = await signed_in(stack, "cy")
        admission = stack.app.state.hub.admission
        async with live(stack, cookie, None) as first:  # holds the one slot until its replay
            await _until(lambda: admission.admitted == 1)
            async with live(stack, cookie, None) as second:  # no queue: refused, not kept waiting
                with pytest.raises(ConnectionClosed) as refused:
                    await asyncio.wait_for(second.recv(), 5)
            assert refused.value.rcvd is not None and refused.value.rcvd.code == CLOSE_TRY_AGAIN_LATER
            await first.send('{"type":"resume","threads":{},"all":true}')
            await frames_until_ready(first)
