"""What each role runs (issue 12): a container is started per role on PostgreSQL and NATS, and
the background work running in it is compared with the role table. Only the worker role (and
`all`) applies the inbox, sends on channels, relays the outbox and runs the schedules; an api
process stores and publishes, a gateway holds WebSockets; neither applies anything."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.conftest import free_port
from tests.integration import test_jetstream as _jetstream

from ledgerlink.bootstrap import Container, bootstrap
from ledgerlink.config import Settings

nats_url, pg_url, root = _jetstream.nats_url, _jetstream.pg_url, _jetstream.root  # the shared fixtures

WORKER = frozenset({"inbox", "channels", "bank_outbox", "schedule", "consumers", "relay"})
API = frozenset({"mail_listener"})  # the receipt mail front door, when it has a port


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", embedded_sandbox=False, second_sandbox_bank=False,
                    sandbox_url="http://127.0.0.1:9", receipt_mail_port=free_port(),
                    sync_interval_seconds=60, digest_interval_seconds=60, **values)  # type: ignore[arg-type]


async def _running_when_ready(container: Container) -> frozenset[str]:
    bus = container.deps.bus
    async with asyncio.timeout(20):
        await bus.wait_ready()  # type: ignore[attr-defined]
    await asyncio.sleep(0.2)  # the relay starts right after the streams are there
    return container.running()


@pytest.mark.postgres  # and NATS
@pytest.mark.parametrize(("role", "expected"), [
    ("api", API), ("worker", WORKER), ("gateway", frozenset()), ("api,gateway", API), ("all", WORKER | API),
])
async def test_each_role_runs_only_its_own_background_work(
    role: str, expected: frozenset[str], pg_url: str, nats_url: str, root: str, tmp_path: Path,
) -> None:
    container = await bootstrap(_settings(tmp_path, database_url=pg_url, nats_url=nats_url, nats_root=root,
                                          roles=role))
    try:
        await container.start()
        assert await _running_when_ready(container) == expected
    finally:
        await container.stop()
    assert container.running() == frozenset()


async def test_the_embedded_default_runs_every_worker_and_its_periodic_tasks_itself(tmp_path: Path) -> None:
    container = await bootstrap(_settings(tmp_path))
    try:
        await container.start()
        running = container.running()
    finally:
        await container.stop()
    periodic = {"periodic:prompts", "periodic:sync", "periodic:consent_expiry", "periodic:audit_sign",
                "periodic:retention", "periodic:digests", "periodic:parcels", "periodic:shop_sync"}
    assert running == {"inbox", "channels", "bank_outbox", "mail_listener"} | periodic


@pytest.mark.postgres  # and NATS
@pytest.mark.parametrize(("role", "pages", "socket"), [
    ("api", True, True), ("gateway", False, True), ("worker", False, False), ("api,gateway", True, True),
])
async def test_each_role_serves_only_its_own_front_doors(
    role: str, pages: bool, socket: bool, pg_url: str, nats_url: str, root: str, tmp_path: Path,
) -> None:
    """A gateway holds WebSockets and takes no bank event, page or partner call (it could store
    and publish events otherwise); a worker answers only /healthz and /metrics."""
    from fastapi import FastAPI
    from starlette.routing import NoMatchFound

    from ledgerlink.entrypoints.app import create_app

    container = await bootstrap(_settings(tmp_path, database_url=pg_url, nats_url=nats_url, nats_root=root,
                                          roles=role))
    try:
        app = create_app(container, manage_lifecycle=False)
        inner = app
        while not isinstance(inner, FastAPI):  # the outer middlewares keep the app they wrap
            inner = inner.app  # type: ignore[attr-defined]

        def served(name: str, **params: str) -> bool:
            try:
                inner.url_path_for(name, **params)
            except NoMatchFound:
                return False
            return True

        assert served("healthz") and served("metrics")
        assert served("loginpage") is pages
        assert served("receive_merchant_event", merchant_slug="acme") is pages
        assert served("live") is socket
        assert (type(app.app).__name__ == "BankEventFastPath") is pages  # type: ignore[attr-defined]
    finally:
        await container.stop()
