"""Standard Webhooks (https://www.standardwebhooks.com) signatures, in and out.

Signatures are computed by the `standardwebhooks` package (`Webhook.sign`: secret parsing with
the ``whsec_`` prefix, HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``). We do not call its
`Webhook.verify`: that checks the timestamp against the real wall clock and reports every
failure as one exception type. Here the header and timestamp checks take an injected clock
and each failure gets its own stable code; signatures are compared in constant time.

The body must be UTF-8 (the library signs text); any other body fails as ``bad_signature``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from standardwebhooks.webhooks import Webhook

from ledgerlink.domain.clock import Clock, SystemClock, ensure_utc
from ledgerlink.domain.errors import Unauthorized

__all__ = ["TOLERANCE", "StandardWebhooksSigner", "StandardWebhooksVerifier"]

TOLERANCE = timedelta(minutes=5)
_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")

_log = structlog.get_logger(__name__)


class StandardWebhooksVerifier:
    """`SignatureVerifier`: valid when any of the given secrets (rotation) signed the body.

    Failure codes: ``missing_signature_headers`` (a header is absent, empty, or the timestamp
    is not an integer), ``stale_timestamp`` (more than 5 minutes off, either way),
    ``bad_signature`` (no listed secret produced any of the ``v1`` signatures)."""

    def __init__(self, *, clock: Clock | None = None, tolerance: timedelta = TOLERANCE) -> None:
        self._clock = clock or SystemClock()
        self._tolerance = tolerance

    def verify(self, secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> None:
        lowered = {key.lower(): value for key, value in headers.items()}
        missing = [name for name in _HEADERS if not lowered.get(name)]
        if missing:
            raise Unauthorized(
                f"missing webhook headers: {', '.join(missing)}", code="missing_signature_headers"
            )
        msg_id, raw_timestamp = lowered["webhook-id"], lowered["webhook-timestamp"]
        timestamp = self._check_timestamp(raw_timestamp)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Unauthorized("webhook body is not UTF-8", code="bad_signature") from None
        offered = _offered_signatures(lowered["webhook-signature"])
        for secret in secrets:
            try:
                webhook = Webhook(secret)
            except Exception as exc:  # a misconfigured secret must not hide the others
                _log.error("webhook_secret_unusable", error=type(exc).__name__)
                continue
            expected = base64.b64decode(webhook.sign(msg_id, timestamp, text).split(",", 1)[1])
            if any(hmac.compare_digest(expected, candidate) for candidate in offered):
                return
        raise Unauthorized("no valid webhook signature", code="bad_signature")

    def _check_timestamp(self, raw: str) -> datetime:
        if not raw.isascii() or not raw.isdigit():
            raise Unauthorized(
                "webhook-timestamp must be integer seconds", code="missing_signature_headers"
            )
        try:
            timestamp = datetime.fromtimestamp(int(raw), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise Unauthorized(
                "webhook-timestamp is out of range", code="stale_timestamp"
            ) from None
        if abs(self._clock.now() - timestamp) > self._tolerance:
            raise Unauthorized("webhook-timestamp is outside the tolerance", code="stale_timestamp")
        return timestamp


def _offered_signatures(header: str) -> list[bytes]:
    """The decoded ``v1`` signatures of a ``webhook-signature`` header; others are ignored."""
    found: list[bytes] = []
    for part in header.split():
        version, _, encoded = part.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    return found


class StandardWebhooksSigner:
    """Builds the three Standard Webhooks headers for a body (tests, benchmarks, outbound)."""

    def sign(self, secret: str, msg_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
        # The library replaces tzinfo with UTC instead of converting: convert first.
        at = ensure_utc(timestamp)
        signature = Webhook(secret).sign(msg_id, at, body.decode("utf-8"))
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(math.floor(at.timestamp())),
            "webhook-signature": signature,
        }
