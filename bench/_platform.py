"""Shared pieces of the bench server processes (bench/ingest.py, bench/delivery.py).

`start_platform` runs ledgerlink like `ledgerlink serve` on the embedded profile: SQLite (or the
URL given), the in-process event bus, and the embedded sandbox bank served by a second uvicorn
server in the same process. `link_person` registers a messenger person and links a sandbox bank
customer through the real consent flow (bank login page, account picker, OAuth code exchange).
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

BANK_LOGIN = "alice"
# Identical for every bench server: one worker (one process), no access log, same loop/http impl.
UVICORN = {"log_level": "warning", "access_log": False, "lifespan": "on", "http": "httptools",
           "ws": "auto"}


def quiet_logs() -> None:
    import structlog

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def listen_loopback() -> tuple[socket.socket, str]:
    """A 127.0.0.1 socket on a free port. Created with IPPROTO_TCP: asyncio sets TCP_NODELAY on
    accepted connections only when the listening socket's proto is TCP (`socket.socket(AF_INET,
    SOCK_STREAM)` has proto 0, and then every two-part response waits ~40 ms on delayed ACKs)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def write_ready(path: Path, info: dict[str, Any]) -> None:
    """Atomically (write + rename) publish a JSON file for the orchestrator."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(path)


@dataclass
class Platform:
    container: Any  # ledgerlink.bootstrap.Container
    url: str
    tasks: list[asyncio.Task[None]]  # the two uvicorn servers (platform, sandbox bank)


async def start_platform(loop: str, data_dir: Path, database_url: str, *,
                         prepare: Callable[[Any], None] | None = None) -> Platform:
    """Bootstrap and serve the platform and its embedded sandbox bank (simulator off, no
    periodic sync). `prepare(container)` runs after bootstrap, before the servers start."""
    import uvicorn

    from ledgerlink.bootstrap import bootstrap
    from ledgerlink.config import Settings
    from ledgerlink.entrypoints.app import create_app

    platform_sock, platform_url = listen_loopback()
    bank_sock, bank_url = listen_loopback()
    settings = Settings(data_dir=data_dir, database_url=database_url, public_url=platform_url,
                        sandbox_url=bank_url, embedded_sandbox=True, sandbox_simulate=False,
                        sync_interval_seconds=0, log_level="warning")
    container = await bootstrap(settings)
    if prepare is not None:
        prepare(container)
    servers = [uvicorn.Server(uvicorn.Config(app, loop=loop, **UVICORN))  # type: ignore[arg-type]
               for app in (create_app(container), container.sandbox_app)]
    tasks = [asyncio.create_task(s.serve(sockets=[sock]))
             for s, sock in zip(servers, (platform_sock, bank_sock), strict=True)]
    while not all(s.started for s in servers):
        for task in tasks:
            if task.done():
                task.result()
        await asyncio.sleep(0.01)
    return Platform(container, platform_url, tasks)


def add_bank_customer(container: Any, login: str) -> None:
    """A sandbox bank customer with one empty checking account, for benches that need more
    distinct customers than the four demo ones (alice, bob, carol, dave)."""
    import random

    from ledgerlink.sandbox._model import Account, Customer
    from ledgerlink.sandbox._numbers import us_account
    from ledgerlink.sandbox.testing import DEMO_PASSWORD

    ledger = container.sandbox.ledger
    if login in ledger.customers:
        return
    ledger.customers[login] = Customer(login, DEMO_PASSWORD, f"{login.capitalize()} Bench", "USD")
    acc = Account(ledger.new_id("acc"), login, "Everyday Checking", "checking", "USD",
                  us_account(random.Random(login)), Decimal(1000))
    ledger.accounts[acc.account_id] = acc


async def link_person(container: Any, *, handle: str, password: str, bank_login: str = BANK_LOGIN,
                      display_name: str = "Bench") -> dict[str, Any]:
    """Register a messenger person and link `bank_login`'s accounts (all of them) at the
    embedded sandbox bank through the consent flow; waits until the link's first sync is
    processed. Returns what a load generator needs to sign events for the first account."""
    import httpx

    from ledgerlink.bootstrap import SANDBOX_PARTNER_ID
    from ledgerlink.domain.privacy import Grant
    from ledgerlink.sandbox.testing import browser_consent
    from ledgerlink.services.linking import links
    from ledgerlink.services.messaging import messenger

    deps = container.deps
    person_id = await messenger.register(deps, handle=handle, display_name=display_name,
                                         password=password)
    grant = Grant.for_person(person_id)
    url = await links.start_link(deps, grant, partner_id=SANDBOX_PARTNER_ID)
    async with httpx.AsyncClient(timeout=10.0) as browser:
        resp = await browser_consent(browser, url, login=bank_login)
    if resp.status_code not in (302, 303):
        raise RuntimeError(f"consent failed for {bank_login}: {resp.status_code}")
    query = parse_qs(urlparse(resp.headers["location"]).query)
    thread_id = await links.complete_link(deps, grant, state=query["state"][0], code=query["code"][0])
    await container.drain()
    account = container.sandbox.accounts_of(bank_login)[0]
    return {"handle": handle, "person_id": person_id, "thread_id": thread_id,
            "bank_login": bank_login, "bank_account_id": account.account_id,
            "currency": account.currency, "secret": container.sandbox_credentials.webhook_secret}
