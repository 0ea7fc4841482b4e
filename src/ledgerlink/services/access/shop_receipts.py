"""Receipts from merchants (issue 11): orders sealed with the person's key, opened on a grant
with a purpose. Line items, totals, the parcel and the card's last 4 are personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.receipts.ports import MerchantAliasRecord, ShopOrderRecord


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


async def store_alias(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, merchant_slug: str,
                      descriptor: str, shop: str, at: datetime) -> None:
    """The person said a charge with this (cleaned) descriptor is this shop: remembered."""
    alias_id = new_id("mal")
    sealed = await vault.seal(grant.person_id, {"descriptor": descriptor, "shop": shop},
                              table="merchant_aliases", row_id=alias_id)
    record = MerchantAliasRecord(alias_id, grant.person_id, merchant_slug, sealed, at)
    await uow.shop_receipts.add_alias(record)
    await audit(uow, grant, purpose, action="store_merchant_alias", subject=f"merchant_alias:{alias_id}",
                at=at)


async def read_aliases(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, merchant_slug: str,
                       at: datetime) -> frozenset[str]:
    """The cleaned descriptors the person confirmed as this shop."""
    out = set()
    for record in await uow.shop_receipts.aliases(grant.person_id):
        if record.merchant_slug != merchant_slug:
            continue
        _mine(grant, record.person_id, "merchant alias")
        value = await vault.open(record.person_id, record.sealed, table="merchant_aliases", row_id=record.id)
        out.add(str(value["descriptor"]))
    if out:
        await audit(uow, grant, purpose, action="read_merchant_aliases", subject=f"merchant:{merchant_slug}",
                    at=at)
    return frozenset(out)


async def open_aliases(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *,
                       at: datetime) -> list[tuple[MerchantAliasRecord, dict[str, Any]]]:
    """Every alias the person's answers made, opened, each read audited (the export)."""
    out = []
    for record in await uow.shop_receipts.aliases(grant.person_id):
        _mine(grant, record.person_id, "merchant alias")
        value = await vault.open(record.person_id, record.sealed, table="merchant_aliases", row_id=record.id)
        await audit(uow, grant, purpose, action="read_merchant_alias", subject=f"merchant_alias:{record.id}",
                    at=at)
        out.append((record, value))
    return out


async def seal_receipt_address(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *,
                               row_id: str, local: str, at: datetime) -> bytes:
    """The forwarding address's local part, sealed so it can be shown again (only its hash finds
    the person when mail arrives)."""
    sealed = await vault.seal(grant.person_id, {"local": local}, table="receipt_addresses", row_id=row_id)
    await audit(uow, grant, purpose, action="store_receipt_address", subject=f"receipt_address:{row_id}",
                at=at)
    return sealed


async def open_receipt_address(vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *,
                               person_id: str, row_id: str, sealed: bytes, at: datetime) -> str:
    _mine(grant, person_id, "receipt address")
    value = await vault.open(person_id, sealed, table="receipt_addresses", row_id=row_id)
    await audit(uow, grant, purpose, action="read_receipt_address", subject=f"receipt_address:{row_id}",
                at=at)
    return str(value["local"])
