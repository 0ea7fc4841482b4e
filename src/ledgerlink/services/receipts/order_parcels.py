"""A pasted tracking number that is a receipt's parcel (issue 11, docs/receipts.md "Tracking
numbers"): the carrier's steps go onto that receipt, so the purchase's own card (its charge, or
each charge of a split shipment) shows the timeline and ETA, edited in place, instead of a
separate shipping card. The order is found by opening the person's own orders (audited)."""

from __future__ import annotations

from typing import Any

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.receipts import receipt_from_json, receipt_to_json
from ledgerlink.domain.tracking import shape_of
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.receipts.ports import ParcelStatus, ShopOrderRecord

__all__ = ["apply_to_order", "merged_timeline", "order_with"]


async def order_with(deps: Deps, uow: UnitOfWork, grant: Grant, number: str) -> ShopOrderRecord | None:
    """The person's order whose parcel has this tracking number (as `shape_of` writes it)."""
    now = deps.clock.now()
    for record in await uow.shop_receipts.orders_of(grant.person_id):
        if record.match_state == "unreadable":
            continue
        value = await access.open_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, record, at=now)
        receipt = value.get("receipt")
        tracking = receipt.get("tracking") if isinstance(receipt, dict) else None
        if isinstance(tracking, str) and shape_of(tracking) == number:
            return record
    return None


def merged_timeline(timeline: list[dict[str, str]], status: ParcelStatus) -> list[dict[str, str]]:
    """The carrier follows the parcel itself: its steps replace the shop's once it knows at
    least as many (the shop may lag or report fewer); else the shop's stay as they are."""
    if len(status.events) < len(timeline):
        return timeline
    return [{"status": step, "at": at.isoformat()} for step, at in status.events]


async def apply_to_order(deps: Deps, uow: UnitOfWork, grant: Grant, order_id: str,
                         status: ParcelStatus) -> str | None:
    """Put the carrier's status on the order's receipt and edit its charge's card when the
    receipt is attached; the charge's transaction id, or None (not attached, or gone)."""
    now = deps.clock.now()
    record = await uow.shop_receipts.order_by_id(order_id)
    if record is None or record.person_id != grant.person_id:
        return None
    kept: dict[str, Any] = await access.open_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE,
                                                   record, at=now)
    receipt = receipt_from_json(kept["receipt"])
    receipt.timeline = merged_timeline(receipt.timeline, status)
    if status.status in ("delivered", "exception"):
        receipt.eta = None
    elif status.eta is not None:
        receipt.eta = status.eta.date()
    await access.store_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, order_id=record.id,
                             merchant_slug=record.merchant_slug, order_ref=record.order_ref,
                             transaction_id=record.transaction_id, match_state=record.match_state,
                             value={**kept, "receipt": receipt_to_json(receipt)}, at=now)
    if record.match_state != "matched" or record.transaction_id is None or deps.receipts is None:
        return None
    await deps.receipts.show(uow, grant, record.transaction_id, receipt, str(kept.get("why") or ""))
    return record.transaction_id
