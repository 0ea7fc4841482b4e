"""Linking a shop (issue 11, ADR 0031): a consent's secrets (the PKCE verifier while the person
is at the shop, then the shop's tokens) sealed with the person's key, opened on a grant with a
purpose and audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork


async def seal_consent_secrets(vault: Vault, *, person_id: str, consent_id: str,
                               secrets: dict[str, Any]) -> bytes:
    return await vault.seal(person_id, secrets, table="merchant_consents", row_id=consent_id)


async def open_consent_secrets(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *,
                               person_id: str, consent_id: str, sealed: bytes | None,
                               at: datetime) -> dict[str, Any]:
    """The consent's secrets (a `merchant_consents` row's `sealed`); someone else's: NotFound."""
    _mine(grant, person_id, "shop link")
    if sealed is None:
        return {}
    await audit(uow, grant, purpose, action="use_shop_credentials", subject=f"merchant_consent:{consent_id}",
                at=at)
    return await vault.open(person_id, sealed, table="merchant_consents", row_id=consent_id)
