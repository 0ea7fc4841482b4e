"""Doubtful matches are asked in chat, never guessed (issue 11, docs/receipts.md): "Is this your
$42.10 order from Acme Outfitters?" with Yes / No on a card in the charge's thread. Yes
attaches the receipt and remembers the charge's descriptor as this shop (the alias table), so
the next receipt from that shop matches; No keeps the receipt waiting and never offers that
charge for it again."""

from __future__ import annotations

from typing import Any

from ledgerlink.domain.banking import LinkStatus, Transaction
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.locale_text import day, money
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.receipts import Receipt
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.outgoing import put_card
from ledgerlink.services.messaging.ports import ThreadRecord

REPLIES = ({"id": "yes", "label": "Yes, that's it"}, {"id": "no", "label": "No, it isn't"})
SUBJECT_PREFIX = "receipt-question:"  # the card's subject key, then the order id


def subject(order_id: str) -> str:
    return f"{SUBJECT_PREFIX}{order_id}"


async def charge_thread(deps: Deps, uow: UnitOfWork, grant: Grant, txn: Transaction) -> ThreadRecord | None:
    """The thread of the charge's bank link, locked; None when nothing may be delivered."""
    view = await access.read_account(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, txn.account_id,
                                     at=deps.clock.now())
    link = await uow.links.get(view.link_id)
    if link is None or link.status != LinkStatus.ACTIVE.value:
        return None
    thread = await uow.threads.for_link(view.link_id)
    return None if thread is None else await uow.threads.lock(thread.id)


async def ask(deps: Deps, uow: UnitOfWork, grant: Grant, *, order_id: str, receipt: Receipt,
              txn_id: str) -> None:
    """Post the question about this order and the charge it may be."""
    now = deps.clock.now()
    txn = await access.read_transaction(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, txn_id, at=now)
    thread = await charge_thread(deps, uow, grant, txn)
    if thread is None:
        return
    view = await access.read_account(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, txn.account_id, at=now)
    total = money(Money(receipt.total, receipt.currency))
    charged = txn.booking_date or txn.created_at.date()
    body: dict[str, Any] = {
        "text": f"Is this your {total} order from {receipt.shop}?",
        "tone": "info",
        "actions": [],
        "receipt_question": {
            "order_id": order_id, "transaction_id": txn.id, "order_ref": receipt.order_ref,
            "charge": f"{txn.descriptor} · {day(charged)} · {account_label(view)}",
        },
        "quick_replies": [dict(r) for r in REPLIES],
        "prompt_status": "open",
    }
    await put_card(deps, uow, grant, thread, CardKind.TEXT, body, subject_key=subject(order_id))


async def close(deps: Deps, uow: UnitOfWork, grant: Grant, *, order_id: str, txn: Transaction,
                reply_id: str) -> None:
    """Edit the question's card in place: answered, with the answer, without its buttons."""
    thread = await charge_thread(deps, uow, grant, txn)
    if thread is None:
        return
    view = await access.read_message_by_subject(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, thread,
                                                subject(order_id), at=deps.clock.now())
    if view is None:
        return
    label = next(r["label"] for r in REPLIES if r["id"] == reply_id)
    body = {**view.body, "prompt_status": "answered", "answer": reply_id, "answer_label": label,
            "quick_replies": []}
    await put_card(deps, uow, grant, thread, CardKind.TEXT, body, subject_key=subject(order_id))
