"""Signed consent receipts: the compact JWS sealed with the person's key, read back on a grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import ReceiptRecord


@dataclass(frozen=True, slots=True)
class ReceiptView:
    id: str
    link_id: str
    issued_at: datetime
    expires_at: datetime
    jws: str  # the compact JWS, exactly as signed


async def store_receipt(
    vault: Vault,
    uow: UnitOfWork,
    *,
    receipt_id: str,
    person_id: str,
    link_id: str,
    issued_at: datetime,
    expires_at: datetime,
    jws: str,
) -> None:
    """Keep a signed consent receipt, sealed with its person's key (it names their accounts)."""

    sealed = await vault.seal(person_id, {"jws": jws}, table="consent_receipts", row_id=receipt_id)
    await uow.receipts.add(
        ReceiptRecord(
            id=receipt_id,
            person_id=person_id,
            link_id=link_id,
            issued_at=issued_at,
            expires_at=expires_at,
            sealed=sealed,
        )
    )


async def read_receipt(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, receipt_id: str, *, at: datetime
) -> ReceiptView:
    record = await uow.receipts.get(receipt_id)
    if record is None:
        raise NotFound("receipt not found")
    _mine(grant, record.person_id, "receipt")
    opened = await vault.open(record.person_id, record.sealed, table="consent_receipts", row_id=record.id)
    await audit(uow, grant, purpose, action="read_receipt", subject=f"receipt:{receipt_id}", at=at)
    return ReceiptView(
        id=record.id,
        link_id=record.link_id,
        issued_at=record.issued_at,
        expires_at=record.expires_at,
        jws=str(opened["jws"]),
    )
