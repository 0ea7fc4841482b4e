"""Alembic environment: runs migrations on the async engine of either profile."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from ledgerlink.adapters.db.engine import create_null_pool_engine
from ledgerlink.adapters.db.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by ledgerlink.adapters.db.migrate"
    engine = create_null_pool_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `ledgerlink db upgrade`")
asyncio.run(_main())
