"""What the front door decides before a bank event's body is verified: its size, its media type
and the length of its webhook id (the header checks), and the refusals they raise; and the
event's shape (`validate_event`), checked before anything is stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgerlink.domain.errors import DomainError, InvalidInput
from ledgerlink.services.ingest.account_events import HANDLERS as ACCOUNT_EVENT_HANDLERS
from ledgerlink.services.ingest.wire import parse_balance, parse_transaction

ACCOUNT_EVENTS = frozenset({"transaction.updated", "transaction.removed", "balance.updated"})
EVENT_TYPES = ACCOUNT_EVENTS | {"consent.revoked"}

MAX_BODY = 256 * 1024
# The inbox row id is "{partner id}:{webhook-id}" in a 200-character column; partner ids are at
# most 40 characters (adapters/db/schema.py, `inbox.id` and `partners.id`).
MAX_WEBHOOK_ID = 150


class PayloadTooLarge(DomainError):
    """The body (declared or read) is over `MAX_BODY`: refused before any signature work."""

    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge("the event body is larger than 256 KiB: split the event")


def check_headers(headers: Mapping[str, str]) -> None:
    """What the headers alone decide, before the body is read: the declared size, the media type
    and the length of the webhook id. `headers` has lower-case names (as ASGI gives them) or is
    case-insensitive (Starlette's `Headers`)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large()
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaType("send the event as Content-Type: application/json")
    if len(headers.get("webhook-id", "")) > MAX_WEBHOOK_ID:
        raise InvalidInput(f"webhook-id must be at most {MAX_WEBHOOK_ID} characters",
                           code="webhook_id_too_long")


def validate_event(envelope: Any) -> tuple[str, dict[str, Any], str | None, str | None]:
    """Check the event's shape before anything is stored. Returns type, data, account, consent."""
    if not isinstance(envelope, dict):
        raise InvalidInput("the event must be a JSON object", code="malformed_event")
    event_type = envelope.get("type")
    data = envelope.get("data")
    if not isinstance(event_type, str):
        raise InvalidInput("the event has no string field 'type'", code="malformed_event")
    if event_type not in EVENT_TYPES and event_type not in ACCOUNT_EVENT_HANDLERS:
        raise InvalidInput(f"unknown event type {event_type[:64]!r}", code="unknown_event_type")
    if not isinstance(data, dict):
        raise InvalidInput("the event has no object field 'data'", code="malformed_event")
    consent_id = data.get("consent_id")
    if consent_id is not None and not isinstance(consent_id, str):
        raise InvalidInput("data.consent_id must be a string", code="malformed_event")
    if event_type == "consent.revoked":
        if not consent_id:
            raise InvalidInput("data.consent_id is required", code="malformed_event")
        return event_type, data, None, consent_id
    account_id = data.get("account_id")
    if not isinstance(account_id, str) or not account_id:
        raise InvalidInput("data.account_id is required", code="malformed_event")
    if event_type == "transaction.updated":
        txn = parse_transaction(data.get("transaction"), "data.transaction")
        if txn.bank_account_id != account_id:
            raise InvalidInput(
                "data.transaction.account_id differs from data.account_id", code="malformed_event"
            )
    elif event_type == "balance.updated":
        bal = parse_balance(data.get("balance"), "data.balance")
        if bal.bank_account_id != account_id:
            raise InvalidInput("data.balance.account_id differs from data.account_id", code="malformed_event")
    elif event_type in ACCOUNT_EVENT_HANDLERS:
        ACCOUNT_EVENT_HANDLERS[event_type].validate(data)
    elif not isinstance(data.get("transaction_id"), str):
        raise InvalidInput("data.transaction_id is required", code="malformed_event")
    return event_type, data, account_id, consent_id
