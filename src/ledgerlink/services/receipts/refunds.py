"""Bank refunds shown on the purchase they give back (issue 11, docs/receipts.md): the refund's
transaction gets no card of its own; the purchase's card is edited to read "refunded 19.99 of
48.17 USD". Which purchase: `domain/receipts.find_refunded_purchase`."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ledgerlink.domain.banking import Transaction
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.receipts import Purchase, RefundLink, find_refunded_purchase, refund_line
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.receipts.ports import BankRefundRecord

LOOK_BACK = 300  # purchases of the account read to find the original


def looks_like_refund(card: Mapping[str, Any]) -> bool:
    """Money in at a card merchant (an MCC), as the bank reports a card refund."""
    return card.get("direction") == "in" and bool(card.get("mcc"))


async def _given_back(deps: Deps, uow: UnitOfWork, grant: Grant, original_id: str) -> Decimal:
    total = Decimal(0)
    for link in await uow.shop_receipts.refunds_of(original_id):
        try:
            refund = await access.read_transaction(deps.vault, uow, grant, Purpose.DELIVER_UPDATE,
                                                   link.refund_transaction_id, at=deps.clock.now())
        except NotFound:
            continue  # the refund's row is gone (retention): it no longer counts
        total += refund.amount.amount
    return total


async def link_refund(deps: Deps, uow: UnitOfWork, grant: Grant, refund_id: str) -> str | None:
    """The purchase this refund gives back, linked once and remembered; None: not found."""
    known = await uow.shop_receipts.refund(refund_id)
    if known is not None:
        return known.original_transaction_id
    now = deps.clock.now()
    refund = await access.read_transaction(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, refund_id, at=now)
    history = await access.read_recent_transactions(deps.vault, uow, grant, Purpose.DELIVER_UPDATE,
                                                    refund.account_id, at=now, limit=LOOK_BACK)
    purchases = [await _purchase(deps, uow, grant, t) for t in history
                 if t.amount.is_negative() and t.id != refund_id]
    found: RefundLink | None = find_refunded_purchase(
        amount=refund.amount.amount, currency=refund.amount.currency,
        day=refund.booking_date or refund.created_at.date(), descriptor=refund.descriptor,
        merchant=refund.merchant, purchases=purchases)
    if found is None:
        return None
    await uow.shop_receipts.add_refund(BankRefundRecord(
        refund_transaction_id=refund_id, person_id=grant.person_id,
        original_transaction_id=found.original_transaction_id, rule=found.rule, created_at=now))
    return found.original_transaction_id


async def _purchase(deps: Deps, uow: UnitOfWork, grant: Grant, t: Transaction) -> Purchase:
    return Purchase(t.id, -t.amount.amount, t.amount.currency, t.booking_date or t.created_at.date(),
                    t.descriptor, t.merchant, refunded=await _given_back(deps, uow, grant, t.id))


async def refund_extras(deps: Deps, uow: UnitOfWork, grant: Grant, card: Mapping[str, Any],
                        transaction_id: str) -> dict[str, Any]:
    """A purchase card's `bank_refund` line, when the bank has refunded some of it."""
    if card.get("direction") != "out" or not await uow.shop_receipts.refunds_of(transaction_id):
        return {}
    given = await _given_back(deps, uow, grant, transaction_id)
    if not given:
        return {}
    return {"bank_refund": refund_line(given, -Decimal(str(card["amount"])), str(card["currency"]))}
