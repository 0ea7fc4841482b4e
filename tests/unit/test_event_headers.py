"""What the bank-event headers alone decide, before the body is read (issue 14)."""

from __future__ import annotations

import pytest

from ledgerlink.domain.errors import DomainError
from ledgerlink.services.ingest.inbox import MAX_BODY, MAX_WEBHOOK_ID, check_headers

JSON = {"content-type": "application/json", "webhook-id": "msg_1"}


@pytest.mark.parametrize("headers", [
    JSON, {**JSON, "content-type": "application/json; charset=utf-8"},
    {**JSON, "content-type": "application/cloudevents+json"}, {**JSON, "content-length": str(MAX_BODY)},
    {**JSON, "content-length": "\u00b2"},  # not a length at all: the bytes read decide
    {**JSON, "webhook-id": "m" * MAX_WEBHOOK_ID},
])
def test_acceptable_headers_pass(headers: dict[str, str]) -> None:
    check_headers(headers)


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"content-length": str(MAX_BODY + 1)}, 413, "payload_too_large"),
    ({"content-length": str(5 * 1024 * 1024)}, 413, "payload_too_large"),
    ({"content-type": "text/plain"}, 415, "unsupported_media_type"),
    ({"content-type": ""}, 415, "unsupported_media_type"),
    ({"content-type": "application/jsonp"}, 415, "unsupported_media_type"),
    ({"webhook-id": "m" * (MAX_WEBHOOK_ID + 1)}, 422, "webhook_id_too_long"),
])
def test_refusals_have_their_own_status_and_code(change: dict[str, str], status: int, code: str) -> None:
    with pytest.raises(DomainError) as info:
        check_headers({**JSON, **change})
    assert (info.value.status, info.value.code) == (status, code)


def test_size_is_checked_before_the_media_type() -> None:
    with pytest.raises(DomainError) as info:
        check_headers({"content-type": "text/plain", "content-length": str(MAX_BODY * 2)})
    assert info.value.code == "payload_too_large"
