"""What the front door decides before a bank event's body is verified: its size, its media type
and the length of its webhook id (the header checks), and the refusals they raise."""

from __future__ import annotations

from collections.abc import Mapping

from ledgerlink.domain.errors import DomainError, InvalidInput

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
