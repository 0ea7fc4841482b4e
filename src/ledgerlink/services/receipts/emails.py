"""Receipts by email (issue 11, docs/receipts.md): a private forwarding address per person, and
an order or shipping email (schema.org markup) fed to the same matching as merchant events.
A message without readable markup is kept sealed and the thread says "couldn't read this
receipt". Nothing here logs an address or a body."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.outgoing import put_card
from ledgerlink.services.receipts.email_orders import add_parcel, order_number, receipt_from_order
from ledgerlink.services.receipts.ports import MailMarkup, ReceiptAddressRecord
from ledgerlink.services.receipts.service import Receipts

SLUG = "email"  # the orders and aliases of receipt emails, whatever the shop
LOCAL_PREFIX = "r-"


def token_hash(local: str) -> str:
    # The local part is 128 random bits: an unkeyed hash cannot be reversed by guessing.
    return hashlib.sha256(local.lower().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class MailOutcome:
    state: str  # matched | doubtful | waiting | unreadable
    text: str  # what the thread (and the uploader) is told


class ReceiptMail:
    def __init__(self, deps: Deps, receipts: Receipts, *, read: Callable[[bytes], MailMarkup],
                 domain: str) -> None:
        self._deps, self._receipts, self._read, self.domain = deps, receipts, read, domain

    async def address(self, grant: Grant) -> str:
        """The person's forwarding address, made on first ask and the same after."""
        deps, now = self._deps, self._deps.clock.now()
        async with deps.uow() as uow:
            record = await uow.shop_receipts.address_of(grant.person_id)
            if record is None:
                local, row_id = LOCAL_PREFIX + secrets.token_hex(16), new_id("rad")
                sealed = await access.seal_receipt_address(deps.vault, uow, grant, Purpose.SHOW_TO_PERSON,
                                                           row_id=row_id, local=local, at=now)
                await uow.shop_receipts.add_address(ReceiptAddressRecord(
                    row_id, grant.person_id, token_hash(local), sealed, now))
            else:
                local = await access.open_receipt_address(
                    deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, person_id=record.person_id,
                    row_id=record.id, sealed=record.sealed, at=now)
            await deps.commit_and_publish(uow)  # the audit entry is durable with the answer
            return f"{local}@{self.domain}"

    async def recipient(self, address: str) -> str | None:
        """Whose address this is; None for any other (the listener refuses it at RCPT)."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        if domain.lower() != self.domain.lower() or not local.lower().startswith(LOCAL_PREFIX):
            return None
        async with self._deps.uow() as uow:
            record = await uow.shop_receipts.address_by_hash(token_hash(local))
        return None if record is None else record.person_id

    async def deliver(self, person_id: str, raw: bytes, *, thread_id: str | None = None) -> MailOutcome:
        """One message for this person: its order matched, or kept as unreadable. InvalidInput
        or NotFound (someone else's order) store nothing."""
        markup = self._read(raw)
        deps = self._deps
        grant = Grant.for_component(person_id, "receipts")
        async with deps.uow() as uow:
            thread = (await uow.threads.get(thread_id) if thread_id else
                      await uow.threads.system_thread(person_id))
            if thread is None or thread.person_id != person_id:
                raise NotFound("no such thread", code="thread_not_found")
            if not markup.items:
                why = markup.broken or "it has no order markup (schema.org Order) we can read"
                await self._keep(uow, grant, raw, why)
                outcome = MailOutcome("unreadable", f"Couldn't read this receipt: {why}. It is kept, sealed.")
            else:
                outcome = await self._orders(uow, grant, markup)
            thread = await uow.threads.lock(thread.id)
            if thread is not None:
                tone = "warning" if outcome.state == "unreadable" else "info"
                body: dict[str, Any] = {"text": outcome.text, "tone": tone, "actions": []}
                await put_card(deps, uow, grant, thread, CardKind.TEXT, body,
                               subject_key=f"receipt-mail:{new_id('rml')}")
            await deps.commit_and_publish(uow)
        return outcome

    async def _orders(self, uow: UnitOfWork, grant: Grant, markup: MailMarkup) -> MailOutcome:
        sent = markup.sent_at or self._deps.clock.now()
        orders = [o for o in markup.items if str(o.get("@type", "")).endswith("Order")]
        parcels = [o for o in markup.items if str(o.get("@type", "")).endswith("ParcelDelivery")]
        said = []
        for obj in orders[:10]:
            receipt = receipt_from_order(obj, sent_at=sent)
            for parcel in parcels:
                if order_number(parcel) == receipt.order_ref:
                    add_parcel(receipt, parcel)
            state = await self._receipts.take_order(uow, grant, receipt, slug=SLUG)
            said.append(f"order {receipt.order_ref} from {receipt.shop}: " + {
                "matched": "attached to its charge", "doubtful": "is it this charge? (asked)",
                "waiting": "waiting for its charge"}.get(state, state))
        known = {o.get("orderNumber") for o in orders}
        for parcel in parcels:
            ref = order_number(parcel)
            if ref in known:
                continue
            shell = receipt_from_order({"@type": "Order", "orderNumber": ref, "priceCurrency": "XXX",
                                        "price": "0.00", "merchant": "?", "acceptedOffer": {
                                            "itemOffered": "?", "price": "0.00"}}, sent_at=sent)
            add_parcel(shell, parcel)
            state = await self._receipts.take_order(uow, grant, shell, slug=SLUG, parcel_only=True)
            carrier = shell.carrier or "carrier"
            said.append(f"shipping for order {ref}: {carrier} {shell.tracking or ''}".strip())
        if not said:
            raise InvalidInput("the message has no order in its markup", code="malformed_receipt_markup")
        return MailOutcome("read", "Receipt email read: " + "; ".join(said) + ".")

    async def _keep(self, uow: UnitOfWork, grant: Grant, raw: bytes, why: str) -> None:
        order_id = new_id("ord")
        await access.store_order(self._deps.vault, uow, grant, Purpose.DELIVER_UPDATE, order_id=order_id,
                                 merchant_slug=SLUG, order_ref=f"unreadable:{order_id}", transaction_id=None,
                                 match_state="unreadable",
                                 value={"email": base64.b64encode(raw).decode(), "why": why},
                                 at=self._deps.clock.now())
