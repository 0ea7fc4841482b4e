"""Writing a message and everything that goes out with it, in one unit of work.

Every message (bank updates, alerts, replies, the person's own words) is written here, so what
must follow it is decided in the same transaction as the message itself:

- the `MessageStored` event (published after commit);
- its view, handed after commit to this process's live connections (`Deps.live`), which push
  it without reading it back (ADR 0015);
- one pending delivery row per active extra channel of the person (Matrix, webhook, email):
  committed with the message, so a crash between the two cannot lose a delivery, and
  `ChannelDeliveriesQueued` wakes the channel worker.
"""

from __future__ import annotations

from typing import Any

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.events import ChannelDeliveriesQueued, MessageStored
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.channel_ports import ChannelDeliveryRecord
from ledgerlink.services.messaging.ports import MessageRecord, ThreadRecord

__all__ = ["put_card", "put_message"]


async def put_message(
    deps: Deps,
    uow: UnitOfWork,
    grant: Grant,
    thread: ThreadRecord,
    *,
    kind: CardKind,
    body: dict[str, Any],
    subject_key: str | None = None,
    new_subject: bool = False,
) -> MessageRecord | None:
    """Add a message, or edit in place the thread's message about `subject_key`; None when an
    edit would change nothing (then nothing goes out either). `new_subject`: see
    `access.put_message`."""
    record = await access.put_message(
        deps.vault, uow, grant, thread, kind=kind, body=body, at=deps.clock.now(), subject_key=subject_key,
        new_subject=new_subject,
    )
    if record is None:
        return None
    uow.fresh.append((thread.person_id, access.written_view(record, body)))
    uow.events.append(
        MessageStored(person_id=thread.person_id, thread_id=thread.id, message_id=record.id, rev=record.rev)
    )
    if await _queue_channel_deliveries(deps, uow, thread.person_id, record):
        uow.events.append(ChannelDeliveriesQueued(person_id=thread.person_id))
    return record


async def put_card(
    deps: Deps,
    uow: UnitOfWork,
    grant: Grant,
    thread: ThreadRecord,
    kind: CardKind,
    body: dict[str, object],
    *,
    subject_key: str | None,
    new_subject: bool = False,
) -> None:
    await put_message(deps, uow, grant, thread, kind=kind, body=body, subject_key=subject_key,
                      new_subject=new_subject)


async def _queue_channel_deliveries(
    deps: Deps, uow: UnitOfWork, person_id: str, record: MessageRecord
) -> int:
    """One pending row per active channel this process can send to. Idempotent per (channel,
    message, rev). The channel list is read once per unit of work and person."""
    if not deps.channel_kinds:
        return 0
    now = deps.clock.now()
    added = 0
    for channel in await uow.channels.for_person(person_id):
        if channel.status != "active" or channel.kind not in deps.channel_kinds:
            continue
        added += await uow.channels.add_delivery(ChannelDeliveryRecord(
            id=new_id("dlv"), channel_id=channel.id, person_id=person_id, message_id=record.id,
            rev=record.rev, status="pending", attempts=0, next_attempt_at=now, created_at=now,
            updated_at=now,
        ))  # fmt: skip
    return added
