"""Messenger and WhatsApp channels (issue 15): the first text a Messenger conversation showed of
a message, sealed, so that an update can quote it. Only this module seals or opens it."""

from __future__ import annotations

from datetime import datetime

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork

TABLE = "platform_messages"


def _row(channel_id: str, message_id: str) -> str:
    return f"{channel_id}:{message_id}"


async def seal_platform_quote(
    vault: Vault, grant: Grant, *, channel_id: str, message_id: str, text: str
) -> bytes:
    """The text shown (already cut to the person's disclosure level), sealed to its row."""
    return await vault.seal(grant.person_id, {"text": text}, table=TABLE, row_id=_row(channel_id, message_id))


async def open_platform_quote(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    *,
    person_id: str,
    channel_id: str,
    message_id: str,
    sealed: bytes | None,
    at: datetime,
) -> str | None:
    """The sealed first text of a `platform_messages` row, for the update that quotes it
    (audited). (The row's fields are passed one by one: messaging's records are not the
    access layer's vocabulary.)"""
    _mine(grant, person_id, "message")
    if sealed is None:
        return None
    value = await vault.open(person_id, sealed, table=TABLE, row_id=_row(channel_id, message_id))
    await audit(
        uow,
        grant,
        Purpose.DELIVER_UPDATE,
        action="read_platform_quote",
        subject=f"message:{message_id}",
        at=at,
    )
    text = value.get("text")
    return text if isinstance(text, str) else None
