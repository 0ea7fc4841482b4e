"""Following a parcel from a pasted tracking number (issue 11, docs/receipts.md): one shipping
card per parcel in the thread it was pasted into, edited in place (same subject key) as the
carrier's status moves; one notification on out-for-delivery and one on delivered; a delay or
an exception as an alert under the person's rules and quiet hours. The number is sealed
(access/parcels.py); cards, alerts and logs show the carrier and the masked number only."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from ledgerlink.domain.alerts import Alert, enabled
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.tracking import Carrier, TrackingNumber, masked
from ledgerlink.services import access
from ledgerlink.services.access.parcels import open_number, open_parcel, seal_number
from ledgerlink.services.alerts import rules as alert_rules
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.outgoing import put_card
from ledgerlink.services.messaging.ports import ThreadRecord
from ledgerlink.services.receipts.order_parcels import apply_to_order, order_with
from ledgerlink.services.receipts.ports import ParcelRecord, ParcelStatus

__all__ = ["PARCEL_ALERT", "apply_status", "follow", "poll", "run_poller"]

log = structlog.get_logger(__name__)

PARCEL_ALERT = "parcel"  # the alert kind: a switch row `parcel` turns delays/exceptions off
WORDS = {"label_created": "Label created", "picked_up": "Picked up", "in_transit": "In transit",
         "delayed": "Delayed", "out_for_delivery": "Out for delivery",
         "failed_attempt": "Delivery attempted, nobody home",
         "exception": "Exception: going back to the sender",
         "delivered": "Delivered"}
_NOTIFY = {"out_for_delivery": "Your {carrier} parcel {masked} is out for delivery today.",
           "delivered": "Your {carrier} parcel {masked} was delivered."}
_ALERTS = {"delayed": "Your {carrier} parcel {masked} is delayed.",
           "failed_attempt": "The carrier could not deliver your {carrier} parcel {masked}: nobody was home.",
           "exception": "Your {carrier} parcel {masked} had a problem and is going back to the sender."}
_DONE = ("delivered", "exception")


def _card(carrier: Carrier, shown: str, status: ParcelStatus) -> dict[str, object]:
    lines = [f"{carrier.label} parcel {shown}: {WORDS.get(status.status, status.status)}"]
    if status.eta is not None:
        lines.append(f"Expected by {status.eta:%a %d %b}")
    lines += [f"• {WORDS.get(s, s)}, {at:%d %b %H:%M} UTC" for s, at in status.events]
    return {"text": "\n".join(lines), "tone": "info", "actions": [], "from": "ledgerlink",
            "shipment": {"carrier": carrier.value, "number": shown, "status": status.status,
                         "eta": status.eta.isoformat() if status.eta else None,
                         "timeline": [{"status": s, "at": at.isoformat()} for s, at in status.events]}}


async def follow(deps: Deps, grant: Grant, thread: ThreadRecord, parcel: TrackingNumber) -> str:
    """Start following the parcel (once per person and number) and put its card; the reply."""
    assert deps.carrier is not None
    now = deps.clock.now()
    try:
        status = await deps.carrier.track(parcel.number)
    except InvalidInput:
        return f"{parcel.carrier.label} has no parcel {parcel.masked} yet; please check the number."
    except ConnectionError as exc:
        log.warning("carrier_unreachable", carrier=parcel.carrier.value, reason=str(exc))
        return f"{parcel.carrier.label} cannot be reached just now; please paste {parcel.masked} again later."
    async with deps.uow() as uow:
        for known in await uow.parcels.for_person(grant.person_id):
            if known.carrier == parcel.carrier.value and await open_number(
                    deps.vault, uow, grant, Purpose.DELIVER_UPDATE, known, at=now) == parcel.number:
                await deps.commit_and_publish(uow)
                return f"I'm already following your {parcel.carrier.label} parcel {parcel.masked}."
        order = await order_with(deps, uow, grant, parcel.number)  # a receipt's parcel: its card
        order_id = None if order is None else order.id
        parcel_id = new_id("pcl")
        record = ParcelRecord(id=parcel_id, person_id=grant.person_id, thread_id=thread.id,
                              carrier=parcel.carrier.value, status="",
                              sealed=await seal_number(deps.vault, grant, parcel_id=parcel_id,
                                                       number=parcel.number, order_id=order_id),
                              notified="", active=1, created_at=now, updated_at=now)
        shown_on = await _apply(deps, uow, grant, thread, record, parcel.masked, status, order_id=order_id)
        await deps.commit_and_publish(uow)
    try:  # pushed updates as well as polling, when the carrier offers them
        pushed = await deps.carrier.watch(parcel.number, reference=parcel_id)
    except (InvalidInput, ConnectionError) as exc:
        pushed = False
        log.warning("carrier_watch_failed", carrier=parcel.carrier.value, reason=type(exc).__name__)
    log.info("parcel_followed", carrier=parcel.carrier.value, parcel_id=parcel_id, of_order=order is not None,
             pushed=pushed)
    if order is not None:
        where = ("that purchase's card" if shown_on else
                 "its receipt, and on the purchase's card once the receipt is attached to its charge")
        return (f"That's the {parcel.carrier.label} parcel {parcel.masked} of your order {order.order_ref}: "
                f"I'll follow it and show its steps on {where}.")
    return f"Following your {parcel.carrier.label} parcel {parcel.masked}: I'll update its card as it moves."


async def _apply(deps: Deps, uow: UnitOfWork, grant: Grant, thread: ThreadRecord, record: ParcelRecord,
                 shown: str, status: ParcelStatus, *, order_id: str | None = None) -> str | None:
    """The status on the parcel's own card, or on its order's purchase card (`order_id`: then
    the charge whose card shows it, None while the receipt is not attached); then what is told."""
    carrier = Carrier(record.carrier)
    shown_on = None
    if order_id is not None:
        shown_on = await apply_to_order(deps, uow, grant, order_id, status)
    else:
        await put_card(deps, uow, grant, thread, CardKind.TEXT, _card(carrier, shown, status),
                       subject_key=f"parcel:{record.id}")
    told = set(filter(None, record.notified.split(",")))
    seen = {s for s, _ in status.events}
    words = {"carrier": carrier.label, "masked": shown}
    for step, text in _NOTIFY.items():
        if step in seen and step not in told:
            told.add(step)
            await put_card(deps, uow, grant, thread, CardKind.TEXT,
                           {"text": text.format(**words), "actions": [], "from": "ledgerlink",
                            "tone": "success" if step == "delivered" else "info"},
                           subject_key=f"parcel:{record.id}:{step}")
    new_alerts = [s for s in _ALERTS if s in seen and s not in told]
    if new_alerts:
        rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.DELIVER_UPDATE,
                                              at=deps.clock.now())
        for step in new_alerts:
            told.add(step)
            if enabled(rules, PARCEL_ALERT):
                alert = Alert(kind=PARCEL_ALERT, subject_key=f"parcel:{record.id}:{step}",
                              text=_ALERTS[step].format(**words), tone="warning")
                await alert_rules.send(deps, uow, grant, thread, alert, rules)
    await uow.parcels.put(ParcelRecord(
        id=record.id, person_id=record.person_id, thread_id=record.thread_id, carrier=record.carrier,
        sealed=record.sealed, status=status.status, notified=",".join(sorted(told)),
        active=0 if status.status in _DONE else 1, created_at=record.created_at, updated_at=deps.clock.now()))
    return shown_on


async def poll(deps: Deps, *, batch: int = 200) -> int:
    """Ask the carrier about every parcel still moving; edit the cards that moved. The count."""
    if deps.carrier is None:
        return 0
    async with deps.uow() as uow:
        parcels = await uow.parcels.active(batch)
        await uow.commit()
    moved = 0
    for record in parcels:
        grant = Grant.for_component(record.person_id, "delivery")
        async with deps.uow() as uow:
            number, _ = await open_parcel(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, record,
                                          at=deps.clock.now())
            await uow.commit()
        try:
            status = await deps.carrier.track(number)
        except (InvalidInput, ConnectionError) as exc:
            log.warning("parcel_poll_failed", carrier=record.carrier, parcel_id=record.id,
                        reason=type(exc).__name__)
            continue
        if status.status == record.status:
            continue
        async with deps.uow() as uow:
            fresh = await uow.parcels.get(record.id)  # a pushed update may have come meanwhile
            if fresh is not None and await apply_status(deps, uow, fresh, status):
                moved += 1
            await deps.commit_and_publish(uow)
    return moved


async def apply_status(deps: Deps, uow: UnitOfWork, record: ParcelRecord, status: ParcelStatus) -> bool:
    """A carrier's status for a followed parcel, polled or pushed (carrier_events), inside the
    caller's unit of work: its card (or its receipt's) edited, the steps told once. False when
    it says nothing new (the same status and steps) or the parcel's thread is gone."""
    grant = Grant.for_component(record.person_id, "delivery")
    if status.status == record.status:
        return False
    thread = await uow.threads.get(record.thread_id)
    if thread is None:
        return False
    number, order_id = await open_parcel(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, record,
                                         at=deps.clock.now())
    await _apply(deps, uow, grant, thread, record, masked(number), status, order_id=order_id)
    return True


async def run_poller(deps: Deps, interval: float, *, tick: float = 1.0) -> None:
    """Background task (embedded default; the scale-out profile runs `poll` as a cluster job):
    a poll at start, then each time `interval` seconds have passed on the injected clock,
    looked at every `tick` seconds."""
    due = deps.clock.now()
    while True:
        now = deps.clock.now()
        if now >= due:
            due = now + timedelta(seconds=interval)
            try:
                await poll(deps)
            except Exception as exc:  # the next period tries again
                log.warning("parcel_poll_failed", reason=type(exc).__name__)
        await asyncio.sleep(min(tick, interval))
