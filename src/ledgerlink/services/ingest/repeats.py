"""A bank resending an event that is already stored (issue 12). Standard Webhooks senders retry
until they get a 2xx, so a resend of the same webhook id with the same content is answered as
received (200, nothing stored again); the same id with different content stays a 409: the
sender reused an id, and which content is right is not ours to guess.

"Same content" is the event's type and data as parsed JSON, written canonically (key order and
whitespace do not matter; 1 and 1.0 do). The stored copy is sealed, so it is opened through the
audited access function, as the inbox worker opens it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ledgerlink.domain.errors import Conflict
from ledgerlink.domain.privacy import Grant
from ledgerlink.services import access
from ledgerlink.services.access.vault import PersonKeyMissing
from ledgerlink.services.kernel.deps import Deps

__all__ = ["different", "same_event", "stored_matches", "unverifiable"]


def same_event(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two accepted payloads carry the same event (type and data)."""
    return _canonical(a) == _canonical(b)


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps([payload.get("type"), payload.get("data")], sort_keys=True, separators=(",", ":"))


def different() -> Conflict:
    return Conflict("this event id was already received with a different body: give a changed "
                    "event its own webhook-id", code="duplicate_event")


def unverifiable() -> Conflict:
    return Conflict("this event id was already received, and the stored event can no longer be "
                    "compared (purged or erased)", code="duplicate_event")


async def stored_matches(deps: Deps, events: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, bool | None]:
    """Per inbox id: True when the stored event is the same as `payload`, False when it differs,
    None when it cannot be compared (the row or its content is gone, or its key was erased)."""
    now = deps.clock.now()
    out: dict[str, bool | None] = {}
    async with deps.uow() as uow:  # reading a sealed event is audited: a write
        for inbox_id, payload in events:
            record = await uow.inbox.get(inbox_id)
            if record is None or record.person_id is None or record.sealed is None:
                out[inbox_id] = None
                continue
            grant = Grant.for_component(record.person_id, "ingest")
            try:
                stored = await access.open_inbox_payload(deps.vault, uow, grant, record, at=now)
            except PersonKeyMissing:
                out[inbox_id] = None
                continue
            out[inbox_id] = same_event(stored, payload)
        await uow.commit()
    return out
