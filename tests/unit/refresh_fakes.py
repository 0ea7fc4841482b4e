"""Test stand-ins for the refresh planner's ports (the SQL repository comes with the provider
integration): an attempt log and a target list in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import datetime

from ledgerlink.domain.refresh_budget import Attempt, Outcome, Result, Target


class MemoryLog:
    """The attempt log in memory: the test stand-in for the SQL repository."""

    def __init__(self) -> None:
        self.by_target: dict[str, list[Attempt]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def _locked(self, target_id: str) -> AsyncIterator[None]:
        async with self._locks.setdefault(target_id, asyncio.Lock()):
            yield

    def locked(self, target_id: str) -> AbstractAsyncContextManager[None]:
        return self._locked(target_id)

    async def add(self, attempt: Attempt) -> None:
        self.by_target.setdefault(attempt.target_id, []).append(attempt)

    async def finish(self, attempt_id: str, outcome: Outcome) -> Attempt | None:
        for rows in self.by_target.values():
            for i, a in enumerate(rows):
                if a.id == attempt_id:
                    rows[i] = replace(a, outcome=outcome)
                    return rows[i]
        return None

    async def since(self, target_id: str, since: datetime) -> list[Attempt]:
        return [a for a in self.by_target.get(target_id, []) if a.at >= since]

    async def latest(self, target_id: str, results: frozenset[Result]) -> Attempt | None:
        found = [a for a in self.by_target.get(target_id, []) if a.outcome.result in results]
        return found[-1] if found else None


class Targets:
    def __init__(self, targets: Sequence[Target]) -> None:
        self.by_id = {t.id: t for t in targets}

    async def all(self) -> Sequence[Target]:
        return list(self.by_id.values())

    async def get(self, target_id: str) -> Target | None:
        return self.by_id.get(target_id)
