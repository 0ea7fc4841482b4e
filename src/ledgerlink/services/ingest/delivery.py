"""Decide and deliver: turn domain events into thread messages (edited in place per subject)."""

from __future__ import annotations

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.cards import balance_card, transaction_card, transaction_category
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.events import BalanceChanged, TransactionChanged
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.access.vault import PersonKeyMissing
from ledgerlink.services.alerts.rules import evaluate_balance, evaluate_transaction
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.outgoing import put_card
from ledgerlink.services.messaging.ports import ThreadRecord

log = structlog.get_logger(__name__)


async def _bank_thread(uow: UnitOfWork, link_id: str) -> ThreadRecord | None:
    """The thread of an active link, locked; None when nothing may be delivered."""
    link = await uow.links.get(link_id)
    if link is None or link.status != LinkStatus.ACTIVE.value:
        return None
    thread = await uow.threads.for_link(link_id)
    return None if thread is None else await uow.threads.lock(thread.id)


async def deliver_transaction(
    deps: Deps, uow: UnitOfWork, *, person_id: str, transaction_id: str, created_here: bool = False
) -> None:
    """Write (or edit in place) the transaction's message, inside the caller's unit of work.
    `created_here`: the transaction row was inserted by this unit of work, so it has no
    message yet (never true for a later unit of work: an event may have delivered meanwhile)."""
    grant = Grant.for_component(person_id, "delivery")
    record = await uow.transactions.get(transaction_id)
    if record is None:
        return
    account = await uow.accounts.get(record.account_id)
    if account is None:
        return
    thread = await _bank_thread(uow, account.link_id)
    if thread is None:
        return  # revoked or expired link: nothing is delivered
    try:
        txn = await access.read_transaction(
            deps.vault, uow, grant, Purpose.DELIVER_UPDATE, record.id, at=deps.clock.now()
        )
        view = await access.read_account(
            deps.vault, uow, grant, Purpose.DELIVER_UPDATE, account.id, at=deps.clock.now()
        )
        said = await access.read_corrections(deps.vault, uow, grant, Purpose.DELIVER_UPDATE,
                                             at=deps.clock.now())
    except (NotFound, PersonKeyMissing):
        return
    body = transaction_card(txn, view)
    if said:  # the person's word about the merchant, as the thread page shows it on load
        body["category"] = transaction_category(txn, said)
    if deps.card_extras:  # e.g. the receipt attached to this purchase (issue 11): read under the
        locked = await uow.threads.lock(thread.id)  # thread's lock, so a receipt committed by a
        thread = locked or thread  # concurrent writer is seen, never overwritten (PostgreSQL)
        for extras in deps.card_extras:
            body.update(await extras(uow, grant, txn.id, body))
    if body.pop("shown_on", None) is None:  # a bank refund edits its purchase's card instead
        await put_card(
            deps,
            uow,
            grant,
            thread,
            CardKind.TRANSACTION,
            body,
            subject_key=f"txn:{txn.id}",
            new_subject=created_here,
        )

    await evaluate_transaction(deps, uow, person_id=person_id, transaction_id=txn.id)


async def deliver_balance(deps: Deps, uow: UnitOfWork, *, person_id: str, account_id: str) -> None:
    """Write (or edit in place) the account's balance card, inside the caller's unit of work."""
    grant = Grant.for_component(person_id, "delivery")
    account = await uow.accounts.get(account_id)
    if account is None:
        return
    thread = await _bank_thread(uow, account.link_id)
    if thread is None:
        return
    try:
        view = await access.read_account(
            deps.vault, uow, grant, Purpose.DELIVER_UPDATE, account.id, at=deps.clock.now()
        )
    except (NotFound, PersonKeyMissing):
        return
    await put_card(
        deps, uow, grant, thread, CardKind.BALANCE, balance_card(view), subject_key=f"balance:{account.id}"
    )

    await evaluate_balance(deps, uow, person_id=person_id, account_id=account.id)


async def on_transaction_changed(deps: Deps, event: TransactionChanged) -> None:
    if event.delivered:
        return
    async with deps.uow() as uow:
        await deliver_transaction(deps, uow, person_id=event.person_id, transaction_id=event.transaction_id)
        await deps.commit_and_publish(uow)


async def on_balance_changed(deps: Deps, event: BalanceChanged) -> None:
    if event.delivered:
        return
    async with deps.uow() as uow:
        await deliver_balance(deps, uow, person_id=event.person_id, account_id=event.account_id)
        await deps.commit_and_publish(uow)
