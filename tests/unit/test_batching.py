"""kernel.batching.Batcher: handler calls that arrive together share one run, and each call
still returns or raises on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ledgerlink.services.kernel.batching import Batcher


class Recorder:
    def __init__(self, bad: frozenset[int] = frozenset()) -> None:
        self.runs: list[list[int]] = []
        self.alone: list[int] = []
        self.bad = bad

    async def run(self, items: Sequence[int]) -> None:
        self.runs.append(list(items))
        if self.bad & set(items):
            raise ValueError("a bad item in the batch")

    async def one(self, item: int) -> None:
        self.alone.append(item)
        if item in self.bad:
            raise ValueError(f"bad item {item}")


async def test_calls_dispatched_together_share_one_run() -> None:
    rec = Recorder()
    batcher: Batcher[int] = Batcher(rec.run, one=rec.one)
    await asyncio.gather(*(batcher(i) for i in range(7)))
    assert rec.runs == [[0, 1, 2, 3, 4, 5, 6]]
    assert rec.alone == []


async def test_calls_that_arrive_later_get_their_own_run() -> None:
    rec = Recorder()
    batcher: Batcher[int] = Batcher(rec.run, one=rec.one)
    await batcher(1)
    await batcher(2)
    assert rec.runs == [[1], [2]]


async def test_a_run_takes_at_most_limit_items() -> None:
    rec = Recorder()
    batcher: Batcher[int] = Batcher(rec.run, one=rec.one, limit=3)
    await asyncio.gather(*(batcher(i) for i in range(8)))
    assert rec.runs == [[0, 1, 2], [3, 4, 5], [6, 7]]


async def test_a_failed_run_handles_each_item_alone_and_only_the_bad_one_raises() -> None:
    rec = Recorder(bad=frozenset({2}))
    batcher: Batcher[int] = Batcher(rec.run, one=rec.one)
    results = await asyncio.gather(*(batcher(i) for i in range(4)), return_exceptions=True)
    assert rec.runs == [[0, 1, 2, 3]]
    assert rec.alone == [0, 1, 2, 3]
    assert results[:2] == [None, None] and results[3] is None
    assert isinstance(results[2], ValueError) and "bad item 2" in str(results[2])


async def test_a_call_cancelled_while_it_waits_is_left_out_of_the_run() -> None:
    rec = Recorder()
    batcher: Batcher[int] = Batcher(rec.run, one=rec.one)
    keep = asyncio.ensure_future(batcher(1))
    drop = asyncio.ensure_future(batcher(2))
    await asyncio.sleep(0)  # both queued; the run starts after one more loop iteration
    drop.cancel()
    await keep
    assert rec.runs == [[1]]
    with pytest.raises(asyncio.CancelledError):
        await drop


def test_limit_must_be_positive() -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match="limit"):
        Batcher(rec.run, one=rec.one, limit=0)
