"""The key store: per-person data keys (wrapped by the master key), kept OUTSIDE the main
database. A copy or dump of the main database holds ciphertext only, so destroying a person's
key here makes every copy of their data unreadable (crypto-shredding).

Default: its own SQLite file (`data_dir/keys.db`) with `secure_delete` on, so a destroyed key's
bytes are overwritten in the file. Any SQLAlchemy URL works (a separate PostgreSQL database in
the scale-out profile); an external KMS can implement the same `KeyStore` port.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ledgerlink.adapters.db.engine import is_sqlite, normalise_url, private_sqlite_file
from ledgerlink.adapters.db.schema import UtcDateTime

metadata = MetaData()

person_keys = Table(
    "person_keys",
    metadata,
    Column("person_id", String(40), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("master_key_id", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)


class SqlKeyStore:
    def __init__(self, url: str) -> None:
        url = normalise_url(url)
        self._sqlite = is_sqlite(url)
        private_sqlite_file(url)  # 0600 before the driver creates it (and its -wal, -shm)
        self._engine: AsyncEngine = create_async_engine(url)
        if self._sqlite:

            @event.listens_for(self._engine.sync_engine, "connect")
            def _on_connect(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA secure_delete=ON")  # destroyed keys are overwritten
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

    async def open(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self._engine.dispose()

    async def put(self, person_id: str, wrapped_key: bytes, master_key_id: str, at: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(person_keys).values(
                    person_id=person_id, wrapped_key=wrapped_key, master_key_id=master_key_id, created_at=at
                )
            )

    async def get(self, person_id: str) -> bytes | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(person_keys.c.wrapped_key).where(person_keys.c.person_id == person_id)
                )
            ).first()
        return None if row is None else bytes(row[0])

    async def destroy(self, person_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(person_keys).where(person_keys.c.person_id == person_id))
        if self._sqlite:
            async with self._engine.connect() as conn:
                # Fold the WAL (which still holds the old page) into the file and empty it.
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return bool(result.rowcount)

    async def wrapped_under(
        self, master_key_id: str, *, other_than: bool, limit: int
    ) -> list[tuple[str, bytes]]:
        """Keys wrapped under (or, with `other_than`, not under) a master key: for rotation."""
        cond = (
            person_keys.c.master_key_id != master_key_id
            if other_than
            else person_keys.c.master_key_id == master_key_id
        )
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(person_keys.c.person_id, person_keys.c.wrapped_key).where(cond).limit(limit)
                )
            ).all()
        return [(r[0], bytes(r[1])) for r in rows]

    async def replace(self, person_id: str, old: bytes, new: bytes, master_key_id: str) -> bool:
        """Swap a wrapped key for its re-wrapped form, only if nobody changed it meanwhile."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(person_keys)
                .where(person_keys.c.person_id == person_id, person_keys.c.wrapped_key == old)
                .values(wrapped_key=new, master_key_id=master_key_id)
            )
        return bool(result.rowcount)

    async def count_by_master(self) -> dict[str, int]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(person_keys.c.master_key_id, func.count()).group_by(person_keys.c.master_key_id)
                )
            ).all()
        return {r[0]: int(r[1]) for r in rows}
