"""Shop links, receipts and parcels in the person's JSON export (issue 11; schema:
docs/export-schema.json `shop_links`, `shop_consents`, `shop_aliases`, `shop_orders`, `parcels`):
each shop link (the shop's customer id) and every consent given to a shop, with its signed
receipt but never its tokens, PKCE verifier, OAuth state or feed cursor; the charges the person
said were a shop; every order held for them (from a linked shop or a receipt email, its
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
from ledgerlink.services.access.shop_receipts import open_aliases
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.ports import MessageView
from ledgerlink.services.receipts.ports import ShopOrderRecord

__all__ = ["parcels_json", "shop_aliases_json", "shop_consents_json", "shop_links_json", "shop_orders_json"]


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


async def shop_links_json(uow: UnitOfWork, person_id: str) -> list[dict[str, Any]]:
    """Ids, the shop and its customer id for the person: nothing sealed is held on a link row."""
    return [{"id": link.id, "shop": link.merchant_slug, "customer_id": link.customer_ref,
             "created_at": link.created_at.isoformat()}
            for link in await uow.shop_receipts.links_of(person_id)]  # fmt: skip


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


async def shop_consents_json(uow: UnitOfWork, person_id: str) -> list[dict[str, Any]]:
    """Every consent, started, given or ended. Its `sealed` secrets (the verifier, the tokens),
    the OAuth state and the shop's feed cursor stay out: they are keys, not the person's data."""
    return [{"id": c.id, "shop": c.merchant_slug, "link_id": c.link_id, "status": c.status,
             "scopes": c.scopes.split(), "renews": c.renews, "ended_by": c.ended_by,
             "expires_at": _iso(c.expires_at), "synced_at": _iso(c.synced_at),
             "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat(),
             "consent_receipt_jws": c.receipt_jws}
            for c in await uow.merchant_consents.of_person(person_id)]  # fmt: skip


async def shop_aliases_json(vault: Vault, uow: UnitOfWork, grant: Grant, *,
                            at: datetime) -> list[dict[str, Any]]:
    """The descriptors the person's "Yes, that's it" taught as a shop's (opened, audited)."""
    opened = await open_aliases(vault, uow, grant, Purpose.PERSON_EXPORT, at=at)
    return [{"id": record.id, "shop": record.merchant_slug, "shop_name": str(value.get("shop", "")),
             "descriptor": str(value.get("descriptor", "")), "created_at": record.created_at.isoformat()}
            for record, value in opened]  # fmt: skip
