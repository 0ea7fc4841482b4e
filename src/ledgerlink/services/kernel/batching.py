"""Handler calls that arrive together, handled together (issue 12: CPU per delivered message).

An inbox batch publishes one `TransactionChanged` per event at once, and the bus calls a
consumer for each of them concurrently. A consumer that opens a unit of work per event pays
its begin, its reads of the same person's rules and its commit once per event. `Batcher`
lets such calls share one run: the first call waits one loop iteration, so the calls the bus
dispatched with it join, then `run` handles them all (one unit of work, one commit). Each
call still returns or raises on its own, as the bus expects of a handler: when the shared run
raises, every item is handled again by `one`, alone, so one bad event neither fails nor
delays the others' retries, and its own caller sees its own error. Calls that arrive while a
run is on wait for the next one. A call cancelled while it waits is left out of its run.

Under JetStream a consumer hands over one message at a time: every run is then of one item,
as before, at the cost of one task and one loop iteration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Batcher"]


class Batcher(Generic[T]):
    def __init__(
        self,
        run: Callable[[Sequence[T]], Awaitable[None]],
        *,
        one: Callable[[T], Awaitable[None]],
        limit: int = 32,
    ) -> None:
        if limit < 1:
            raise ValueError("limit >= 1 required")
        self._run, self._one, self._limit = run, one, limit
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._leader: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._lead())
        await future

    async def _lead(self) -> None:
        await asyncio.sleep(0)  # the calls dispatched with the first one join it
        while self._waiting:
            batch, self._waiting = self._waiting[: self._limit], self._waiting[self._limit :]
            live = [(item, future) for item, future in batch if not future.done()]  # not cancelled
            if not live:
                continue
            try:
                await self._run([item for item, _ in live])
            except Exception:
                for item, future in live:
                    await self._alone(item, future)
            except BaseException:  # cancelled (the loop stops): so is every waiting call
                for _, future in live + self._waiting:
                    future.cancel()
                self._waiting = []
                raise
            else:
                for _, future in live:
                    if not future.done():
                        future.set_result(None)

    async def _alone(self, item: T, future: asyncio.Future[None]) -> None:
        try:
            await self._one(item)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(None)
