"""Receipts from merchants (issue 11): orders sealed with the person's key, opened on a grant
with a purpose. Line items, totals, the parcel and the card's last 4 are personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.receipts.ports import ShopOrderRecord


async def store_order(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, order_id: str,
                      merchant_slug: str, order_ref: str, transaction_id: str | None, match_state: str,
                      value: dict[str, Any], at: datetime) -> None:
    sealed = await vault.seal(grant.person_id, value, table="shop_orders", row_id=order_id)
    await uow.shop_receipts.put_order(ShopOrderRecord(
        id=order_id, person_id=grant.person_id, merchant_slug=merchant_slug, order_ref=order_ref,
        transaction_id=transaction_id, match_state=match_state, sealed=sealed, updated_at=at))
    await audit(uow, grant, purpose, action="store_receipt", subject=f"shop_order:{order_id}", at=at)


async def open_order(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose,
                     record: ShopOrderRecord, *, at: datetime) -> dict[str, Any]:
    if record is None:
        raise NotFound("order not found")
    _mine(grant, record.person_id, "order")
    value = await vault.open(record.person_id, record.sealed, table="shop_orders", row_id=record.id)
    await audit(uow, grant, purpose, action="read_receipt", subject=f"shop_order:{record.id}", at=at)
    return value
