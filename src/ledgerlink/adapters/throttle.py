"""`RateLimiter` on the `limits` library: moving windows, in process memory by default.

Scaling out (several processes serving people) means one shared store, named by a `limits`
storage URI such as ``async+redis://host:6379``: the rules and the callers stay the same. Keys
(handles, client addresses, person ids) are hashed before they reach the store, so neither the
memory nor a shared store holds them readable.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from ledgerlink.services.kernel.ports import RateRule

__all__ = ["LimitsRateLimiter"]


class LimitsRateLimiter:
    def __init__(self, storage_uri: str = "async+memory://") -> None:
        storage = storage_from_string(storage_uri)
        if not isinstance(storage, AsyncStorage):
            raise ValueError("a throttle store must be an async one: async+memory://, async+redis://...")
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._items: dict[RateRule, list[RateLimitItem]] = {}

    def _limits(self, rule: RateRule) -> list[RateLimitItem]:
        items = self._items.get(rule)
        if items is None:
            items = self._items[rule] = [
                RateLimitItemPerSecond(count, seconds, namespace=f"ll:{rule.name}")
                for count, seconds in rule.limits
            ]
        return items

    @staticmethod
    def _key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    async def _wait_for(self, item: RateLimitItem, key: str) -> int:
        stats = await self._strategy.get_window_stats(item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))  # the store's own clock

    async def hit(self, rule: RateRule, key: str) -> int | None:
        hashed = self._key(key)
        for item in self._limits(rule):
            if not await self._strategy.hit(item, hashed):
                return await self._wait_for(item, hashed)
        return None

    async def wait(self, rule: RateRule, key: str) -> int | None:
        hashed = self._key(key)
        for item in self._limits(rule):
            if not await self._strategy.test(item, hashed):
                return await self._wait_for(item, hashed)
        return None

    async def clear(self, rule: RateRule, key: str) -> None:
        hashed = self._key(key)
        for item in self._limits(rule):
            await self._strategy.clear(item, hashed)

    async def reset(self) -> None:
        """Forget every count (tests, and an operator's escape hatch)."""
        await self._storage.reset()
