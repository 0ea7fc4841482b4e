"""Several orders paid by one charge (a marketplace charging a basket at once; docs/receipts.md
"No single charge fits"): the rule (`domain/receipts_match`, `waiting=`) finds the set among
the person's waiting orders of the same shop; here those orders are opened, attached to the one
charge with the same explanation, and the charge's card shows them as one combined receipt
(every order's items and totals, each order named)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledgerlink.domain.banking import Transaction
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.receipts import Charge, Receipt, receipt_from_json, receipt_section
from ledgerlink.domain.receipts_match import match_receipt
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.receipts.ports import ShopOrderRecord

__all__ = ["Waiting", "attach", "attach_confirmed", "combined_section", "waiting_of"]


@dataclass(frozen=True, slots=True)
class Waiting:
    record: ShopOrderRecord
    kept: dict[str, Any]  # the opened sealed value
    receipt: Receipt


async def waiting_of(deps: Deps, uow: UnitOfWork, grant: Grant, *, slug: str,
                     exclude: str | None) -> list[Waiting]:
    """The person's other waiting orders of this shop, opened (audited)."""
    out = []
    for record in await uow.shop_receipts.waiting(grant.person_id):
        if record.merchant_slug != slug or record.id == exclude:
            continue
        kept = await access.open_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, record,
                                       at=deps.clock.now())
        if isinstance(kept.get("receipt"), dict):
            out.append(Waiting(record, kept, receipt_from_json(kept["receipt"])))
    return out


async def attach(deps: Deps, uow: UnitOfWork, grant: Grant, waiting: list[Waiting],
                 order_refs: tuple[str, ...], *, transaction_id: str, why: str) -> int:
    """Attach the basket's other orders (those of `order_refs` among `waiting`) to the charge."""
    done = 0
    for w in waiting:
        if w.record.order_ref not in order_refs:
            continue
        await access.store_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, order_id=w.record.id,
                                 merchant_slug=w.record.merchant_slug, order_ref=w.record.order_ref,
                                 transaction_id=transaction_id, match_state="matched",
                                 value={**w.kept, "why": why}, at=deps.clock.now())
        done += 1
    return done


async def attach_confirmed(deps: Deps, uow: UnitOfWork, grant: Grant, record: ShopOrderRecord,
                           receipt: Receipt, txn: Transaction, why: str) -> int:
    """After the person's Yes to one order of a doubtful basket: the rule run again on that one
    charge finds the other waiting orders it paid, and they are attached with it."""
    if -txn.amount.amount <= receipt.total or txn.amount.currency != receipt.currency:
        return 0  # the charge pays this order alone (or in another currency): no basket
    waiting = await waiting_of(deps, uow, grant, slug=record.merchant_slug, exclude=record.id)
    if not waiting:
        return 0
    view = await access.read_account(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, txn.account_id,
                                     at=deps.clock.now())
    day = txn.booking_date or txn.created_at.date()
    charge = Charge(txn.id, -txn.amount.amount, txn.amount.currency, day, txn.descriptor, txn.merchant,
                    view.last4, txn.mcc)
    match = match_receipt(receipt, [charge], waiting=[w.receipt for w in waiting])
    if match is None or not match.order_refs:
        return 0
    return await attach(deps, uow, grant, waiting, match.order_refs, transaction_id=charge.transaction_id,
                        why=why)


async def combined_section(deps: Deps, uow: UnitOfWork, grant: Grant, transaction_id: str, *,
                           charged: Decimal) -> dict[str, Any] | None:
    """The card's receipt section when two or more matched orders share this charge: one
    receipt of all their items and totals, each order listed; None otherwise."""
    records = [r for r in await uow.shop_receipts.orders_for_transaction(transaction_id)
               if r.match_state == "matched" and r.transaction_id == transaction_id]
    if len(records) < 2:
        return None
    opened = []
    for r in sorted(records, key=lambda r: r.order_ref):
        kept = await access.open_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, r, at=deps.clock.now())
        opened.append((receipt_from_json(kept["receipt"]), str(kept.get("why") or "")))
    first, why = opened[0]
    receipts = [o for o, _ in opened]
    section = receipt_section(first, why=why, charged=charged)

    def total(name: str) -> str:
        return str(sum((getattr(o, name) for o in receipts), Decimal(0)))

    refunded = sum((o.refunded for o in receipts), Decimal(0))
    section.update(
        order_ref=" + ".join(o.order_ref for o in receipts),
        items=[item for o in receipts for item in receipt_section(o, why=why, charged=charged)["items"]],
        subtotal=total("subtotal"), tax=total("tax"), shipping=total("shipping"), total=total("total"),
        refunded=str(refunded) if refunded else None,
        refund_text=f"refunded {refunded:.2f} of {charged:.2f} {first.currency}" if refunded else None,
        orders=[{"order_ref": o.order_ref, "order_url": o.order_url, "total": str(o.total),
                 "shipment_status": o.timeline[-1]["status"] if o.timeline else None} for o in receipts],
    )
    return section
