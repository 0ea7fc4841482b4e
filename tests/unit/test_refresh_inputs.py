"""What the refresh planner is fed: the person's usual hours (their own moments, else 07-22 local),
GoCardless' quota headers as the budget reads them, and a provider read sent once more only
when a kept-alive connection was closed before the server read it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from ledgerlink.adapters.banks._providers import send
from ledgerlink.domain.refresh_budget import (
    MIN_ACTIVITY,
    Provider,
    Quota,
    Target,
    day_slots,
    time_zone,
    usual_activity,
)
from ledgerlink.services.linking.provider_ports import (
    REFRESH_QUOTAS,
    ProviderQuota,
    ProviderUnavailable,
    note_quota,
)
from ledgerlink.services.linking.refresh_worker import _quotas

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_without_enough_moments_the_person_is_taken_as_active_from_7_to_22_local() -> None:
    few = [NOW] * (MIN_ACTIVITY - 1)
    hours = usual_activity(few, "America/New_York")
    assert [h for h, w in enumerate(hours) if w] == list(range(7, 22))
    target = Target(id="a", provider=Provider.PSD2, zone="America/New_York", activity=hours)
    local = [s.astimezone(time_zone("America/New_York")) for s in day_slots(target, date(2026, 3, 10))]
    assert len(local) == 4 and all(7 <= t.hour < 22 for t in local)


def test_enough_moments_give_the_persons_own_hours_in_their_zone() -> None:
    # 23:00 UTC is 08:00 in Tokyo: a person who reads their messages over breakfast there.
    moments = [datetime(2026, 3, d, 23, 10, tzinfo=UTC) for d in range(1, MIN_ACTIVITY + 1)]
    hours = usual_activity(moments, "Asia/Tokyo")
    assert hours[8] == MIN_ACTIVITY and sum(hours) == MIN_ACTIVITY
    target = Target(id="a", provider=Provider.PSD2, zone="Asia/Tokyo", activity=hours)
    local = [s.astimezone(time_zone("Asia/Tokyo")).hour for s in day_slots(target, date(2026, 3, 10))]
    assert sum(1 for h in local if 6 <= h <= 10) >= 2  # weighted to that hour, never all at once


def test_gocardless_quota_reports_become_per_scope_budgets_with_a_reset_instant() -> None:
    token = REFRESH_QUOTAS.set([])
    try:
        note_quota("balances", ProviderQuota(remaining=3, limit=4, reset_after=3600))
        note_quota("transactions", ProviderQuota(remaining=2, limit=4, reset_after=600))
        note_quota("transactions", ProviderQuota(remaining=1, limit=4, reset_after=590))
        note_quota("transactions", None)  # an answer without the headers
        note_quota("balances", ProviderQuota(remaining=None, limit=4, reset_after=None))  # half a report
        noted = REFRESH_QUOTAS.get()
    finally:
        REFRESH_QUOTAS.reset(token)
    assert noted is not None
    assert _quotas(noted, NOW) == (
        ("balances", Quota(remaining=3, reset_at=NOW + timedelta(hours=1), limit=4)),
        ("transactions", Quota(remaining=1, reset_at=NOW + timedelta(seconds=590), limit=4)),
    )
    note_quota("balances", ProviderQuota(remaining=3, limit=4, reset_after=1))  # outside a refresh
    assert REFRESH_QUOTAS.get() is None


def _closed() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("Server disconnected without sending a response.")  # h11's words


def _transport(failures: list[Exception]) -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if failures:
            raise failures.pop(0)
        return httpx.Response(200, json={"ok": True})

    return httpx.MockTransport(handle), seen


async def test_a_read_is_sent_again_once_when_the_kept_alive_connection_was_closed_unanswered() -> None:
    transport, seen = _transport([_closed()])
    async with httpx.AsyncClient(transport=transport) as http:
        reply = await send(http, "GET", "http://127.0.0.1/accounts", provider="GoCardless")
    assert reply.status == 200 and seen == ["GET", "GET"]


@pytest.mark.parametrize(("method", "failures", "sent"), [
    ("POST", [_closed()], 1),
    ("GET", [_closed(), _closed()], 2),
    ("GET", [httpx.RemoteProtocolError("peer closed connection without sending complete message body")], 1),
    ("GET", [httpx.ReadTimeout("timed out")], 1),
])
async def test_a_claim_a_second_failure_or_a_half_answer_is_never_repeated(
    method: str, failures: list[Exception], sent: int,
) -> None:
    transport, seen = _transport(list(failures))
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(ProviderUnavailable) as caught:
            await send(http, method, "http://127.0.0.1/claim/x", provider="SimpleFIN")
    assert len(seen) == sent and "127.0.0.1" not in caught.value.detail
