"""Erasure is real: after it, a copy of the database taken before it reveals nothing."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db.engine import create_engine, create_null_pool_engine
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.access.vault import PersonKeyMissing
from ledgerlink.services.messaging import messenger
from ledgerlink.services.messaging.ports import MessageView
from ledgerlink.services.privacy import rights

PGBIN = Path("/usr/lib/postgresql/15/bin")


async def _two_people_with_purchases(stack: Stack) -> tuple[Grant, str, Grant, str]:
    erased, erased_thread = await _linked(stack, handle="eve", login="alice")
    kept, kept_thread = await _linked(stack, handle="kit", login="bob")
    await stack.bank.purchase("alice", merchant="Nobu", amount="210.00")
    await stack.bank.purchase("bob", merchant="Lidl", amount="31.20")
    await stack.container.drain()
    return erased, erased_thread, kept, kept_thread


@asynccontextmanager
async def _copy_of(stack: Stack, db_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A real copy of the database as it is now: SQLite backup file or pg_dump + restore."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        target = tmp_path / "copy.db"
        source = sqlite3.connect(url.database or "")
        dest = sqlite3.connect(target)
        source.backup(dest)
        source.close()
        dest.close()
        yield f"sqlite:///{target}"
        return
    dump = tmp_path / "before.dump"
    env = {
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
    }
    await asyncio.to_thread(
        subprocess.run,
        [str(PGBIN / "pg_dump"), "-Fc", "-f", str(dump), url.database or ""],
        env=env,
        check=True,
    )
    copy_name = f"{url.database}_copy"
    admin = create_null_pool_engine(db_url)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{copy_name}"'))
    await admin.dispose()
    await asyncio.to_thread(
        subprocess.run,
        [str(PGBIN / "pg_restore"), "--no-owner", "-d", copy_name, str(dump)],
        env=env,
        check=True,
    )
    try:
        yield url.set(database=copy_name).render_as_string(hide_password=False)
    finally:
        admin = create_null_pool_engine(db_url)
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)'))
        await admin.dispose()


async def _read_all_messages(
    stack: Stack, copy_url: str, grant: Grant, thread_id: str
) -> list[MessageView]:
    engine = create_engine(copy_url)
    try:
        async with SqlUnitOfWorkFactory(engine)() as uow:
            return await access.read_messages(
                stack.deps.vault, uow, grant, Purpose.OPERATIONS_SUPPORT, thread_id, at=stack.deps.clock.now()
            )
    finally:
        await engine.dispose()


async def test_a_copy_taken_before_erasure_cannot_be_decrypted_afterwards(
    stack: Stack, db_url: str, tmp_path: Path
) -> None:
    if make_url(db_url).get_backend_name() != "sqlite" and not (PGBIN / "pg_dump").exists():
        pytest.fail("pg_dump is missing: scripts/test installs postgresql-15")
    erased, erased_thread, kept, kept_thread = await _two_people_with_purchases(stack)
    async with _copy_of(stack, db_url, tmp_path) as copy_url:
        before = await _read_all_messages(stack, copy_url, erased, erased_thread)
        assert any(m.kind is CardKind.TRANSACTION for m in before)  # the copy is readable now

        report = await rights.erase_person(stack.deps, erased)
        assert report.key_destroyed and report.links_revoked == 1
        assert report.rows_deleted["transactions"] > 0

        with pytest.raises(PersonKeyMissing):
            await _read_all_messages(stack, copy_url, erased, erased_thread)
        others = await _read_all_messages(stack, copy_url, kept, kept_thread)
        assert any(m.body.get("merchant") == "Lidl" for m in others)  # others unaffected

    # The live system: nothing left, and the person can no longer sign in.
    with pytest.raises(NotFound):
        await messenger.thread_messages(stack.deps, erased, erased_thread)
    with pytest.raises(Exception, match="wrong handle or password"):
        await messenger.authenticate(stack.deps, handle="eve", password="correct horse")
    kept_messages = await messenger.thread_messages(stack.deps, kept, kept_thread)
    assert any(m.body.get("merchant") == "Lidl" for m in kept_messages)


async def test_only_the_person_can_erase_themselves(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    with pytest.raises(NotFound):
        await rights.erase_person(stack.deps, Grant.for_component(grant.person_id, "operator"))
    with pytest.raises(NotFound):
        await rights.erase_person(stack.deps, Grant.for_person("per_nobody"))


def test_pg_tools_are_where_the_erasure_test_expects() -> None:
    if shutil.which("pg_ctl") is None and not PGBIN.exists():
        pytest.skip("no PostgreSQL installed here")
    assert (PGBIN / "pg_dump").exists() and (PGBIN / "pg_restore").exists()
