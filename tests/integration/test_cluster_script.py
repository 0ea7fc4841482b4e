"""`scripts/cluster up|status|down` (issue 12): PostgreSQL, NATS, the sandbox bank and one
process of each role; a person linked through the real consent flow; a signed bank event
ingested by the api process is applied by the worker process; `down` leaves no process."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import fast_hasher
from tests.integration.test_bank_events import _txn_event

from ledgerlink.adapters.db import schema
from ledgerlink.adapters.webhooks import StandardWebhooksSigner
from ledgerlink.bootstrap import SANDBOX_PARTNER_ID, bootstrap
from ledgerlink.config import Settings
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.linking import links
from ledgerlink.services.messaging import messenger

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cluster"
PG_CTL = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")) / "pg_ctl"


@pytest.fixture
def run_dir() -> Iterator[Path]:
    if not PG_CTL.exists():
        pytest.skip("PostgreSQL 15 is not installed (scripts/test installs it)")
    path = Path(tempfile.mkdtemp(prefix="ledgerlink-cluster-"))  # not under pytest's 0700 tmp
    try:
        yield path
    finally:
        _cluster(path, "down", check=False)
        shutil.rmtree(path, ignore_errors=True)


def _cluster(run: Path, *args: str, check: bool = True) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINK_")}
    done = subprocess.run([str(SCRIPT), *args], env={**env, "LEDGERLINK_CLUSTER_DIR": str(run)},
                          capture_output=True, text=True, timeout=240)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _ports(run: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in (run / "pids").glob("*.port")}


def _pids(run: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in (run / "pids").glob("*.pid")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie is gone
    except FileNotFoundError:
        return False


@pytest.mark.postgres  # and NATS: the script starts its own of both
async def test_cluster_up_runs_each_role_and_applies_an_ingested_event_and_down_leaves_no_process(
    run_dir: Path,
) -> None:
    printed = _cluster(run_dir, "up", "--api", "1", "--worker", "1", "--gateway", "1")
    ports, pids = _ports(run_dir), _pids(run_dir)
    assert set(pids) == {"api-1", "gateway-1", "worker-1", "sandbox"}, printed
    server_pids = [int((run_dir / "pg" / "data" / "postmaster.pid").read_text().split()[0]),
                   int((run_dir / "nats" / "nats.pid").read_text())]
    api, bank = f"http://127.0.0.1:{ports['api-1']}", f"http://127.0.0.1:{ports['sandbox']}"
    database_url = (run_dir / "database_url").read_text().strip()
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            for name in ("api-1", "gateway-1"):
                assert (await http.get(f"http://127.0.0.1:{ports[name]}/healthz")).status_code == 200
        assert "worker-1" in _cluster(run_dir, "status")

        # A person linked through the consent flow against the cluster's bank and database.
        settings = Settings(data_dir=run_dir / "data", database_url=database_url, public_url=api,
                            sandbox_url=bank, embedded_sandbox=False, second_sandbox_bank=False,
                            sync_interval_seconds=0)
        container = await bootstrap(settings, hasher=fast_hasher())
        try:
            deps = container.deps
            person = await messenger.register(deps, handle="pat", display_name="Pat",
                                              password="correct horse")
            grant = Grant.for_person(person)
            url = await links.start_link(deps, grant, partner_id=SANDBOX_PARTNER_ID)
            async with httpx.AsyncClient(timeout=10.0) as browser:
                resp = await browser_consent(browser, url, login="alice")
            query = parse_qs(urlparse(resp.headers["location"]).query)
            await links.complete_link(deps, grant, state=query["state"][0], code=query["code"][0])
            async with deps.uow() as uow:
                account = (await uow.accounts.for_person(person))[0]
            secret = container.sandbox_credentials.webhook_secret
            txn = f"txn_{secrets.token_hex(6)}"
            event = _txn_event(account.bank_account_id, txn, status="posted")
            event["data"]["transaction"]["currency"] = account.currency
            body = json.dumps(event).encode()
            msg_id = f"msg_{secrets.token_hex(8)}"
            headers = StandardWebhooksSigner().sign(secret, msg_id, datetime.now(UTC), body)
            async with httpx.AsyncClient(base_url=api, timeout=10.0) as partner:
                answer = await partner.post("/partners/sandbox-bank/events", content=body,
                                            headers={**headers, "content-type": "application/json"})
            assert answer.status_code == 202, answer.text
            query_txn = select(func.count()).select_from(schema.transactions).where(
                schema.transactions.c.account_id == account.id,
                schema.transactions.c.source_key.contains(txn))
            applied = 0
            for _ in range(600):  # applied by the worker process, through the outbox and JetStream
                async with container.engine.connect() as conn:
                    applied = int((await conn.execute(query_txn)).scalar_one())
                if applied:
                    break
                await asyncio.sleep(0.05)
            assert applied == 1, (run_dir / "logs" / "worker-1.log").read_text()[-3000:]
        finally:
            await container.stop()
    finally:
        _cluster(run_dir, "down")
    left = [name for name, pid in {**pids, "postgres": server_pids[0], "nats": server_pids[1]}.items()
            if _alive(pid)]
    assert not left, f"still running after down: {left}"
    assert not list((run_dir / "pids").glob("*.pid"))
