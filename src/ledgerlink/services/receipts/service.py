"""Merchant events in (verify, dedupe, parse, store sealed), matching receipts to card charges,
and the purchase card growing in place (docs/receipts.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.cards import transaction_card
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import Conflict, InvalidInput, NotFound
from ledgerlink.domain.events import TransactionChanged
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.receipts import (
    Charge,
    Receipt,
    clean_descriptor,
    receipt_from_json,
    receipt_section,
    receipt_to_json,
)
from ledgerlink.domain.receipts_match import match_receipt
from ledgerlink.services import access
from ledgerlink.services.access.shop_receipts import read_aliases, store_alias
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.outgoing import put_card
from ledgerlink.services.receipts import baskets, questions, shipment_news
from ledgerlink.services.receipts.merchant_consent import end_consent, usable
from ledgerlink.services.receipts.ports import MerchantLinkRecord, ShopOrderRecord
from ledgerlink.services.receipts.refunds import link_refund, looks_like_refund, refund_extras
from ledgerlink.services.receipts.wire import LINK_REVOKED, event_type, parse_event, parse_revocation

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class MerchantPartner:
    slug: str
    name: str
    webhook_secrets: tuple[str, ...]


class Receipts:
    def __init__(self, deps: Deps, merchants: Sequence[MerchantPartner]) -> None:
        self._deps = deps
        self._merchants = {m.slug: m for m in merchants}

    async def link_merchant(self, person_id: str, *, slug: str, customer_ref: str) -> None:
        """The person's account at the shop, as the consent flow names it (ADR 0026)."""
        if slug not in self._merchants:
            raise NotFound("no such merchant", code="unknown_partner")
        async with self._deps.uow() as uow:
            await uow.shop_receipts.add_link(MerchantLinkRecord(
                new_id("mlk"), person_id, slug, customer_ref, self._deps.clock.now()))
            await self._deps.commit_and_publish(uow)

    async def receive(self, slug: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        merchant = self._merchants.get(slug)
        if merchant is None:
            raise NotFound("no such merchant", code="unknown_partner")
        self._deps.verifier.verify(merchant.webhook_secrets, body, headers)
        event_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        if event_type(body) == LINK_REVOKED:
            return await self._revoked_by_shop(merchant, event_id, parse_revocation(body))
        kind, extra, receipt = parse_event(body)
        deps, now = self._deps, self._deps.clock.now()
        async with deps.uow() as uow:
            link = await uow.shop_receipts.link_for(slug, str(extra["customer_id"]))
            if link is None:
                raise NotFound("no linked customer for this event", code="unknown_customer")
            await usable(uow, link.id, now=now)  # a revoked or expired link: refused, nothing stored
            await uow.shop_receipts.lock_person(link.person_id)  # see on_transaction_changed
            existing = await uow.shop_receipts.order(slug, receipt.order_ref)
            if existing is not None and existing.person_id != link.person_id:
                raise NotFound("no such order for this customer", code="unknown_order")
            if await uow.shop_receipts.seen(slug, event_id, link.person_id, now):
                # A Standard Webhooks sender retries until it gets a 2xx: a resend of an event
                # whose order version is applied is answered as received (nothing stored
                # again). Without a version the content cannot be told apart: 409.
                version = extra.get("version")
                applied = await uow.merchant_consents.applied_version(slug, receipt.order_ref)
                if version is not None and applied is not None and version <= applied:
                    return {"id": event_id, "status": "already_received",
                            "match": existing.match_state if existing else ""}
                raise Conflict("this event was already received", code="duplicate_event")
            state = await self._apply(uow, link.person_id, slug, kind, extra, receipt, existing)
            await deps.commit_and_publish(uow)
        if state == "already_applied":  # the orders feed brought this version first
            return {"id": event_id, "status": state, "match": existing.match_state if existing else ""}
        return {"id": event_id, "status": "accepted", "match": state}

    async def take_feed_order(self, link: MerchantLinkRecord, entry: Mapping[str, Any]) -> str:
        """An order from the shop's orders feed (`merchant_sync`), its latest state: applied as
        its webhook would have been, once per version (a version already applied, by the
        webhook or an earlier sync, changes nothing: `already_applied`). Errors store nothing:
        someone else's order number (`unknown_order`), a link that ended, a malformed order."""
        body = json.dumps({"type": entry.get("type"), "data": entry.get("data")}).encode()
        kind, extra, receipt = parse_event(body, snapshot=True)
        if extra["customer_id"] != link.customer_ref:
            raise NotFound("the order names another customer", code="unknown_order")
        deps, now = self._deps, self._deps.clock.now()
        async with deps.uow() as uow:
            await usable(uow, link.id, now=now)
            await uow.shop_receipts.lock_person(link.person_id)
            existing = await uow.shop_receipts.order(link.merchant_slug, receipt.order_ref)
            if existing is not None and existing.person_id != link.person_id:
                raise NotFound("no such order for this customer", code="unknown_order")
            state = await self._apply(uow, link.person_id, link.merchant_slug, kind, extra, receipt, existing,
                                      snapshot=True)
            await deps.commit_and_publish(uow)
        return state

    async def _revoked_by_shop(self, merchant: MerchantPartner, event_id: str,
                               customer: str) -> dict[str, str]:
        deps, now = self._deps, self._deps.clock.now()
        async with deps.uow() as uow:
            link = await uow.shop_receipts.link_for(merchant.slug, customer)
            consent = None if link is None else await uow.merchant_consents.for_link(link.id)
            if link is None or consent is None:
                raise NotFound("no linked customer for this event", code="unknown_customer")
            if await uow.shop_receipts.seen(merchant.slug, event_id, link.person_id, now):
                if consent.status != "active":  # the resend of a revocation that took effect
                    return {"id": event_id, "status": "already_received", "link": "revoked"}
                raise Conflict("this event was already received", code="duplicate_event")
            if consent.status == "active":
                await end_consent(deps, uow, consent, by="shop", shop=merchant.name, at=now)
            await deps.commit_and_publish(uow)
        log.info("merchant_link_revoked_by_shop", consent_id=consent.id)
        return {"id": event_id, "status": "accepted", "link": "revoked"}

    async def _apply(self, uow: UnitOfWork, person_id: str, slug: str, kind: str, extra: Mapping[str, Any],
                     receipt: Receipt, existing: ShopOrderRecord | None, *, snapshot: bool = False) -> str:
        """One order change (an event, or a feed order with `snapshot`) into the sealed order, its
        match and its card; `already_applied` when its version was (the rest is unchanged)."""
        deps, now = self._deps, self._deps.clock.now()
        version = extra.get("version")
        if version is not None:
            applied = await uow.merchant_consents.applied_version(slug, receipt.order_ref)
            if applied is not None and version <= applied:
                return "already_applied"
            await uow.merchant_consents.set_version(slug, receipt.order_ref, person_id, version, now)
        grant = Grant.for_component(person_id, "receipts")
        txn_id, state, why, refused, before = None, "waiting", "", [], None
        if existing is not None:
            kept = await access.open_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE,
                                           existing, at=now)
            before = receipt_from_json(kept["receipt"])
            receipt.refunded = before.refunded
            txn_id, state, why = existing.transaction_id, existing.match_state, kept["why"]
            refused = list(kept.get("refused") or [])
        if kind == "refund.issued" and not snapshot:
            receipt.refund(extra["refund"])  # more than was paid: refused, nothing stored
        if extra["refunded"] is not None and extra["refunded"] > receipt.refunded:
            # The shop's total refunded grew by more than we saw: a feed order (its latest state),
            # or an event after a lost refund.issued, which no later pull would bring back.
            receipt.refund(extra["refunded"] - receipt.refunded)
        order_id = existing.id if existing is not None else new_id("ord")
        was = state
        if state == "waiting":
            txn_id, state, why = await self._match(uow, grant, receipt, slug=slug, refused=refused,
                                                   order_id=order_id)
        await access.store_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, order_id=order_id,
                                 merchant_slug=slug, order_ref=receipt.order_ref,
                                 transaction_id=txn_id, match_state=state,
                                 value={"receipt": receipt_to_json(receipt), "why": why,
                                        "refused": refused}, at=now)
        if state == "matched" and txn_id is not None:
            await self._render(uow, grant, txn_id, receipt, why)
            if was == "matched" and before is not None:  # steps it had when it attached: on the card
                await shipment_news.tell(deps, uow, grant, txn_id=txn_id, order_id=order_id, receipt=receipt,
                                         new=shipment_news.steps(receipt) - shipment_news.steps(before))
        elif state == "doubtful" and was == "waiting" and txn_id is not None:
            await questions.ask(deps, uow, grant, order_id=order_id, receipt=receipt, txn_id=txn_id)
        return state

    async def take_order(self, uow: UnitOfWork, grant: Grant, receipt: Receipt, *, slug: str,
                         parcel_only: bool = False) -> str:
        """An order that came another way than a merchant event (a receipt email), inside the
        caller's unit of work: stored sealed and matched like one; the match state. An order
        number held for someone else is refused (NotFound, never saying whose)."""
        deps, now = self._deps, self._deps.clock.now()
        await uow.shop_receipts.lock_person(grant.person_id)
        existing = await uow.shop_receipts.order(slug, receipt.order_ref)
        if existing is not None and existing.person_id != grant.person_id:
            raise NotFound("no such order for this address", code="unknown_order")
        if existing is None and parcel_only:
            raise NotFound(f"a shipping notice for order {receipt.order_ref}, whose order email has not "
                           "come yet", code="order_not_seen")
        txn_id, state, why, refused = None, "waiting", "", []
        if existing is not None:
            kept = await access.open_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, existing, at=now)
            old = receipt_from_json(kept["receipt"])
            if parcel_only:
                old.carrier, old.tracking = receipt.carrier or old.carrier, receipt.tracking or old.tracking
                receipt = old
            receipt.refunded = old.refunded
            txn_id, state, why = existing.transaction_id, existing.match_state, kept["why"]
            refused = list(kept.get("refused") or [])
        order_id = existing.id if existing is not None else new_id("ord")
        if state == "waiting":
            txn_id, state, why = await self._match(uow, grant, receipt, slug=slug, refused=refused,
                                                   order_id=order_id)
            if state == "doubtful" and txn_id is not None:
                await questions.ask(deps, uow, grant, order_id=order_id, receipt=receipt, txn_id=txn_id)
        await access.store_order(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, order_id=order_id,
                                 merchant_slug=slug, order_ref=receipt.order_ref, transaction_id=txn_id,
                                 match_state=state, value={"receipt": receipt_to_json(receipt), "why": why,
                                                           "refused": refused}, at=now)
        if state == "matched" and txn_id is not None:
            await self._render(uow, grant, txn_id, receipt, why)
        return state

    async def _match(self, uow: UnitOfWork, grant: Grant, receipt: Receipt, *, slug: str,
                     refused: list[str], order_id: str | None = None) -> tuple[str | None, str, str]:
        """The charge the receipt matched (the first of a split shipment's, the others kept in
        `shop_order_charges` under `order_id`), its state and why."""
        now = self._deps.clock.now()
        charges: list[Charge] = []
        vault, why = self._deps.vault, Purpose.DELIVER_UPDATE
        for account in await access.read_accounts(vault, uow, grant, why, at=now):
            recent = [t for t in await access.read_recent_transactions(vault, uow, grant, why, account.id,
                                                                       at=now, limit=100)
                      if t.amount.is_negative()]
            claims = await uow.shop_receipts.claims([t.id for t in recent])
            for t in recent:
                if claims.get(t.id, set()) - {order_id}:  # it paid another order
                    continue
                charges.append(Charge(t.id, -t.amount.amount, t.amount.currency,
                                      t.booking_date or t.created_at.date(), t.descriptor, t.merchant,
                                      account.last4, t.mcc))
        aliases = await read_aliases(vault, uow, grant, why, merchant_slug=slug, at=now)
        others = frozenset(self._merchants[k.merchant_slug].name for k in await uow.shop_receipts.links_of(
            grant.person_id) if k.merchant_slug != slug and k.merchant_slug in self._merchants)
        match = match_receipt(receipt, charges, aliases=aliases, refused=frozenset(refused), others=others)
        waiting = [] if match is not None else await baskets.waiting_of(  # opened only when needed
            self._deps, uow, grant, slug=slug, exclude=order_id)
        if waiting:  # several orders in one charge: this one and others still waiting
            match = match_receipt(receipt, charges, aliases=aliases, refused=frozenset(refused),
                                  waiting=[w.receipt for w in waiting], others=others)
        if match is None or (len(match.transaction_ids) > 1 and order_id is None):
            return None, "waiting", ""
        if order_id is not None:
            await uow.shop_receipts.set_charges(order_id, grant.person_id, match.transaction_ids[1:])
        if match.order_refs and match.sure:  # the basket's other orders attach with this one
            await baskets.attach(self._deps, uow, grant, waiting, match.order_refs,
                                 transaction_id=match.transaction_id, why=match.why)
        # A doubtful match is asked in chat (questions.py), never shown before the answer.
        return match.transaction_id, "matched" if match.sure else "doubtful", match.why

    async def _render(self, uow: UnitOfWork, grant: Grant, txn_id: str, receipt: Receipt | None = None,
                      why: str = "") -> None:
        """The purchase's own message, edited in place: the shop's name, the receipt, the bank's
        refunds (whatever `card_extras` gives it); with a receipt, every charge that paid it."""
        ids = [txn_id]
        record = None if receipt is None else await uow.shop_receipts.for_transaction(txn_id)
        if record is not None and record.transaction_id == txn_id:
            ids += await uow.shop_receipts.charges_of(record.id)
        for one in ids:
            await self._render_one(uow, grant, one, receipt, why)

    async def show(self, uow: UnitOfWork, grant: Grant, txn_id: str, receipt: Receipt, why: str) -> None:
        """Edit a matched receipt's purchase card(s) after a change that came another way (the
        carrier's steps of its parcel, `order_parcels`)."""
        await self._render(uow, grant, txn_id, receipt, why)

    async def _render_one(self, uow: UnitOfWork, grant: Grant, txn_id: str, receipt: Receipt | None,
                          why: str) -> None:
        deps, now = self._deps, self._deps.clock.now()
        txn = await access.read_transaction(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, txn_id, at=now)
        view = await access.read_account(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, txn.account_id,
                                         at=now)
        link = await uow.links.get(view.link_id)
        thread = None if link is None or link.status != LinkStatus.ACTIVE.value else (
            await uow.threads.for_link(view.link_id))
        if thread is None:
            return
        thread = await uow.threads.lock(thread.id)
        if thread is None:
            return
        body: dict[str, Any] = transaction_card(txn, view)
        body.update(await self.card_extras(uow, grant, txn.id, body))
        if receipt is not None:  # this unit of work's receipt, whatever is stored
            body["merchant"] = receipt.shop
            charged = -Decimal(txn.amount.amount)
            body["receipt"] = (await baskets.combined_section(deps, uow, grant, txn.id, charged=charged)
                               or receipt_section(receipt, why=why, charged=charged))
        await put_card(deps, uow, grant, thread, CardKind.TRANSACTION, body, subject_key=f"txn:{txn.id}")

    async def card_extras(self, uow: UnitOfWork, grant: Grant, transaction_id: str,
                          card: Mapping[str, Any]) -> dict[str, Any]:
        """`Deps.card_extras`: what a purchase card carries once its receipt matched or the bank
        refunded some, so delivery's edits (pending -> posted) keep it. A bank refund is shown on
        its purchase's card (edited), and `shown_on` tells delivery to write none for it."""
        deps, now = self._deps, self._deps.clock.now()
        mine = Grant.for_component(grant.person_id, "receipts")
        if looks_like_refund(card):
            original = await link_refund(deps, uow, mine, transaction_id)
            if original is None:
                return {}
            await self._render(uow, mine, original)
            return {"shown_on": original}
        if not await uow.shop_receipts.has_extras(transaction_id):  # most charges: one query
            return {}
        extras = await refund_extras(deps, uow, mine, card, transaction_id)
        record = await uow.shop_receipts.for_transaction(transaction_id)
        if record is None or record.match_state != "matched":
            return extras
        kept = await access.open_order(deps.vault, uow, mine, Purpose.DELIVER_UPDATE, record, at=now)
        receipt = receipt_from_json(kept["receipt"])
        charged = -Decimal(str(card["amount"]))
        section = (await baskets.combined_section(deps, uow, mine, transaction_id, charged=charged)
                   or receipt_section(receipt, why=str(kept["why"]), charged=charged))
        return {**extras, "merchant": receipt.shop, "receipt": section}

    async def on_transaction_changed(self, event: TransactionChanged) -> None:
        """A charge arrived or changed: waiting receipts may match it now, and a card that
        has a receipt keeps it (docs/receipts.md)."""
        deps, now = self._deps, self._deps.clock.now()
        grant = Grant.for_component(event.person_id, "receipts")
        async with deps.uow() as uow:
            # The charge's unit of work (ingest) and a receipt's (`receive`) run at once: on
            # PostgreSQL (READ COMMITTED) each would miss the other's row. Under one lock per
            # person, the second reads what the first committed (this event leaves after the
            # charge's commit), so one of the two matches.
            await uow.shop_receipts.lock_person(event.person_id)
            if not await uow.shop_receipts.concerns(event.person_id, event.transaction_id):
                return  # nothing waits and nothing is paid by it (most charges): nothing to write
            pending = await uow.shop_receipts.waiting(event.person_id)
            mine = await uow.shop_receipts.for_transaction(event.transaction_id)
            for record in ([mine] if mine is not None else []) + pending:
                await self._refresh(uow, grant, record, now=now)
            await deps.commit_and_publish(uow)

    async def _refresh(self, uow: UnitOfWork, grant: Grant, record: ShopOrderRecord, *, now: Any) -> None:
        kept = await access.open_order(self._deps.vault, uow, grant, Purpose.DELIVER_UPDATE, record, at=now)
        receipt, why = receipt_from_json(kept["receipt"]), str(kept["why"])
        txn_id, state, refused = record.transaction_id, record.match_state, list(kept.get("refused") or [])
        if state == "waiting":
            txn_id, state, why = await self._match(uow, grant, receipt, slug=record.merchant_slug,
                                                   refused=refused, order_id=record.id)
            if state == "waiting":
                return
            await access.store_order(self._deps.vault, uow, grant, Purpose.DELIVER_UPDATE, order_id=record.id,
                                     merchant_slug=record.merchant_slug, order_ref=record.order_ref,
                                     transaction_id=txn_id, match_state=state,
                                     value={**kept, "why": why}, at=now)
            if state == "doubtful" and txn_id is not None:
                await questions.ask(self._deps, uow, grant, order_id=record.id, receipt=receipt,
                                    txn_id=txn_id)
        if state == "matched" and txn_id is not None:
            await self._render(uow, grant, txn_id, receipt, why)

    async def answer_question(self, grant: Grant, *, order_id: str, reply_id: str) -> None:
        """The person's Yes / No to "Is this your $42.10 order from Acme?". Errors change
        nothing: NotFound (no such question, or someone else's), InvalidInput (not yes/no),
        Conflict (already answered)."""
        if reply_id not in ("yes", "no"):
            raise InvalidInput(f"{reply_id[:16]!r} is not an answer here; answers: yes, no",
                               code="unknown_reply")
        deps, now = self._deps, self._deps.clock.now()
        async with deps.uow() as uow:
            await uow.shop_receipts.lock_person(grant.person_id)
            record = await uow.shop_receipts.order_by_id(order_id[:64])
            if record is None or record.person_id != grant.person_id:
                raise NotFound("there is no such question to answer", code="question_not_found")
            if record.match_state != "doubtful" or record.transaction_id is None:
                raise Conflict("this question was already answered", code="question_already_answered")
            mine = Grant.for_component(grant.person_id, "receipts")
            kept = await access.open_order(deps.vault, uow, mine, Purpose.DELIVER_UPDATE, record, at=now)
            receipt = receipt_from_json(kept["receipt"])
            txn = await access.read_transaction(deps.vault, uow, mine, Purpose.DELIVER_UPDATE,
                                                record.transaction_id, at=now)
            if reply_id == "yes":
                key, _ = clean_descriptor(txn.descriptor)
                if key:
                    await store_alias(deps.vault, uow, mine, Purpose.DELIVER_UPDATE,
                                      merchant_slug=record.merchant_slug, descriptor=key, shop=receipt.shop,
                                      at=now)
                why = "matched: you said so; " + str(kept["why"]).removeprefix("matched: ")
                state, txn_id, value = "matched", txn.id, {**kept, "why": why}
            else:
                state, txn_id = "waiting", None
                value = {**kept, "why": "", "refused": [*list(kept.get("refused") or []), txn.id]}
                await uow.shop_receipts.set_charges(record.id, grant.person_id, ())  # a split's others
            await access.store_order(deps.vault, uow, mine, Purpose.DELIVER_UPDATE, order_id=record.id,
                                     merchant_slug=record.merchant_slug, order_ref=record.order_ref,
                                     transaction_id=txn_id, match_state=state, value=value, at=now)
            await questions.close(deps, uow, mine, order_id=record.id, txn=txn, reply_id=reply_id)
            if state == "matched":
                await baskets.attach_confirmed(deps, uow, mine, record, receipt, txn, str(value["why"]))
                await self._render(uow, mine, txn.id, receipt, str(value["why"]))
            await deps.commit_and_publish(uow)
