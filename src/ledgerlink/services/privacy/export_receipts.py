"""Receipts and parcels in the person's JSON export (issue 11; schema: docs/export-schema.json
`shop_orders`, `parcels`): every order held for them (from a linked shop or a receipt email, its
line items, totals, match and parcel with its timeline), a kept email that could not be read
(the message itself, as it came), and each parcel followed from a pasted number with the
carrier's steps its card showed. Opened through the access layer under person_export, each row
audited. Tracking numbers are in full: this is the person's own copy of their data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.receipts import receipt_from_json
from ledgerlink.services import access
from ledgerlink.services.access.parcels import open_number
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.ports import MessageView
from ledgerlink.services.receipts.ports import ShopOrderRecord

__all__ = ["parcels_json", "shop_orders_json"]


def _events(timeline: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"status": str(e.get("status", "")), "at": str(e.get("at", ""))}
            for e in timeline if isinstance(e, dict)]


def _order_json(record: ShopOrderRecord, value: dict[str, Any], more: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id, "source": record.merchant_slug, "order_ref": record.order_ref,
        "state": record.match_state, "transaction_id": record.transaction_id,
        "other_transaction_ids": more, "updated_at": record.updated_at.isoformat(),
        "match_explanation": str(value.get("why") or "") or None,
        "refused_transaction_ids": [str(t) for t in value.get("refused") or []],
        "receipt": None, "unreadable": None,
    }  # fmt: skip
    if isinstance(value.get("receipt"), dict):
        r = receipt_from_json(value["receipt"])
        out["receipt"] = {
            "shop": r.shop, "currency": r.currency, "placed_at": r.placed_at.isoformat(),
            "shipped_at": None if r.shipped_at is None else r.shipped_at.isoformat(),
            "order_url": r.order_url, "card_last4": r.card_last4,
            "line_items": [{"name": i.name, "quantity": i.quantity, "unit_price": str(i.unit_price),
                            "total": str(i.unit_price * i.quantity)} for i in r.items],
            "subtotal": str(r.subtotal), "tax": str(r.tax), "shipping": str(r.shipping),
            "total": str(r.total), "refunded": str(r.refunded),
            "parcel": None if not (r.carrier or r.tracking or r.timeline) else {
                "carrier": r.carrier, "tracking_number": r.tracking,
                "status": r.timeline[-1].get("status") if r.timeline else None,
                "eta": None if r.eta is None else r.eta.isoformat(), "events": _events(r.timeline)},
        }  # fmt: skip
    else:  # an email kept without readable markup: the message as it came, and why
        out["unreadable"] = {"reason": str(value.get("why", "")), "email_base64": str(value.get("email", ""))}
    return out


async def shop_orders_json(vault: Vault, uow: UnitOfWork, grant: Grant, *,
                           at: datetime) -> list[dict[str, Any]]:
    out = []
    for record in await uow.shop_receipts.orders_of(grant.person_id):
        value = await access.open_order(vault, uow, grant, Purpose.PERSON_EXPORT, record, at=at)
        out.append(_order_json(record, value, await uow.shop_receipts.charges_of(record.id)))
    return out


async def parcels_json(vault: Vault, uow: UnitOfWork, grant: Grant, messages: Sequence[MessageView],
                       *, at: datetime) -> list[dict[str, Any]]:
    """`messages`: the export's opened messages, whose parcel cards hold the steps and ETA."""
    cards = {m.subject_key: m.body.get("shipment") for m in messages if m.subject_key}
    out = []
    for record in await uow.parcels.for_person(grant.person_id):
        number = await open_number(vault, uow, grant, Purpose.PERSON_EXPORT, record, at=at)
        card = cards.get(f"parcel:{record.id}")
        shown = card if isinstance(card, dict) else {}
        out.append({
            "id": record.id, "thread_id": record.thread_id, "carrier": record.carrier,
            "tracking_number": number, "status": record.status or None, "active": bool(record.active),
            "notified": [s for s in record.notified.split(",") if s],
            "eta": shown.get("eta") if isinstance(shown.get("eta"), str) else None,
            "events": _events(shown.get("timeline") or []),
            "created_at": record.created_at.isoformat(), "updated_at": record.updated_at.isoformat(),
        })  # fmt: skip
    return out
