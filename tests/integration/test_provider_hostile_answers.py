"""The provider connectors against scripted hostile or broken answers (httpx MockTransport):
every one becomes a typed error with a specific message, never a float, a traceback-shaped
message, a URL with credentials, or half-parsed data."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from joserfc.jwk import RSAKey

from ledgerlink.adapters.banks._providers import MAX_BODY, encode_blob
from ledgerlink.adapters.banks.enablebanking import EnableBankingConnector
from ledgerlink.adapters.banks.gocardless import GoCardlessConnector
from ledgerlink.adapters.banks.simplefin import SimpleFinConnector
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.services.linking.provider_ports import (
    ProviderBadResponse,
    ProviderConsentExpired,
    ProviderRateLimited,
    ProviderRefused,
    ProviderUnavailable,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SF_BLOB = encode_blob(
    "simplefin", {"base": "https://bridge.example/simplefin", "user": "u5er", "password": "pa55-w0rd"}
)
KEY = RSAKey.generate_key(2048).as_pem(private=True)


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _simplefin(handler: Callable[[httpx.Request], httpx.Response]) -> SimpleFinConnector:
    return SimpleFinConnector(
        http=_client(handler), clock=FrozenClock(NOW), bridge_url="https://bridge.example/simplefin"
    )


def _account_set(**txn: object) -> bytes:
    row = {"id": "T1", "posted": 1773100000, "amount": "-1.00", "description": "x"} | txn
    return json.dumps(
        {
            "errlist": [],
            "accounts": [
                {
                    "id": "ACT-1",
                    "name": "Checking",
                    "currency": "USD",
                    "balance": "10.00",
                    "balance-date": 1773100000,
                    "transactions": [row],
                }
            ],
        }
    ).encode()


async def test_a_json_number_amount_is_read_as_a_decimal_never_a_float() -> None:
    body = _account_set().replace(b'"-1.00"', b"-12.5")
    sf = _simplefin(lambda r: httpx.Response(200, content=body))
    page = await sf.transactions(credential=SF_BLOB, account_id="ACT-1", since=date(2026, 3, 1))
    assert page.booked[0].amount.amount == Decimal("-12.50") and isinstance(
        page.booked[0].amount.amount, Decimal
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (_account_set(amount="-1.005"), "transactions[0].amount"),
        (_account_set(description="caf\ud800"), "transactions[0].description"),
        (_account_set(id=""), "transactions[0].id"),
        (_account_set(posted="yesterday"), "transactions[0].posted"),
        (b"<html>not json</html>", "not JSON"),
        (b'{"accounts": "none"}', "Account Set"),
    ],
)
async def test_a_malformed_simplefin_answer_is_refused_naming_the_field(body: bytes, needle: str) -> None:
    sf = _simplefin(lambda r: httpx.Response(200, content=body))
    with pytest.raises(ProviderBadResponse) as bad:
        await sf.transactions(credential=SF_BLOB, account_id="ACT-1", since=date(2026, 3, 1))
    assert needle in bad.value.detail and "\ud800" not in bad.value.detail


async def test_an_oversized_answer_is_refused_unread() -> None:
    sf = _simplefin(
        lambda r: httpx.Response(200, headers={"content-length": str(MAX_BODY + 1)}, content=b"{}")
    )
    with pytest.raises(ProviderBadResponse, match="too large"):
        await sf.accounts(credential=SF_BLOB)


async def test_a_transport_failure_names_no_url_and_no_credential() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url} as u5er:pa55-w0rd")

    with pytest.raises(ProviderUnavailable) as down:
        await _simplefin(boom).accounts(credential=SF_BLOB)
    assert down.value.detail == "cannot reach SimpleFIN (ConnectError)"


async def test_basic_credentials_travel_in_the_header_never_in_the_url() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=_account_set())

    await _simplefin(answer).accounts(credential=SF_BLOB)
    assert "pa55" not in str(seen[0].url) and seen[0].headers["authorization"].startswith("Basic ")


async def test_a_claim_answering_an_access_url_on_another_host_is_refused() -> None:
    import base64

    token = base64.b64encode(b"https://bridge.example/simplefin/claim/abc").decode()
    sf = _simplefin(lambda r: httpx.Response(200, text="https://u:p@169.254.169.254/simplefin"))
    with pytest.raises(InvalidInput) as refused:
        await sf.finish_link(pending=encode_blob("simplefin", {"state": "s"}), answer={"setup_token": token})
    assert refused.value.code == "setup_token_host" and "169.254" not in refused.value.detail


async def test_a_blob_from_another_provider_is_refused_without_a_request() -> None:
    sf = _simplefin(lambda r: pytest.fail("no request expected"))
    with pytest.raises(InvalidInput) as refused:
        await sf.accounts(credential=encode_blob("gocardless", {}))
    assert refused.value.code == "provider_bad_credential"


def _eb(handler: Callable[[httpx.Request], httpx.Response]) -> EnableBankingConnector:
    return EnableBankingConnector(
        http=_client(handler),
        clock=FrozenClock(NOW),
        application_id="app",
        private_key_pem=KEY,
        api_url="https://eb.example",
    )


EB_BLOB = encode_blob(
    "enablebanking",
    {
        "session_id": "s",
        "accounts": {
            "h1": {"uid": "u1", "name": "A", "type": "checking", "currency": "EUR", "last4": "1234"}
        },
    },
)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (500, {}, ProviderUnavailable),
        (400, {"code": 400, "error": "ASPSP_ERROR", "message": "bank down"}, ProviderUnavailable),
        (401, {"code": 401, "error": "EXPIRED_SESSION", "message": "expired"}, ProviderConsentExpired),
        (429, {"code": 429, "error": "ASPSP_RATE_LIMIT_EXCEEDED"}, ProviderRateLimited),
        (422, {"code": 422, "error": "WRONG_TRANSACTIONS_PERIOD\n<script>"}, ProviderRefused),
    ],
)
async def test_enable_banking_error_bodies_map_to_typed_errors(
    status: int, body: dict[str, object], error: type[Exception]
) -> None:
    eb = _eb(lambda r: httpx.Response(status, json=body))
    with pytest.raises(error) as raised:
        await eb.transactions(credential=EB_BLOB, account_id="h1", since=date(2026, 3, 1))
    assert "<script>" not in str(raised.value)
    if isinstance(raised.value, ProviderRateLimited):
        assert raised.value.retry_after == 12 * 3600  # no Retry-After: until the next UTC day


async def test_a_repeated_continuation_key_stops_the_loop_with_a_clear_error() -> None:
    eb = _eb(lambda r: httpx.Response(200, json={"transactions": [], "continuation_key": "same"}))
    with pytest.raises(ProviderBadResponse, match="continuation_key"):
        await eb.transactions(credential=EB_BLOB, account_id="h1", since=date(2026, 3, 1))


def _gc(handler: Callable[[httpx.Request], httpx.Response]) -> GoCardlessConnector:
    def with_token(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token/new/"):
            return httpx.Response(
                200, json={"access": "a", "access_expires": 86400, "refresh": "r", "refresh_expires": 2592000}
            )
        return handler(request)

    return GoCardlessConnector(
        http=_client(with_token),
        clock=FrozenClock(NOW),
        secret_id="i",
        secret_key="k",
        api_url="https://gc.example",
    )


GC_BLOB = encode_blob(
    "gocardless",
    {
        "requisition_id": "r",
        "agreement_id": "a",
        "accounts": {
            "gc-1": {"id": "acc", "name": "A", "type": "checking", "currency": "EUR", "last4": "1234"}
        },
    },
)


async def test_a_gocardless_429_waits_the_longest_of_its_three_figures() -> None:
    gc = _gc(
        lambda r: httpx.Response(
            429,
            headers={
                "retry-after": "60",
                "http_x_ratelimit_account_success_reset": "40000",
                "http_x_ratelimit_account_success_remaining": "0",
            },
            json={
                "summary": "Rate limit exceeded",
                "status_code": 429,
                "detail": "The rate limit for this resource is 4/day. Please try again in 11700 seconds",
            },
        )
    )
    with pytest.raises(ProviderRateLimited) as limited:
        await gc.transactions(credential=GC_BLOB, account_id="gc-1", since=date(2026, 3, 1))
    assert (limited.value.retry_after, limited.value.remaining) == (40000, 0)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            401,
            {
                "summary": "Couldn't update account transactions",
                "type": "AccessExpiredError",
                "detail": "Access has expired or it has been revoked.",
                "status_code": 401,
            },
            "provider_consent_expired",
        ),
        (
            409,
            {"summary": "Account suspended", "detail": "suspended", "status_code": 409},
            "account_suspended",
        ),
        (
            403,
            {
                "summary": "IP address access denied",
                "detail": "Your IP isn't whitelisted",
                "status_code": 403,
            },
            "ip_not_allowed",
        ),
        (
            402,
            {"summary": "Payment Required", "detail": "Free usage limit exceeded", "status_code": 402},
            "quota_exceeded",
        ),
        (
            400,
            {"date_from": {"summary": "Invalid date", "detail": "x"}, "status_code": 400},
            "invalid_date_from",
        ),
    ],
)
async def test_gocardless_error_bodies_map_to_codes_the_platform_can_act_on(
    status: int, body: dict[str, object], code: str
) -> None:
    gc = _gc(lambda r: httpx.Response(status, json=body))
    with pytest.raises((ProviderRefused, ProviderConsentExpired)) as raised:
        await gc.transactions(credential=GC_BLOB, account_id="gc-1", since=date(2026, 3, 1))
    assert raised.value.code == code
