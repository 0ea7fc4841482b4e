"""Tracking updates pushed by a carrier (issue 11, docs/receipts.md "Tracking numbers"), instead
of only polling: `POST /partners/carriers/{slug}/events`, Standard Webhooks signed with the
secret we gave the carrier when subscribing. Verified on the raw body, then deduped on the
webhook id, then parsed, then applied through the same path as a poll (`parcels.apply_status`),
all in one unit of work: a refused event stores nothing, not even its id.

The event names our parcel by the reference we gave (its id), never by the tracking number."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.receipts import SHIPMENT_STATUSES
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.receipts import parcels
from ledgerlink.services.receipts.ports import ParcelStatus

__all__ = ["EVENT_TYPE", "CarrierEvents", "parse_update"]

EVENT_TYPE = "tracking.updated"
MAX_EVENTS = 50
KEEP_IDS = timedelta(days=7)  # seen webhook ids kept this long (Standard Webhooks retries for ~1 day)
_REFERENCE = re.compile(r"pcl_[0-9a-f]{1,60}")


def _bad(field: str, why: str) -> InvalidInput:
    return InvalidInput(f"{field}: {why}", code="malformed_payload")


def _instant(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise _bad(field, "an ISO 8601 instant with its UTC offset")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(field, "an ISO 8601 instant with its UTC offset") from None
    if at.tzinfo is None:
        raise _bad(field, "an ISO 8601 instant with its UTC offset (this one has none)")
    return at


def _status(value: object, field: str) -> str:
    if not isinstance(value, str) or value not in SHIPMENT_STATUSES:
        raise _bad(field, f"one of {', '.join(SHIPMENT_STATUSES)}")
    return value


def parse_update(body: bytes) -> tuple[str, ParcelStatus]:
    """(our parcel id, the carrier's status) of a `tracking.updated` event, or InvalidInput
    naming the field (`malformed_payload`; another type: `unknown_event_type`)."""
    try:
        event = json.loads(body)
    except ValueError:
        raise _bad("body", "a JSON object") from None
    if not isinstance(event, dict):
        raise _bad("body", "a JSON object")
    if event.get("type") != EVENT_TYPE:
        raise InvalidInput(f"type: {EVENT_TYPE!r} is the only event taken here", code="unknown_event_type")
    data = event.get("data")
    if not isinstance(data, dict):
        raise _bad("data", "an object")
    reference = data.get("reference")
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise _bad("data.reference", "the parcel reference given when following it (pcl_...)")
    status = _status(data.get("status"), "data.status")
    eta = None if data.get("eta") is None else _instant(data.get("eta"), "data.eta")
    raw = data.get("events")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_EVENTS:
        raise _bad("data.events", f"a list of 1 to {MAX_EVENTS} steps")
    events = []
    for i, step in enumerate(raw):
        if not isinstance(step, dict):
            raise _bad(f"data.events[{i}]", "an object with status and at")
        events.append((_status(step.get("status"), f"data.events[{i}].status"),
                       _instant(step.get("at"), f"data.events[{i}].at")))
    if events[-1][0] != status:
        raise _bad("data.status", "the status of the last step in data.events")
    return reference, ParcelStatus(status=status, eta=eta, events=events)


class CarrierEvents:
    """`secrets`: per carrier slug, the Standard Webhooks secrets it signs with (rotation)."""

    def __init__(self, deps: Deps, secrets: Mapping[str, Sequence[str]]) -> None:
        self._deps = deps
        self._secrets = {slug: tuple(s) for slug, s in secrets.items()}

    async def receive(self, slug: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        secrets = self._secrets.get(slug)
        if not secrets:
            raise NotFound("no such carrier", code="unknown_partner")
        deps, now = self._deps, self._deps.clock.now()
        deps.verifier.verify(secrets, body, headers)  # 401: bad_signature, stale_timestamp, ...
        event_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        async with deps.uow() as uow:
            if await uow.platforms.seen(f"carrier:{slug}"[:16], event_id[:255], at=now):
                return {"id": event_id, "status": "already_received"}
            reference, status = parse_update(body)
            record = await uow.parcels.get(reference)
            if record is None:
                raise NotFound("no parcel is followed under this reference", code="unknown_shipment")
            moved = await parcels.apply_status(deps, uow, record, status)
            await uow.platforms.purge(before=now - KEEP_IDS)  # the same table and age as Messenger's keys
            await deps.commit_and_publish(uow)
        return {"id": event_id, "status": "accepted", "moved": moved}
