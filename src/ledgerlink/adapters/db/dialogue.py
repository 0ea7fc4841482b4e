"""SQL repositories of the bank dialogue: fraud prompts, the bank outbox and the ids of
messages banks posted (see `PromptRepository`, `BankOutboxRepository`, `BankMessageRepository`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo, _values
from ledgerlink.services.dialogue.ports import BankOutboxRecord, PromptRecord

__all__ = ["SqlBankMessages", "SqlBankOutbox", "SqlPrompts"]


class _Upsert(_Repo):
    async def _insert_new(self, table: Any, values: dict[str, Any], keys: list[str]) -> bool:
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        # RETURNING tells what was written; rowcount after DO NOTHING is not reliable everywhere.
        stmt = (
            ins(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c[keys[0]])
        )
        return (await self._conn.execute(stmt)).first() is not None


class SqlPrompts(_Upsert):
    async def add(self, prompt: PromptRecord) -> bool:
        return await self._insert_new(s.prompts, _values(prompt, s.prompts), ["partner_id", "bank_ref"])

    async def get(self, prompt_id: str) -> PromptRecord | None:
        return await self._one(PromptRecord, select(s.prompts).where(s.prompts.c.id == prompt_id))

    async def by_message(self, message_id: str) -> PromptRecord | None:
        p = s.prompts
        stmt = select(p).where(or_(p.c.message_id == message_id, p.c.reminder_message_id == message_id))
        return await self._one(PromptRecord, stmt)

    async def by_ref(self, partner_id: str, bank_ref: str) -> PromptRecord | None:
        p = s.prompts
        return await self._one(
            PromptRecord, select(p).where(p.c.partner_id == partner_id, p.c.bank_ref == bank_ref)
        )

    async def open_in_thread(self, thread_id: str) -> list[PromptRecord]:
        p = s.prompts
        stmt = (
            select(p)
            .where(p.c.thread_id == thread_id, p.c.status == "open")
            .order_by(p.c.created_at.desc(), p.c.id.desc())
        )
        return await self._many(PromptRecord, stmt)

    async def _from_open(self, prompt_id: str, **values: Any) -> bool:
        p = s.prompts
        result = await self._conn.execute(
            update(p).where(p.c.id == prompt_id, p.c.status == "open").values(**values)
        )
        return bool(result.rowcount)

    async def answer(self, prompt_id: str, *, answer: str, via: str, at: datetime) -> bool:
        return await self._from_open(
            prompt_id, status="answered", answer=answer, answered_via=via, answered_at=at
        )

    async def expire(self, prompt_id: str) -> bool:
        return await self._from_open(prompt_id, status="expired")

    async def reminded(self, prompt_id: str, *, reminder_message_id: str, at: datetime) -> bool:
        p = s.prompts
        result = await self._conn.execute(
            update(p)
            .where(p.c.id == prompt_id, p.c.status == "open", p.c.reminded_at.is_(None))
            .values(reminded_at=at, reminder_message_id=reminder_message_id)
        )
        return bool(result.rowcount)

    async def due(self, now: datetime, *, limit: int = 100) -> list[PromptRecord]:
        p = s.prompts
        stmt = (
            select(p)
            .where(
                p.c.status == "open",
                or_(p.c.expires_at <= now, (p.c.reminded_at.is_(None)) & (p.c.remind_at <= now)),
            )
            .order_by(p.c.created_at, p.c.id)
            .limit(limit)
        )
        return await self._many(PromptRecord, stmt)

    async def for_person(self, person_id: str) -> list[PromptRecord]:
        p = s.prompts
        stmt = select(p).where(p.c.person_id == person_id).order_by(p.c.created_at, p.c.id)
        return await self._many(PromptRecord, stmt)


class SqlBankOutbox(_Upsert):
    async def add(self, row: BankOutboxRecord) -> bool:
        return await self._insert_new(s.bank_outbox, _values(row, s.bank_outbox), ["kind", "ref"])

    async def get(self, row_id: str) -> BankOutboxRecord | None:
        return await self._one(BankOutboxRecord, select(s.bank_outbox).where(s.bank_outbox.c.id == row_id))

    async def for_ref(self, kind: str, ref: str) -> BankOutboxRecord | None:
        o = s.bank_outbox
        return await self._one(BankOutboxRecord, select(o).where(o.c.kind == kind, o.c.ref == ref))

    async def due(self, now: datetime, *, limit: int = 100) -> list[BankOutboxRecord]:
        o = s.bank_outbox
        stmt = (
            select(o)
            .where(o.c.status == "pending", o.c.next_attempt_at <= now)
            .order_by(o.c.created_at, o.c.id)
            .limit(limit)
        )
        return await self._many(BankOutboxRecord, stmt)

    async def next_due(self) -> datetime | None:
        o = s.bank_outbox
        stmt = (
            select(o.c.next_attempt_at)
            .where(o.c.status == "pending", o.c.next_attempt_at.is_not(None))
            .order_by(o.c.next_attempt_at)
            .limit(1)
        )
        value: datetime | None = (await self._conn.execute(stmt)).scalar()
        return value

    async def update(self, row: BankOutboxRecord) -> None:
        o = s.bank_outbox
        values = _values(row, o)
        values.pop("id")
        await self._conn.execute(update(o).where(o.c.id == row.id).values(**values))

    async def for_person(self, person_id: str) -> list[BankOutboxRecord]:
        o = s.bank_outbox
        stmt = select(o).where(o.c.person_id == person_id).order_by(o.c.created_at, o.c.id)
        return await self._many(BankOutboxRecord, stmt)


class SqlBankMessages(_Upsert):
    async def add(
        self, *, partner_id: str, bank_message_id: str, person_id: str, message_id: str, at: datetime
    ) -> bool:
        values = {
            "partner_id": partner_id,
            "bank_message_id": bank_message_id,
            "person_id": person_id,
            "message_id": message_id,
            "received_at": at,
        }
        return await self._insert_new(s.bank_messages, values, ["partner_id", "bank_message_id"])

    async def get(self, partner_id: str, bank_message_id: str) -> str | None:
        m = s.bank_messages
        stmt = select(m.c.message_id).where(
            m.c.partner_id == partner_id, m.c.bank_message_id == bank_message_id
        )
        value = (await self._conn.execute(stmt)).scalar()
        return None if value is None else str(value)
