"""A refresh that breaks on our side (not the provider's answer) is recorded as failed, still
counted, and never left pending; the next slot reads again. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy import text
from tests.conftest import Stack, running_stack
from tests.integration.test_provider_linking import START, _linked

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking.ports import BankError
from ledgerlink.services.linking.refresh_worker import RefreshWorker


@pytest.fixture
async def pstack(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Stack, FrozenClock]]:
    clock = FrozenClock(START)
    async with running_stack(tmp_path, db_url, clock=clock) as s:
        yield s, clock


async def _broken(deps: Deps, account_id: str, on_error: Callable[[BankError], None]) -> int:
    raise RuntimeError("our own storage broke")


async def test_a_refresh_that_breaks_on_our_side_is_recorded_failed_not_left_pending(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    stack, clock = pstack
    http, grant, _ = await _linked(stack, "enablebanking")
    await http.aclose()
    real = stack.container.refresh_worker
    assert real is not None
    worker = RefreshWorker(stack.deps, partners=real.targets._partners, sync=_broken)
    async with stack.deps.uow(readonly=True) as uow:
        account = (await uow.accounts.for_person(grant.person_id))[0]
    clock.advance(timedelta(hours=6))  # a planned slot has come
    with structlog.testing.capture_logs() as logs, pytest.raises(RuntimeError):
        await worker.run(account.id)
    assert [e["error"] for e in logs if e["event"] == "refresh_crashed"] == ["RuntimeError"]
    async with stack.container.engine.connect() as conn:
        results = [r[0] for r in await conn.execute(text(
            "SELECT result FROM refresh_attempts WHERE target_id = :t ORDER BY at"), {"t": account.id})]
    assert results[-1] == "failed" and "pending" not in results
