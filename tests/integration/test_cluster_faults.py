"""Faults on the scale-out profile (issue 12, ADR 0032), with a real `serve --role api` process.

NATS is down when the api process starts: it answers /healthz (database ok, nats down) and
tells the bank 503 with Retry-After, storing nothing; once NATS is up the same event gets its
202 and sits durably in the outbox until a worker relays it."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Stack, fresh_database, running_stack
from tests.integration._cluster import scaleout_env, serve
from tests.integration.test_bank_events import PATH, _signed, _txn_event
from tests.integration.test_cluster_invalidation import _port, root  # noqa: F401  (fixture)
from tests.integration.test_jetstream import _count, _start_nats, nats_binary  # noqa: F401  (fixture)
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
from ledgerlink.adapters.db.migrate import upgrade_async


@pytest.fixture
async def linked_stack(tmp_path: Path, root: str) -> AsyncIterator[tuple[Stack, str, str]]:  # noqa: F811
    """A person linked to the sandbox bank, on PostgreSQL, with the embedded bus (no NATS here)."""
    async with fresh_database("postgres", tmp_path) as url:
        await upgrade_async(url)
        async with running_stack(tmp_path, url) as stack:
            grant, _ = await _linked(stack)
            async with stack.deps.uow() as uow:
                account = (await uow.accounts.for_person(grant.person_id))[0].bank_account_id
            yield stack, url, account


@pytest.mark.postgres  # and a nats-server started by the test
async def test_an_api_process_started_while_nats_is_down_answers_503_with_retry_after_and_stores_nothing(
    linked_stack: tuple[Stack, str, str], root: str, nats_binary: str, tmp_path: Path,  # noqa: F811
) -> None:
    stack, db_url, account = linked_stack
    nats_port, port = _port(), _port()
    env = scaleout_env(database_url=db_url, nats_url=f"nats://127.0.0.1:{nats_port}", root=root,
                       sandbox_url=stack.bank_url, log_level="warning")
    api = serve("api", data_dir=tmp_path / "data", port=port, env=env, name="api")
    nats_proc: subprocess.Popen[bytes] | None = None
    body = json.dumps(_txn_event(account, f"txn_{secrets.token_hex(6)}")).encode()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
            health = None
            for _ in range(600):
                assert api.alive(), api.tail()
                try:
                    health = await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert health is not None
            assert health.status_code == 200
            assert health.json() == {"status": "degraded", "checks": {"database": "ok", "nats": "down"}}
            inbox_before = await _count(stack, schema.inbox)
            refused = await client.post(PATH, content=body, headers=_signed(stack, body))
            assert refused.status_code == 503
            assert int(refused.headers["retry-after"]) > 0
            assert refused.json()["code"] == "not_ready"
            assert await _count(stack, schema.inbox) == inbox_before  # nothing stored

            nats_proc = _start_nats(nats_binary, nats_port, tmp_path / "nats")
            accepted = refused
            for _ in range(300):  # the process connects in the background
                accepted = await client.post(PATH, content=body, headers=_signed(stack, body))
                if accepted.status_code != 503:
                    break
                await asyncio.sleep(0.1)
            assert accepted.status_code == 202, accepted.text
            assert (await client.get("/healthz")).json()["checks"] == {"database": "ok", "nats": "ok"}
        assert await _count(stack, schema.inbox) == inbox_before + 1
        assert await _count(stack, schema.outbox) >= 1  # durable until a worker relays it
    finally:
        api.stop()
        if nats_proc is not None:
            nats_proc.terminate()
            nats_proc.wait(timeout=10)
