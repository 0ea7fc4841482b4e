"""Issue 14, item 4 (last part): the partner endpoints are throttled too (ADR 0019).

The partner API: failed authentications per client address (key guessing), then a limit per
partner. Bank events: only refused (unverifiable) events count, per address, and an address
past the limit is refused before any signature work; a verified bank's burst is never limited.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence

import httpx
import pytest
from tests.conftest import Stack
from tests.integration.test_bank_events import PATH, _bank_account, _inbox_count, _signed, _txn_event
from tests.integration.test_dp_aggregates import BUDGET_URL, _partner_key
from tests.integration.test_linking_flow import _linked

from ledgerlink.bootstrap import SANDBOX_PARTNER_ID
from ledgerlink.entrypoints.app import _fastapi_app
from ledgerlink.services.kernel import throttle

_WRONG_SECRET = "whsec_" + "QUJD" * 8


def _assert_throttled(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert int(resp.headers["retry-after"]) > 0
    problem = resp.json()
    assert problem["status"] == 429 and problem["code"] == "too_many_requests"
    assert problem["retry_after"] == int(resp.headers["retry-after"])


def _counting_verifier(stack: Stack) -> list[int]:
    calls: list[int] = []
    verifier = stack.deps.verifier

    class Counting:
        def verify(self, secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> None:
            calls.append(1)
            verifier.verify(secrets, body, headers)

    stack.deps.verifier = Counting()
    return calls


async def test_wrong_api_keys_from_one_address_are_throttled_before_the_lookup(stack: Stack) -> None:
    good = await _partner_key(stack)
    async with stack.client() as client:
        answers = [await client.get(BUDGET_URL, headers={"authorization": f"Bearer llpk_guess-{i}"})
                   for i in range(40)]
        statuses = [a.status_code for a in answers]
        first = statuses.index(429) if 429 in statuses else len(statuses)
        assert first == 30 and set(statuses[first:]) == {429}, statuses
        _assert_throttled(answers[-1])
        assert answers[0].json()["code"] == "partner_key_invalid"
        # no key at all counts too; the right key from this address now waits like any other
        _assert_throttled(await client.get(BUDGET_URL))
        _assert_throttled(await client.get(BUDGET_URL, headers=good))


async def test_a_valid_partner_under_its_limit_is_not_throttled_and_its_limit_is_its_own(
        stack: Stack) -> None:
    headers = await _partner_key(stack)
    async with stack.client() as client:
        answers = [await client.get(BUDGET_URL, headers=headers) for _ in range(60)]
        assert {a.status_code for a in answers} == {200}
        # the partner limit (600/min) is counted per partner: exhaust it, the next request waits
        limiter = stack.deps.limiter
        assert limiter is not None
        key = f"{throttle.PARTNER_API.name}:{SANDBOX_PARTNER_ID}"
        while await limiter.hit(throttle.PARTNER_API, key) is None:
            pass
        over = await client.get(BUDGET_URL, headers=headers)
        _assert_throttled(over)
        assert "Too many requests from this partner" in over.json()["detail"]


async def test_a_flood_of_bad_signatures_is_throttled_before_any_signature_work(stack: Stack) -> None:
    await _linked(stack)
    body = json.dumps(_txn_event(_bank_account(stack), "ext_flood")).encode()
    verified = _counting_verifier(stack)
    async with stack.client() as client:
        answers = [await client.post(PATH, content=body, headers=_signed(stack, body, secret=_WRONG_SECRET))
                   for _ in range(130)]
        statuses = [a.status_code for a in answers]
        first = statuses.index(429) if 429 in statuses else len(statuses)
        assert first == 100 and set(statuses[first:]) == {429}, statuses
        assert len(verified) == 100  # the throttled 30 cost no signature work
        _assert_throttled(answers[-1])
        # an unknown partner's slug is refused the same way, still before anything else
        _assert_throttled(await client.post("/partners/nobody/events", content=body,
                                            headers=_signed(stack, body)))
    assert len(verified) == 100
    assert await _inbox_count(stack) == 0


# Slow on SQLite under the parallel run (104-113 s seen, 120 s is the default limit; the
# cause, likely SQLite write-lock waits between the front door and the workers, is open).
@pytest.mark.timeout(300)
async def test_a_banks_burst_of_verified_events_is_never_throttled(stack: Stack) -> None:
    await _linked(stack)
    account = _bank_account(stack)
    before = await _inbox_count(stack)
    async with stack.client() as client:

        async def one(i: int) -> int:
            body = json.dumps(_txn_event(account, f"ext_burst_{i}")).encode()
            return (await client.post(PATH, content=body, headers=_signed(stack, body))).status_code

        statuses = [s for start in range(0, 300, 20)
                    for s in await asyncio.gather(*(one(i) for i in range(start, start + 20)))]
    assert statuses == [202] * 300
    assert await _inbox_count(stack) == before + 300


async def test_the_framework_route_throttles_bank_events_like_the_fast_path(stack: Stack) -> None:
    """Without the fast path in front, the FastAPI route answers the same 429."""
    app = _fastapi_app(stack.container, manage_lifecycle=False)
    body = b'{"type": "balance.updated", "data": {}}'
    verified = _counting_verifier(stack)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=stack.platform_url) as c:
        statuses = [(await c.post(PATH, content=body, headers=_signed(stack, body, secret=_WRONG_SECRET)))
                    .status_code for _ in range(101)]
        assert statuses == [401] * 100 + [429]
        _assert_throttled(await c.post(PATH, content=body, headers=_signed(stack, body)))
    assert len(verified) == 100
