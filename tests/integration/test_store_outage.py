"""PostgreSQL down under a running platform (issue 12): a bank's event gets a clear 503
`store_unavailable` with Retry-After, never a 500, and a person's page says "back in a moment";
nothing is half-written, and once the server is back the bank's resend is stored and delivered
once. Runs its own throwaway PostgreSQL (scripts/pg), which it stops and starts again."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port, running_stack
from tests.integration.test_bank_event_resends import _cards, _count
from tests.integration.test_bank_events import PATH, _bank_account, _signed, _txn_event
from tests.integration.test_linking_flow import _linked
from tests.integration.test_sessions import sign_up

from ledgerlink.adapters.db import schema

PG = Path(__file__).resolve().parents[2] / "scripts" / "pg"
pytestmark = pytest.mark.postgres


def _pg(*args: str) -> None:
    subprocess.run([str(PG), *args], check=True, stdout=subprocess.DEVNULL, timeout=90)


@dataclass(frozen=True)
class OwnPostgres:
    """A PostgreSQL this test may stop and start again."""

    where: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        _pg("stop", self.where)

    def start(self) -> None:
        _pg("start", self.where, str(self.port))


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    if not Path("/usr/lib/postgresql/15/bin/pg_ctl").exists() and shutil.which("pg_ctl") is None:
        pytest.fail("PostgreSQL 15's server tools are missing (.ci/run installs them)")
    where = tempfile.mkdtemp(prefix="ledgerlink-pg-outage.")  # under /tmp: the postgres user reaches it
    server = OwnPostgres(where, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(where, ignore_errors=True)


async def test_postgresql_down_is_a_clear_503_and_the_resend_after_it_is_stored_once(
        tmp_path: Path, own_postgres: OwnPostgres) -> None:
    async with running_stack(tmp_path, own_postgres.url) as stack:
        grant, thread_id = await _linked(stack)
        account = _bank_account(stack)
        async with httpx.AsyncClient(base_url=stack.platform_url, timeout=30.0) as http:
            await sign_up(http, "sam")  # signed in from here
            assert (await http.get("/settings")).status_code == 200
            before = json.dumps(_txn_event(account, "ext_outage_1")).encode()
            assert (await http.post(PATH, content=before, headers=_signed(stack, before))).status_code == 202
            await stack.container.drain()
            cards, inbox = await _cards(stack, grant, thread_id), await _count(stack, schema.inbox)

            await asyncio.to_thread(own_postgres.stop)
            during = json.dumps(_txn_event(account, "ext_outage_2")).encode()
            headers = _signed(stack, during, msg_id="msg_outage_2")
            refused = await http.post(PATH, content=during, headers=headers)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "5"
            problem = refused.json()
            assert (problem["code"], problem["retry_after"]) == ("store_unavailable", 5)
            assert "nothing was stored" in problem["detail"]
            page = await http.get("/settings", headers={"accept": "text/html"})
            assert page.status_code == 503 and "Back in a moment" in page.text
            assert "Traceback" not in page.text and "psycopg" not in page.text
            health = await http.get("/healthz")
            assert health.status_code == 503 and health.json()["status"] == "down"

            await asyncio.to_thread(own_postgres.start)
            answers = []
            for _ in range(20):  # the bank resends until 2xx; the pool's dead connections go first
                resend = _signed(stack, during, msg_id="msg_outage_2")
                again = await http.post(PATH, content=during, headers=resend)
                answers.append(again.status_code)
                if again.status_code < 300:
                    break
                await asyncio.sleep(0.5)
            assert answers[-1] == 202 and set(answers) <= {202, 503}, answers
            assert (await http.get("/settings")).status_code == 200
        await stack.container.drain()
        assert await _count(stack, schema.inbox) == inbox + 1
        assert await _cards(stack, grant, thread_id) == cards + 1
