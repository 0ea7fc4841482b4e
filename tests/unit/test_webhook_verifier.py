from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from ledgerlink.adapters.webhooks import StandardWebhooksSigner, StandardWebhooksVerifier
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.errors import Unauthorized
from ledgerlink.services.ingest.ports import SignatureVerifier

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
OLD_SECRET = "whsec_" + base64.b64encode(b"old-secret-0123456789abcdef").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"new-secret-0123456789abcdef").decode()
BODY = b'{"type":"transaction.posted","data":{"id":"txn_1"}}'


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def verifier(clock: FrozenClock) -> StandardWebhooksVerifier:
    return StandardWebhooksVerifier(clock=clock)


def signed(secret: str = NEW_SECRET, *, at: datetime = NOW, body: bytes = BODY) -> dict[str, str]:
    return StandardWebhooksSigner().sign(secret, "msg_1", at, body)


def code_of(
    verifier: StandardWebhooksVerifier,
    secrets: list[str],
    headers: dict[str, str],
    body: bytes = BODY,
) -> str:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(secrets, body, headers)
    return caught.value.code


def test_a_correctly_signed_body_is_accepted(verifier: StandardWebhooksVerifier) -> None:
    port: SignatureVerifier = verifier
    port.verify([NEW_SECRET], BODY, signed())


def test_signer_matches_the_reference_library_and_headers_are_case_insensitive(
    verifier: StandardWebhooksVerifier,
) -> None:
    headers = signed()
    assert headers["webhook-signature"] == Webhook(NEW_SECRET).sign("msg_1", NOW, BODY.decode())
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))

    verifier.verify([NEW_SECRET], BODY, {k.title(): v for k, v in headers.items()})


def test_signer_converts_non_utc_timestamps_instead_of_relabelling(
    verifier: StandardWebhooksVerifier,
) -> None:
    in_paris = NOW.astimezone(timezone(timedelta(hours=1)))
    assert signed(at=in_paris) == signed(at=NOW)


def test_any_of_the_rotated_secrets_may_have_signed(verifier: StandardWebhooksVerifier) -> None:
    verifier.verify([NEW_SECRET, OLD_SECRET], BODY, signed(OLD_SECRET))
    verifier.verify([OLD_SECRET, NEW_SECRET], BODY, signed(NEW_SECRET))


def test_a_header_with_several_signatures_is_accepted_if_one_matches(
    verifier: StandardWebhooksVerifier,
) -> None:
    old, new = signed(OLD_SECRET), signed(NEW_SECRET)
    both = {**new, "webhook-signature": f"v1a,xyz {old['webhook-signature']} garbage"}
    verifier.verify([NEW_SECRET, OLD_SECRET], BODY, both)
    verifier.verify([OLD_SECRET], BODY, both)


@pytest.mark.parametrize("absent", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_header_is_reported(verifier: StandardWebhooksVerifier, absent: str) -> None:
    headers = signed()
    del headers[absent]
    assert code_of(verifier, [NEW_SECRET], headers) == "missing_signature_headers"


def test_an_empty_or_non_integer_timestamp_counts_as_missing(
    verifier: StandardWebhooksVerifier,
) -> None:
    assert code_of(verifier, [NEW_SECRET], {**signed(), "webhook-id": ""}) == (
        "missing_signature_headers"
    )
    assert code_of(verifier, [NEW_SECRET], {**signed(), "webhook-timestamp": "nan"}) == (
        "missing_signature_headers"
    )


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=-5, seconds=-1), timedelta(minutes=5, seconds=1)]
)
def test_timestamps_outside_five_minutes_either_way_are_stale(
    verifier: StandardWebhooksVerifier, offset: timedelta
) -> None:
    assert code_of(verifier, [NEW_SECRET], signed(at=NOW + offset)) == "stale_timestamp"


@pytest.mark.parametrize("offset", [timedelta(minutes=-5), timedelta(minutes=5)])
def test_timestamps_at_the_edge_of_the_tolerance_are_accepted(
    verifier: StandardWebhooksVerifier, offset: timedelta
) -> None:
    verifier.verify([NEW_SECRET], BODY, signed(at=NOW + offset))


def test_the_injected_clock_decides_staleness(
    verifier: StandardWebhooksVerifier, clock: FrozenClock
) -> None:
    headers = signed()
    clock.advance(timedelta(minutes=6))
    assert code_of(verifier, [NEW_SECRET], headers) == "stale_timestamp"


def test_a_tampered_body_is_a_bad_signature(verifier: StandardWebhooksVerifier) -> None:
    tampered = BODY.replace(b"txn_1", b"txn_2")
    assert code_of(verifier, [NEW_SECRET], signed(), tampered) == "bad_signature"


def test_an_unknown_secret_or_no_secret_is_a_bad_signature(
    verifier: StandardWebhooksVerifier,
) -> None:
    assert code_of(verifier, [OLD_SECRET], signed(NEW_SECRET)) == "bad_signature"
    assert code_of(verifier, [], signed()) == "bad_signature"


def test_a_changed_id_or_timestamp_is_a_bad_signature(verifier: StandardWebhooksVerifier) -> None:
    headers = signed()
    assert code_of(verifier, [NEW_SECRET], {**headers, "webhook-id": "msg_2"}) == "bad_signature"
    later = str(int(headers["webhook-timestamp"]) + 1)
    assert code_of(verifier, [NEW_SECRET], {**headers, "webhook-timestamp": later}) == (
        "bad_signature"
    )


def test_malformed_signatures_and_bodies_are_bad_signatures_not_crashes(
    verifier: StandardWebhooksVerifier,
) -> None:
    for value in ["v1", "v1,", "v1,!!!notbase64", "nonsense"]:
        headers = {**signed(), "webhook-signature": value}
        assert code_of(verifier, [NEW_SECRET], headers) == "bad_signature"
    assert code_of(verifier, [NEW_SECRET], signed(), b"\xff\xfe") == "bad_signature"


def test_an_unusable_secret_does_not_hide_a_good_one(verifier: StandardWebhooksVerifier) -> None:
    verifier.verify(["whsec_", NEW_SECRET], BODY, signed())
