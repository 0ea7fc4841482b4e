"""What a shop's parcel steps tell the person (issue 11): one notification when the parcel is
out for delivery and one when it is delivered, in the thread of the charge the receipt is
attached to; a delay, a failed attempt or an exception as a `parcel` alert, under the person's
alert rules and quiet hours. A step is told when an order change brings it (the shop's event,
or its orders feed after a lost one), once per order and step (its subject key); the steps a
receipt already had when it attached to its charge are shown on its card, not told."""

from __future__ import annotations

from ledgerlink.domain.alerts import Alert, enabled
from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.receipts import Receipt
from ledgerlink.domain.tracking import masked
from ledgerlink.services import access
from ledgerlink.services.alerts import rules as alert_rules
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.outgoing import put_card
from ledgerlink.services.receipts.parcels import PARCEL_ALERT

NEWS = {"out_for_delivery": "Your {shop} order {order} is out for delivery today{parcel}.",
        "delivered": "Your {shop} order {order} was delivered{parcel}."}
TROUBLE = {"delayed": "Your {shop} order {order} is delayed{parcel}.",
           "failed_attempt": "The carrier could not deliver your {shop} order {order}{parcel}: "
                             "nobody was home. It tries again.",
           "exception": "Your {shop} order {order} had a problem on its way{parcel} and is going "
                        "back to the sender."}


def steps(receipt: Receipt) -> set[str]:
    return {str(step.get("status")) for step in receipt.timeline}


async def tell(deps: Deps, uow: UnitOfWork, grant: Grant, *, txn_id: str, order_id: str,
               receipt: Receipt, new: set[str]) -> None:
    """Tell the steps `new` (this change brought them) in the thread of charge `txn_id`; nothing
    when the charge's link is no longer active."""
    told = [s for s in (*NEWS, *TROUBLE) if s in new]
    if not told:
        return
    now = deps.clock.now()
    record = await uow.transactions.get(txn_id)
    account = None if record is None else await uow.accounts.get(record.account_id)
    link = None if account is None else await uow.links.get(account.link_id)
    thread = None if link is None or link.status != LinkStatus.ACTIVE.value else (
        await uow.threads.for_link(link.id))
    if thread is None:
        return
    parcel = ""
    if receipt.carrier and receipt.tracking:
        parcel = f" ({receipt.carrier} {masked(receipt.tracking)})"
    words = {"shop": receipt.shop, "order": receipt.order_ref, "parcel": parcel}
    rules = None
    for step in told:
        if step in NEWS:
            await put_card(deps, uow, grant, thread, CardKind.TEXT,
                           {"text": NEWS[step].format(**words), "actions": [], "from": "ledgerlink",
                            "tone": "success" if step == "delivered" else "info"},
                           subject_key=f"order:{order_id}:{step}")
            continue
        if rules is None:
            rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
        if enabled(rules, PARCEL_ALERT):
            alert = Alert(kind=PARCEL_ALERT, subject_key=f"order:{order_id}:{step}",
                          text=TROUBLE[step].format(**words), tone="warning")
            await alert_rules.send(deps, uow, grant, thread, alert, rules)
