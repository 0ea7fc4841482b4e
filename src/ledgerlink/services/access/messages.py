"""Thread messages: the sealed card bodies, written and read on a grant with a purpose.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.ports import MessageRecord, MessageView, ThreadRecord


async def _open_message(vault: Vault, uow: UnitOfWork, m: MessageRecord) -> MessageView:
    body = await vault.open(m.person_id, m.sealed, table="messages", row_id=m.id)
    return written_view(m, body)


def written_view(m: MessageRecord, body: dict[str, Any]) -> MessageView:
    """The view of a message from its record and its plain body (opened, or just written)."""
    return MessageView(
        id=m.id,
        thread_id=m.thread_id,
        seq=m.seq,
        rev=m.rev,
        kind=CardKind(m.kind),
        subject_key=m.subject_key,
        body=body,
        created_at=m.created_at,
        edited_at=m.edited_at,
    )


async def put_message(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    thread: ThreadRecord,
    *,
    kind: CardKind,
    body: dict[str, Any],
    at: datetime,
    subject_key: str | None = None,
    new_subject: bool = False,
) -> MessageRecord | None:
    """Add a message, or edit in place the thread's message about the same subject.
    `new_subject`: the subject was created in this unit of work, so no message about it can
    exist yet (the lookup is skipped).

    Returns the stored record, or None when an edit would change nothing."""
    _mine(grant, thread.person_id, "thread")
    existing = None
    if subject_key is not None and not new_subject:
        existing = await uow.threads.message_by_subject(thread.id, subject_key)
    if existing is not None:
        old = await vault.open(existing.person_id, existing.sealed, table="messages", row_id=existing.id)
        if old == body:
            return None
        _, rev = await uow.threads.bump(thread.id, new_message=False)
        existing.rev = rev
        existing.kind = kind.value
        existing.sealed = await vault.seal(thread.person_id, body, table="messages", row_id=existing.id)
        existing.edited_at = at
        await uow.threads.update_message(existing)
        return existing
    seq, rev = await uow.threads.bump(thread.id, new_message=True)
    message_id = new_id("msg")
    record = MessageRecord(
        id=message_id,
        thread_id=thread.id,
        person_id=thread.person_id,
        seq=seq,
        rev=rev,
        kind=kind.value,
        subject_key=subject_key,
        sealed=await vault.seal(thread.person_id, body, table="messages", row_id=message_id),
        created_at=at,
        edited_at=None,
    )
    await uow.threads.add_message(record)
    return record


async def read_thread(uow: UnitOfWork, grant: Grant, thread_id: str) -> ThreadRecord:
    thread = await uow.threads.get(thread_id)
    if thread is None:
        raise NotFound("thread not found")
    _mine(grant, thread.person_id, "thread")
    return thread


async def read_messages(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    purpose: Purpose,
    thread_id: str,
    *,
    at: datetime,
    after_rev: int | None = None,
    limit: int = 100,
) -> list[MessageView]:
    """Messages of a thread: the latest `limit` by sequence, or every change after `after_rev`
    in revision order (the resume path)."""
    await read_thread(uow, grant, thread_id)
    if after_rev is None:
        records = await uow.threads.latest_messages(thread_id, limit=limit)
    else:
        records = await uow.threads.messages_since(thread_id, after_rev, limit=limit)
    views = [await _open_message(vault, uow, r) for r in records]
    if views:
        await audit(
            uow,
            grant,
            purpose,
            action="read_messages",
            subject=f"thread:{thread_id} messages:{len(views)}",
            at=at,
        )
    return views


async def read_message_by_subject(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    purpose: Purpose,
    thread: ThreadRecord,
    subject_key: str,
    *,
    at: datetime,
) -> MessageView | None:
    """The thread's message about `subject_key` (e.g. a fraud prompt's card), or None."""
    _mine(grant, thread.person_id, "thread")
    record = await uow.threads.message_by_subject(thread.id, subject_key)
    if record is None:
        return None
    view = await _open_message(vault, uow, record)
    subject = f"thread:{thread.id} message:{record.id}"
    await audit(uow, grant, purpose, action="read_message", subject=subject, at=at)
    return view
