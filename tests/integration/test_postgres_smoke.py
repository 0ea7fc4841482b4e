"""The PostgreSQL test server is reachable (scripts/test starts one and sets the URL)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get("LEDGERLINK_TEST_PG_URL")
    if not url:
        message = "LEDGERLINK_TEST_PG_URL is not set (run ./scripts/test, which starts PostgreSQL)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; on CI the PostgreSQL tests must run")
        pytest.skip(message)
    return url


async def test_postgres_select_1(pg_url: str) -> None:
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select 1"))).scalar_one() == 1
            version = (await conn.execute(text("show server_version_num"))).scalar_one()
            assert int(version) >= 150000
    finally:
        await engine.dispose()
