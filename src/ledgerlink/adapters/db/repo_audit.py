"""SQL repository (see the matching Protocol in ledgerlink.services.ports)."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db.repositories import _Repo
from ledgerlink.domain.audit import TreeHead


def _head(row: Any) -> TreeHead:
    m = row._mapping
    return TreeHead(
        tree_size=int(m["tree_size"]),
        root_hash=bytes.fromhex(m["root_hash"]),
        timestamp=m["signed_at"],
        key_id=m["key_id"],
        signature=base64.b64decode(m["signature"]),
    )


class SqlTreeHeads(_Repo):
    """Signed tree heads of the audit log."""

    async def add(self, head: TreeHead) -> bool:
        t = s.audit_tree_heads
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        stmt = (
            ins(t)
            .values(
                tree_size=head.tree_size,
                root_hash=head.root_hash.hex(),
                signed_at=head.timestamp,
                key_id=head.key_id,
                signature=base64.b64encode(head.signature).decode(),
            )
            .on_conflict_do_nothing(index_elements=["tree_size"])
            .returning(t.c.tree_size)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def latest(self) -> TreeHead | None:
        t = s.audit_tree_heads
        row = (await self._conn.execute(select(t).order_by(t.c.tree_size.desc()).limit(1))).first()
        return None if row is None else _head(row)

    async def get(self, tree_size: int) -> TreeHead | None:
        t = s.audit_tree_heads
        row = (await self._conn.execute(select(t).where(t.c.tree_size == tree_size))).first()
        return None if row is None else _head(row)

    async def all(self) -> list[TreeHead]:
        t = s.audit_tree_heads
        return [_head(row) for row in (await self._conn.execute(select(t).order_by(t.c.tree_size))).all()]
