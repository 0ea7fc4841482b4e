"""What one process caches, all forget (issue 12, ADR 0029), on PostgreSQL and NATS.

A person is erased through one process; a second, real `ledgerlink serve --role api` process,
whose caches had just resolved the person's account and used their data key, refuses the
bank's next event for that account a moment later: long before its 5 s resolution cache would
have expired by itself. And a vault told over NATS cannot open a destroyed key's data."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import pytest
from tests.conftest import Stack, fresh_database, running_stack
from tests.integration import test_jetstream as _jetstream
from tests.integration._cluster import scaleout_env, serve
from tests.integration.test_bank_events import PATH, _signed, _txn_event
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.crypto import EnvelopeCrypto, MasterKeyFile
from ledgerlink.adapters.crypto.keystore import SqlKeyStore
from ledgerlink.adapters.db.migrate import upgrade_async
from ledgerlink.adapters.events.invalidations import BroadcastingKeyStore, CacheInvalidations
from ledgerlink.domain.errors import DomainError
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.privacy import rights

RESOLVE_TTL = 5.0  # Ingest's account resolution cache

nats_url = _jetstream.nats_url  # the shared fixture


@pytest.fixture
def root() -> str:
    return f"t{secrets.token_hex(5)}"


@pytest.fixture
async def scaleout_stack(tmp_path: Path, nats_url: str, root: str) -> AsyncIterator[tuple[Stack, str]]:
    async with fresh_database("postgres", tmp_path) as url:
        await upgrade_async(url)
        async with running_stack(tmp_path, url, nats_url=nats_url, nats_root=root) as stack:
            await stack.container.start()
            await asyncio.wait_for(stack.container.deps.bus.wait_ready(), 30)  # type: ignore[attr-defined]
            try:
                yield stack, url
            finally:
                await stack.container.stop()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _send(client: httpx.AsyncClient, stack: Stack, account: str) -> int:
    body = json.dumps(_txn_event(account, f"txn_{secrets.token_hex(6)}")).encode()
    resp = await client.post(PATH, content=body, headers=_signed(stack, body))
    return resp.status_code


@pytest.mark.postgres  # and NATS
async def test_a_person_erased_through_one_process_is_refused_by_another_a_moment_later(
    scaleout_stack: tuple[Stack, str], nats_url: str, root: str, tmp_path: Path
) -> None:
    stack, db_url = scaleout_stack
    grant, _ = await _linked(stack)
    async with stack.deps.uow() as uow:
        account = (await uow.accounts.for_person(grant.person_id))[0].bank_account_id
    port = _port()
    other = serve("api", data_dir=tmp_path / "data", port=port, name="other api",
                  env=scaleout_env(database_url=db_url, nats_url=nats_url, root=root,
                                   sandbox_url=stack.bank_url, log_level="warning"))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
            async def answers() -> int:
                try:
                    return await _send(client, stack, account)
                except httpx.TransportError:
                    return 0

            for _ in range(600):  # up, and connected to NATS (partners get 503 until then)
                if await answers() == 202:
                    break
                assert other.alive(), other.tail()
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the other api never accepted an event\n{other.tail()}")
            primed = time.monotonic()
            assert await _send(client, stack, account) == 202  # resolved and sealed from its caches

            await rights.erase_person(stack.deps, grant)
            erased = time.monotonic()
            statuses: list[int] = []
            while time.monotonic() - erased < RESOLVE_TTL:
                statuses.append(await _send(client, stack, account))
                if statuses[-1] != 202:
                    break
                await asyncio.sleep(0.02)
            refused = time.monotonic()
    finally:
        other.stop()
    assert statuses[-1] in (404, 410), f"answers after the erasure: {statuses}"
    assert refused - primed < RESOLVE_TTL - 0.5, "the resolution cache expired by itself: proves nothing"
    assert refused - erased < 2.0, f"refused {refused - erased:.2f} s after the erasure"


@pytest.mark.postgres  # NATS; the key store is SQLite as in every profile
async def test_a_data_key_destroyed_in_one_process_no_longer_opens_in_another(
    nats_url: str, root: str, tmp_path: Path
) -> None:
    master = MasterKeyFile(tmp_path / "master.key")
    store = SqlKeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
    await store.open()
    connections, vaults = [], []
    try:
        for _ in range(2):  # two processes: each its own connection, crypto and caches
            nc = await nats.connect(nats_url)
            connections.append(nc)
            invalidations = CacheInvalidations(root=root)
            vault = Vault(EnvelopeCrypto(master), BroadcastingKeyStore(store, invalidations))
            invalidations.on("person_key", vault.forget)
            invalidations.on_reset(vault.forget_all)
            await invalidations.attach(nc)
            vaults.append(vault)
        await connections[1].flush()
        here, there = vaults
        await here.create_key("per_1", at=datetime.now(UTC))
        sealed = await here.seal("per_1", {"name": "Pat"}, table="persons", row_id="per_1")
        assert await there.open("per_1", sealed, table="persons", row_id="per_1") == {"name": "Pat"}

        await here.destroy_key("per_1")

        started = time.monotonic()
        while True:  # a moment later: within a bounded wait, never a fixed sleep
            try:
                await there.open("per_1", sealed, table="persons", row_id="per_1")
            except DomainError:
                break
            assert time.monotonic() - started < 2.0, "the other vault still opens the data"
            await asyncio.sleep(0.005)
    finally:
        for nc in connections:
            await nc.close()
        await store.close()
