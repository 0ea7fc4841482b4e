"""Shared fixtures: the database profiles and a running platform + sandbox bank on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ledgerlink.adapters.crypto import Argon2PasswordHasher
from ledgerlink.adapters.db.engine import create_null_pool_engine
from ledgerlink.adapters.db.migrate import upgrade_async
from ledgerlink.bootstrap import Container, bootstrap
from ledgerlink.config import Settings
from ledgerlink.domain.clock import Clock
from ledgerlink.entrypoints.app import create_app
from ledgerlink.sandbox.testing import bind_loopback, serve

PG_URL_ENV = "LEDGERLINK_TEST_PG_URL"


def fast_hasher() -> Argon2PasswordHasher:
    """Argon2 with tiny costs: the real algorithm, test-speed parameters."""
    return Argon2PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports free now (each bound until all are chosen, so none twice),
    for a server a test starts in another process; it may still lose one to a parallel test."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """One loopback port free now (`free_ports`)."""
    return free_ports(1)[0]


# A test's database is a copy of one this test process migrated once (PostgreSQL: CREATE
# DATABASE .. TEMPLATE; SQLite: the file): the same tables and rows as migrating it, without the
# time the migrations took per test (~0.5 s on PostgreSQL, ~0.25 s on SQLite). Only under pytest
# (the templates are dropped when the session ends); bench scripts that use fresh_database
# migrate as before.
_IN_PYTEST = False
_SQLITE_TEMPLATE: list[Path] = []  # the migrated file, once made
_PG_TEMPLATES: dict[str, str] = {}  # server URL -> the migrated template database
_PG_MADE: list[tuple[str, str]] = []  # (server URL, database): what to drop at the end


async def _pg_admin(base: str, statement: str) -> None:
    """One statement on the server at `base`, outside a transaction (CREATE/DROP DATABASE)."""
    admin = create_null_pool_engine(base)
    try:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


async def _pg_template(base: str) -> str:
    found = _PG_TEMPLATES.get(base)
    if found is not None:
        return found
    name = f"ll_template_{secrets.token_hex(6)}"
    await _pg_admin(base, f'CREATE DATABASE "{name}"')
    _PG_MADE.append((base, name))
    await upgrade_async(make_url(base).set(database=name).render_as_string(hide_password=False))
    return _PG_TEMPLATES.setdefault(base, name)  # two first tests at once: both copy the first


async def _sqlite_template() -> Path:
    if not _SQLITE_TEMPLATE:
        path = Path(tempfile.mkdtemp(prefix="ledgerlink-template-")) / "ledgerlink.db"
        await upgrade_async(f"sqlite:///{path}")
        with contextlib.closing(sqlite3.connect(path)) as db:  # everything in the one file
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _SQLITE_TEMPLATE.append(path)
    return _SQLITE_TEMPLATE[0]


async def _drop_pg_templates() -> None:
    for base, name in _PG_MADE:
        await _pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _PG_TEMPLATES.clear()
    _PG_MADE.clear()


def pytest_configure(config: pytest.Config) -> None:
    global _IN_PYTEST
    _IN_PYTEST = True


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _PG_MADE:
        asyncio.run(_drop_pg_templates())
    for path in _SQLITE_TEMPLATE:
        shutil.rmtree(path.parent, ignore_errors=True)
    _SQLITE_TEMPLATE.clear()


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A new database of the given kind, dropped afterwards if PostgreSQL; under pytest already
    at the head migration (a copy of this process's template, see `_IN_PYTEST`)."""
    if kind == "sqlite":
        path = tmp_path / "ledgerlink.db"
        if _IN_PYTEST and not path.exists():
            shutil.copyfile(await _sqlite_template(), path)
            path.chmod(0o600)
        yield f"sqlite:///{path}"
        return
    base = os.environ.get(PG_URL_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_URL_ENV} is not set: scripts/test starts PostgreSQL and sets it")
        pytest.skip(f"{PG_URL_ENV} not set (run through ./scripts/test)")
    name = f"ll_{secrets.token_hex(6)}"
    template = await _pg_template(base) if _IN_PYTEST else None
    await _pg_admin(base, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path) as url:
        yield url


@dataclass
class Stack:
    """The platform and the sandbox bank, each served by uvicorn on its own loopback port."""

    container: Container
    app: Any
    platform_url: str
    bank_url: str
    bank2_url: str | None = None  # the second sandbox bank, when asked for

    @property
    def bank2(self) -> Any:
        return self.container.sandbox2

    @property
    def deps(self) -> Any:
        return self.container.deps

    @property
    def bank(self) -> Any:
        return self.container.sandbox

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.platform_url, timeout=10.0)


@asynccontextmanager
async def running_stack(
    tmp_path: Path, db_url: str, *, clock: Clock | None = None, simulate: bool = False,
    resolver: Any = None, **settings: Any,
) -> AsyncIterator[Stack]:
    platform_sock, platform_url = bind_loopback()
    bank_sock, bank_url = bind_loopback()
    two_banks = bool(settings.pop("second_sandbox_bank", False))
    bank2_sock, bank2_url = bind_loopback() if two_banks else (None, None)
    config = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        public_url=platform_url,
        sandbox_url=bank_url,
        second_sandbox_bank=two_banks,
        second_sandbox_url=bank2_url,
        embedded_sandbox=True,
        sandbox_simulate=simulate,
        sync_interval_seconds=0,
        sync_min_interval_seconds=0,
        **{"audit_sign_interval_seconds": 0, "retention_interval_seconds": 0,
           "consent_check_interval_seconds": 0, "digest_interval_seconds": 0,
           "prompt_check_interval_seconds": 0, **settings},
    )
    kwargs: dict[str, Any] = {"hasher": fast_hasher()}
    if clock is not None:
        kwargs["clock"] = clock
    if resolver is not None:  # tests play DNS for outbound destinations (ADR 0018)
        kwargs["resolver"] = resolver
    container = await bootstrap(config, **kwargs)
    app = create_app(container)
    async with contextlib.AsyncExitStack() as servers:
        await servers.enter_async_context(serve(container.sandbox_app, bank_sock))
        if bank2_sock is not None:  # Harbor Credit Union, for tests with two banks
            await servers.enter_async_context(serve(container.sandbox_apps["ptn_harbor_cu"], bank2_sock))
        await servers.enter_async_context(serve(app, platform_sock))
        yield Stack(container=container, app=app, platform_url=platform_url, bank_url=bank_url,
                    bank2_url=bank2_url)


@pytest.fixture
async def stack(tmp_path: Path, db_url: str) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, db_url) as s:
        yield s


# ---------------------------------------------------------------- attack-suite figures
# The attack suites (issue 14: cross-person matrix, leak scan, ...) report their figures here;
# `./scripts/test` prints them after the test summary, so every run shows them without -s.
# A figure travels on its test's report (user_properties), so it reaches the printing process
# also when pytest-xdist runs the test in a worker process.
_PENDING_FIGURES: list[str] = []
ATTACK_FIGURES: list[str] = []
_FIGURE = "ledgerlink-figure"


def report_figure(line: str) -> None:
    _PENDING_FIGURES.append(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    if _PENDING_FIGURES:
        report = outcome.get_result()
        report.user_properties.extend((_FIGURE, line) for line in _PENDING_FIGURES)
        _PENDING_FIGURES.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    ATTACK_FIGURES.extend(str(value) for key, value in report.user_properties if key == _FIGURE)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ATTACK_FIGURES:
        terminalreporter.section("attack suites")
        for line in ATTACK_FIGURES:
            terminalreporter.write_line(line)
