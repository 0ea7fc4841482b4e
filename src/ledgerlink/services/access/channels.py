"""Delivery channel configurations (webhook URL and secret, email address, Matrix ID): sealed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.channel_ports import ChannelRecord


async def seal_channel_config(
    vault: Vault, *, person_id: str, channel_id: str, config: dict[str, Any]
) -> bytes:
    """A channel's config (webhook URL and secret, or email address), sealed to its row."""
    return await vault.seal(person_id, config, table="person_channels", row_id=channel_id)


async def open_channel_configs(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    purpose: Purpose,
    channels: list[ChannelRecord],
    *,
    at: datetime,
) -> dict[str, dict[str, Any]]:
    """The configs of the grant's channels (`ChannelRecord`s) by channel id; channels that
    are not the grant's are skipped. One audit entry for the lot."""
    mine = [c for c in channels if c.person_id == grant.person_id]
    opened = {
        c.id: await vault.open(c.person_id, c.sealed, table="person_channels", row_id=c.id) for c in mine
    }
    if opened:
        await audit(uow, grant, purpose, action="read_channel_config",
                    subject="channels:" + ",".join(opened), at=at)
    return opened
