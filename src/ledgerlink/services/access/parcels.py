"""A parcel's tracking number, sealed with the person's key (issue 11): stored and opened here,
each audited; nothing else about the number is kept."""

from __future__ import annotations

from datetime import datetime

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.receipts.ports import ParcelRecord


async def seal_number(vault: Vault, grant: Grant, *, parcel_id: str, number: str) -> bytes:
    return await vault.seal(grant.person_id, {"number": number}, table="parcels", row_id=parcel_id)


async def open_number(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose,
                      record: ParcelRecord, *, at: datetime) -> str:
    _mine(grant, record.person_id, "parcel")
    value = await vault.open(record.person_id, record.sealed, table="parcels", row_id=record.id)
    await audit(uow, grant, purpose, action="read_parcel", subject=f"parcel:{record.id}", at=at)
    return str(value["number"])
