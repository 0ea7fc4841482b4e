"""What the receipt questions read (issue 11, docs/receipts.md "Questions"): the person's receipts
(sealed shop orders) and the parcels they follow, each opened through the access layer for the
declared purpose of answering their question (`Purpose.ANSWER_QUESTION`, audited per row).
Tracking numbers leave this module masked; the carrier is asked about a followed parcel for
its current status and ETA (the number in the request body, as the poller sends it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

import structlog

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.receipts import Receipt, receipt_from_json
from ledgerlink.domain.tracking import Carrier, masked
from ledgerlink.domain.zones import tz
from ledgerlink.services import access
from ledgerlink.services.access.parcels import open_number
from ledgerlink.services.kernel.deps import Deps

__all__ = ["DONE", "HeldReceipt", "OpenParcel", "open_parcels", "person_zone", "receipts", "shop_matches"]

log = structlog.get_logger(__name__)

DONE = frozenset({"delivered", "exception"})  # a parcel no longer on its way (as parcels.py)


@dataclass(frozen=True, slots=True)
class HeldReceipt:
    order_id: str
    state: str  # matched | waiting | doubtful (an unreadable email holds no receipt)
    transaction_id: str | None  # the charge it is attached to; None unless matched
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class OpenParcel:
    carrier: str  # the carrier's name as people know it ("UPS")
    shown: str  # the masked tracking number
    status: str  # the carrier's step (label_created .. out_for_delivery); "" not known yet
    at: datetime | None  # when that step was reached
    eta: date | None  # the expected delivery day, in the person's zone
    order: str | None  # "order A-1 from Acme Outfitters" for a receipt's parcel


def shop_matches(asked: str, shop: str) -> bool:
    """Whether the shop the person named is this one: every word they said begins a word of
    the shop's name ("acme" is "Acme Outfitters"; "me" is not)."""
    said = [w for w in _words(asked) if w not in ("the", "a", "an")]
    words = _words(shop)
    return bool(said) and all(any(w.startswith(s) for w in words) for s in said)


def _words(text: str) -> list[str]:
    return "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()


async def person_zone(deps: Deps, grant: Grant) -> tzinfo:
    """The person's chosen IANA zone (UTC until they choose one)."""
    async with deps.uow() as uow:
        person = await uow.persons.get(grant.person_id)
    return tz(person.zone) if person is not None and person.zone else UTC


async def receipts(deps: Deps, grant: Grant) -> list[HeldReceipt]:
    """Every receipt of the person, oldest first."""
    now = deps.clock.now()
    out = []
    async with deps.uow() as uow:
        for record in await uow.shop_receipts.orders_of(grant.person_id):
            if record.match_state == "unreadable":
                continue  # a kept email without markup: no receipt in it to answer from
            value = await access.open_order(deps.vault, uow, grant, Purpose.ANSWER_QUESTION, record, at=now)
            if not isinstance(value.get("receipt"), dict):
                continue
            txn = record.transaction_id if record.match_state == "matched" else None
            out.append(HeldReceipt(record.id, record.match_state, txn, receipt_from_json(value["receipt"])))
        await uow.commit()  # the audit entries
    return sorted(out, key=lambda h: h.receipt.placed_at)


async def open_parcels(deps: Deps, grant: Grant, held: list[HeldReceipt], zone: tzinfo) -> list[OpenParcel]:
    """The parcels on their way: those followed from a pasted number (asked of the carrier now,
    the last status polled when it cannot be reached) and those of receipts, once each."""
    now = deps.clock.now()
    followed: list[tuple[str, str, str]] = []
    async with deps.uow() as uow:
        for record in await uow.parcels.for_person(grant.person_id):
            if record.active:
                number = await open_number(deps.vault, uow, grant, Purpose.ANSWER_QUESTION, record, at=now)
                followed.append((record.carrier, number, record.status))
        await uow.commit()
    out, seen = [], set()
    for carrier, number, polled in followed:
        seen.add(number)
        status, at, eta = polled, None, None
        if deps.carrier is not None:
            try:
                found = await deps.carrier.track(number)
            except (InvalidInput, ConnectionError) as exc:
                log.warning("parcel_question_track_failed", carrier=carrier, reason=type(exc).__name__)
            else:
                status = found.status
                at = found.events[-1][1] if found.events else None
                eta = None if found.eta is None else found.eta.astimezone(zone).date()
        if status not in DONE:
            label = Carrier(carrier).label if carrier in Carrier._value2member_map_ else carrier
            out.append(OpenParcel(label, masked(number), status, at, eta, None))
    for h in held:
        r = h.receipt
        status = r.timeline[-1].get("status", "") if r.timeline else ""
        if not (r.carrier or r.tracking) or status in DONE or (r.tracking and r.tracking in seen):
            continue
        at = _instant(r.timeline[-1].get("at")) if r.timeline else None
        out.append(OpenParcel(r.carrier or "", masked(r.tracking) if r.tracking else "",
                              status, at, r.eta, f"order {r.order_ref} from {r.shop}"))
    return out


def _instant(value: object) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
