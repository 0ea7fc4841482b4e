"""Receipts from merchants (issue 11): merchant links, orders (sealed), seen event ids."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, exists, insert, literal, or_, select, text, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _Repo, _values
from ledgerlink.adapters.db.lean import lean
from ledgerlink.services.receipts.ports import (
    BankRefundRecord,
    MerchantAliasRecord,
    MerchantLinkRecord,
    ReceiptAddressRecord,
    ShopOrderRecord,
)
from ledgerlink.services.receipts.questions import SUBJECT_PREFIX

# Asked on every charge (the receipts consumer, and delivery's card extras), almost always
# answered no: one indexed statement each, on the lean path (built once, see lean.py).
_TXN = bindparam("transaction_id", type_=s.shop_orders.c.transaction_id.type)
_ORDERED = exists().where(s.shop_orders.c.transaction_id == _TXN)
_CHARGED = exists().where(s.shop_order_charges.c.transaction_id == _TXN)
_CONCERNS = lean(select(or_(
    exists().where(s.shop_orders.c.person_id == bindparam("person_id"),
                   s.shop_orders.c.match_state == "waiting"),
    _ORDERED, _CHARGED)))
_HAS_EXTRAS = lean(select(or_(
    exists().where(s.bank_refunds.c.original_transaction_id == _TXN), _ORDERED, _CHARGED)))


class SqlShopReceipts(_Repo):
    async def lock_person(self, person_id: str) -> None:
        if self._conn.dialect.name == "postgresql":
            key = zlib.crc32(f"receipts:{person_id}".encode())
            await self._conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    async def add_link(self, record: MerchantLinkRecord) -> None:
        await self._conn.execute(insert(s.merchant_links).values(_values(record, s.merchant_links)))

    async def link_for(self, merchant_slug: str, customer_ref: str) -> MerchantLinkRecord | None:
        t = s.merchant_links
        return await self._one(MerchantLinkRecord, select(t).where(
            t.c.merchant_slug == merchant_slug, t.c.customer_ref == customer_ref))

    async def links_of(self, person_id: str) -> list[MerchantLinkRecord]:
        t = s.merchant_links
        return await self._many(MerchantLinkRecord, select(t).where(t.c.person_id == person_id)
                                .order_by(t.c.created_at, t.c.id))

    async def question_of(self, person_id: str, message_id: str) -> str | None:
        m = s.messages
        row = (await self._conn.execute(select(m.c.subject_key).where(
            m.c.id == message_id, m.c.person_id == person_id))).first()
        key = None if row is None else row[0]
        return key.removeprefix(SUBJECT_PREFIX) if key and key.startswith(SUBJECT_PREFIX) else None

    async def open_question(self, person_id: str, thread_id: str) -> tuple[str, datetime] | None:
        m, o = s.messages, s.shop_orders
        row = (await self._conn.execute(
            select(o.c.id, m.c.created_at)
            .select_from(m.join(o, m.c.subject_key == literal(SUBJECT_PREFIX) + o.c.id))
            .where(m.c.thread_id == thread_id, m.c.person_id == person_id, o.c.person_id == person_id,
                   o.c.match_state == "doubtful")
            .order_by(m.c.seq.desc()).limit(1))).first()
        return None if row is None else (str(row[0]), row[1])

    async def seen(self, merchant_slug: str, event_id: str, person_id: str, at: datetime) -> bool:
        t = s.merchant_events
        found = (await self._conn.execute(select(t.c.id).where(
            t.c.merchant_slug == merchant_slug, t.c.id == event_id))).first()
        if found is not None:
            return True
        await self._conn.execute(insert(t).values(merchant_slug=merchant_slug, id=event_id,
                                                  person_id=person_id, received_at=at))
        return False

    async def order(self, merchant_slug: str, order_ref: str) -> ShopOrderRecord | None:
        t = s.shop_orders
        return await self._one(ShopOrderRecord, select(t).where(
            t.c.merchant_slug == merchant_slug, t.c.order_ref == order_ref))

    async def order_by_id(self, order_id: str) -> ShopOrderRecord | None:
        t = s.shop_orders
        return await self._one(ShopOrderRecord, select(t).where(t.c.id == order_id))

    async def put_order(self, record: ShopOrderRecord) -> None:
        t = s.shop_orders
        values = _values(record, t)
        done = await self._conn.execute(update(t).where(t.c.id == record.id).values(values))
        if not done.rowcount:
            await self._conn.execute(insert(t).values(values))

    async def waiting(self, person_id: str) -> list[ShopOrderRecord]:
        t = s.shop_orders
        return await self._many(ShopOrderRecord, select(t).where(
            t.c.person_id == person_id, t.c.match_state == "waiting").order_by(t.c.updated_at))

    async def orders_of(self, person_id: str) -> list[ShopOrderRecord]:
        t = s.shop_orders
        return await self._many(ShopOrderRecord, select(t).where(t.c.person_id == person_id)
                               .order_by(t.c.updated_at, t.c.id))

    async def concerns(self, person_id: str, transaction_id: str) -> bool:
        given = {"person_id": person_id, "transaction_id": transaction_id}
        result = await self._conn.execute(_CONCERNS, given)
        return bool(result.scalar())

    async def has_extras(self, transaction_id: str) -> bool:
        result = await self._conn.execute(_HAS_EXTRAS, {"transaction_id": transaction_id})
        return bool(result.scalar())

    async def for_transaction(self, transaction_id: str) -> ShopOrderRecord | None:
        t, more = s.shop_orders, s.shop_order_charges
        return await self._one(ShopOrderRecord, select(t).where(or_(
            t.c.transaction_id == transaction_id,
            t.c.id.in_(select(more.c.order_id).where(more.c.transaction_id == transaction_id)))))

    async def claims(self, transaction_ids: Sequence[str]) -> dict[str, set[str]]:
        t, more = s.shop_orders, s.shop_order_charges
        ids, out = list(transaction_ids), dict[str, set[str]]()
        if ids:
            first = select(t.c.transaction_id, t.c.id).where(t.c.transaction_id.in_(ids))
            further = select(more.c.transaction_id, more.c.order_id).where(more.c.transaction_id.in_(ids))
            for stmt in (first, further):
                for transaction_id, order_id in (await self._conn.execute(stmt)).all():
                    out.setdefault(transaction_id, set()).add(order_id)
        return out

    async def orders_for_transaction(self, transaction_id: str) -> list[ShopOrderRecord]:
        t = s.shop_orders
        return await self._many(ShopOrderRecord, select(t).where(t.c.transaction_id == transaction_id)
                                .order_by(t.c.order_ref, t.c.id))

    async def set_charges(self, order_id: str, person_id: str, transaction_ids: Sequence[str]) -> None:
        """The order's charges after its first (`shop_orders.transaction_id`): a split shipment."""
        more = s.shop_order_charges
        await self._conn.execute(delete(more).where(more.c.order_id == order_id))
        for tid in transaction_ids:
            await self._conn.execute(insert(more).values(transaction_id=tid, order_id=order_id,
                                                         person_id=person_id))

    async def charges_of(self, order_id: str) -> list[str]:
        more = s.shop_order_charges
        rows = await self._conn.execute(select(more.c.transaction_id).where(
            more.c.order_id == order_id).order_by(more.c.transaction_id))
        return [str(r[0]) for r in rows]

    async def add_refund(self, record: BankRefundRecord) -> None:
        await self._conn.execute(insert(s.bank_refunds).values(_values(record, s.bank_refunds)))

    async def refund(self, refund_transaction_id: str) -> BankRefundRecord | None:
        t = s.bank_refunds
        return await self._one(BankRefundRecord, select(t).where(
            t.c.refund_transaction_id == refund_transaction_id))

    async def refunds_of(self, original_transaction_id: str) -> list[BankRefundRecord]:
        t = s.bank_refunds
        return await self._many(BankRefundRecord, select(t).where(
            t.c.original_transaction_id == original_transaction_id).order_by(t.c.created_at))

    async def add_alias(self, record: MerchantAliasRecord) -> None:
        await self._conn.execute(insert(s.merchant_aliases).values(_values(record, s.merchant_aliases)))

    async def aliases(self, person_id: str) -> list[MerchantAliasRecord]:
        t = s.merchant_aliases
        return await self._many(MerchantAliasRecord, select(t).where(
            t.c.person_id == person_id).order_by(t.c.created_at))

    async def add_address(self, record: ReceiptAddressRecord) -> None:
        await self._conn.execute(insert(s.receipt_addresses).values(_values(record, s.receipt_addresses)))

    async def address_of(self, person_id: str) -> ReceiptAddressRecord | None:
        t = s.receipt_addresses
        return await self._one(ReceiptAddressRecord, select(t).where(t.c.person_id == person_id))

    async def address_by_hash(self, token_hash: str) -> ReceiptAddressRecord | None:
        t = s.receipt_addresses
        return await self._one(ReceiptAddressRecord, select(t).where(t.c.token_hash == token_hash))
