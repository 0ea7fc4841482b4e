"""A parcel's tracking number, sealed with the person's key (issue 11): stored and opened here,
each audited; nothing else about the number is kept."""

from __future__ import annotations

from datetime import datetime

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.receipts.ports import ParcelRecord


async def seal_number(vault: Vault, grant: Grant, *, parcel_id: str, number: str,
                      order_id: str | None = None) -> bytes:
    """`order_id`: the receipt whose parcel this is (its card shows the steps), sealed with it."""
    value = {"number": number} if order_id is None else {"number": number, "order_id": order_id}
    return await vault.seal(grant.person_id, value, table="parcels", row_id=parcel_id)


async def open_number(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose,
                      record: ParcelRecord, *, at: datetime) -> str:
    _mine(grant, record.person_id, "parcel")
    value = await vault.open(record.person_id, record.sealed, table="parcels", row_id=record.id)
    await audit(uow, grant, purpose, action="read_parcel", subject=f"parcel:{record.id}", at=at)
    return str(value["number"])


async def open_parcel(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose,
                      record: ParcelRecord, *, at: datetime) -> tuple[str, str | None]:
    """The number and the order it belongs to (None: a parcel with its own card)."""
    _mine(grant, record.person_id, "parcel")
    value = await vault.open(record.person_id, record.sealed, table="parcels", row_id=record.id)
    await audit(uow, grant, purpose, action="read_parcel", subject=f"parcel:{record.id}", at=at)
    order_id = value.get("order_id")
    return str(value["number"]), order_id if isinstance(order_id, str) else None
