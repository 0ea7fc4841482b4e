"""Link secrets (PKCE verifier, bank tokens) and inbox payloads: sealed until the one step
that needs them opens them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.ingest.ports import InboxRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import LinkRecord


async def seal_link_secrets(vault: Vault, uow: UnitOfWork, link: LinkRecord, secrets: dict[str, Any]) -> None:
    link.sealed_secrets = await vault.seal(link.person_id, secrets, table="links", row_id=link.id)


async def store_bank_tokens(
    vault: Vault,
    uow: UnitOfWork,
    link: LinkRecord,
    *,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime | None,
) -> None:
    """Seal a link's bank tokens (replacing the consent-flow secrets) and keep their expiry."""
    await seal_link_secrets(vault, uow, link, {"access_token": access_token, "refresh_token": refresh_token})
    link.token_expires_at = expires_at


async def open_link_secrets(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, link: LinkRecord, *, at: datetime
) -> dict[str, Any]:
    _mine(grant, link.person_id, "link")
    if link.sealed_secrets is None:
        return {}
    await audit(uow, grant, purpose, action="use_bank_credentials", subject=f"link:{link.id}", at=at)
    return await vault.open(link.person_id, link.sealed_secrets, table="links", row_id=link.id)


async def seal_inbox_payload(
    vault: Vault, *, person_id: str, inbox_id: str, payload: dict[str, Any]
) -> bytes:
    return await vault.seal(person_id, payload, table="inbox", row_id=inbox_id)


async def open_inbox_payload(
    vault: Vault, uow: UnitOfWork, grant: Grant, record: InboxRecord, *, at: datetime
) -> dict[str, Any]:
    if record.person_id is None or record.sealed is None:
        return {}
    _mine(grant, record.person_id, "event")
    await audit(
        uow, grant, Purpose.SYNC_WITH_BANK, action="read_bank_event", subject=f"event:{record.id}", at=at
    )
    return await vault.open(record.person_id, record.sealed, table="inbox", row_id=record.id)
