"""Partner aggregates through the HTTP API: differential privacy with a budget ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from tests.conftest import Stack, fast_hasher
from typer.testing import CliRunner

from ledgerlink.bootstrap import SANDBOX_PARTNER_ID, SANDBOX_PARTNER_SLUG, bootstrap
from ledgerlink.config import Settings
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.entrypoints.cli import app as cli_app
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.linking import links
from ledgerlink.services.messaging import messenger
from ledgerlink.services.privacy import aggregates

URL = "/partner-api/v1/aggregates/spending-by-category"
BUDGET_URL = "/partner-api/v1/privacy-budget"


async def _linked(stack: Stack, handle: str, login: str) -> Grant:
    person_id = await messenger.register(
        stack.deps, handle=handle, display_name=handle, password="correct horse"
    )
    grant = Grant.for_person(person_id)
    url = await links.start_link(stack.deps, grant, partner_id=SANDBOX_PARTNER_ID)
    async with httpx.AsyncClient(timeout=10.0) as browser:
        resp = await browser_consent(browser, url, login=login)
    query = parse_qs(urlparse(resp.headers["location"]).query)
    await links.complete_link(stack.deps, grant, state=query["state"][0], code=query["code"][0])
    await stack.container.drain()
    return grant


async def _spend(stack: Stack, login: str, merchant: str, amount: str) -> None:
    pending = await stack.bank.purchase(login, merchant=merchant, amount=amount)
    await stack.bank.post(pending)
    await stack.container.drain()


async def _people_with_purchases(stack: Stack) -> tuple[Grant, Grant]:
    alice = await _linked(stack, "pat", "alice")
    carol = await _linked(stack, "cam", "carol")
    await _spend(stack, "alice", "Whole Foods Market", "52.10")
    await _spend(stack, "alice", "Shell", "40.00")
    await _spend(stack, "carol", "Trader Joe's", "31.75")
    return alice, carol


async def _partner_key(stack: Stack, *, epsilon: float | None = 1.0) -> dict[str, str]:
    key = await aggregates.issue_api_key(stack.deps, SANDBOX_PARTNER_SLUG)
    if epsilon is not None:
        await aggregates.set_budget(stack.deps, SANDBOX_PARTNER_SLUG, epsilon=epsilon)
    return {"authorization": f"Bearer {key}"}


async def _dp_audit_entries(stack: Stack) -> list[tuple[str, str]]:
    async with stack.deps.uow() as uow:
        entries = await uow.audit.all()
    return [(e.person_id, e.subject) for e in entries if e.purpose == Purpose.PARTNER_AGGREGATE_DP.value]


def _month(stack: Stack) -> str:
    return f"{stack.deps.clock.now():%Y-%m}"


async def test_a_partner_gets_noisy_totals_per_category_and_pays_from_its_budget(stack: Stack) -> None:
    alice, carol = await _people_with_purchases(stack)
    headers = await _partner_key(stack)
    async with stack.client() as client:
        resp = await client.post(URL, json={"month": _month(stack), "epsilon": 0.5}, headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [c["category"] for c in body["categories"]] == list(aggregates.categories())
    for cell in body["categories"]:
        assert float(cell["total"]) >= 0 and cell["count"] >= 0
    assert body["epsilon_spent"] == 0.5
    assert body["budget"]["epsilon_remaining"] == 0.5
    assert body["bounds"] == {"max_spend_per_category": "1000.00", "max_categories": 3}
    assert "Laplace" in body["mechanism"]
    for secret in ("Whole Foods", "Shell", alice.person_id, carol.person_id):
        assert secret not in resp.text
    # The raw amounts never appear as a figure. (A substring test failed once in CI: the noisy
    # total "27331.75" contains "31.75". With noise of scale 12,000 dollars, a cell equal to one
    # of the two purchases to the cent happens about once in 30,000 runs.)
    assert not {"52.10", "31.75"} & {cell["total"] for cell in body["categories"]}
    audited = await _dp_audit_entries(stack)
    assert sorted(p for p, _ in audited) == sorted([alice.person_id, carol.person_id])
    assert all(f"partner:{SANDBOX_PARTNER_ID}" in subject for _, subject in audited)


async def test_the_same_question_twice_gets_different_noise(stack: Stack) -> None:
    await _people_with_purchases(stack)
    headers = await _partner_key(stack, epsilon=2.0)
    query = {"month": _month(stack), "epsilon": 1.0, "max_spend_per_category": "100", "max_categories": 1}
    async with stack.client() as client:
        answers = [(await client.post(URL, json=query, headers=headers)).json() for _ in range(2)]
    assert answers[0]["categories"] != answers[1]["categories"]
    assert answers[1]["budget"]["epsilon_remaining"] == 0


async def test_a_query_past_the_budget_is_refused_before_anything_is_read(stack: Stack) -> None:
    await _people_with_purchases(stack)
    headers = await _partner_key(stack, epsilon=1.0)
    query = {"month": _month(stack), "epsilon": 0.6}
    async with stack.client() as client:
        assert (await client.post(URL, json=query, headers=headers)).status_code == 200
        audited = await _dp_audit_entries(stack)
        refused = await client.post(URL, json=query, headers=headers)
        budget = (await client.get(BUDGET_URL, headers=headers)).json()
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "privacy_budget_exhausted"
    assert await _dp_audit_entries(stack) == audited, "a refused query must read nothing"
    assert (budget["epsilon_limit"], budget["epsilon_spent"]) == (1.0, 0.6)
    assert budget["epsilon_remaining"] == 0.4


async def test_concurrent_queries_never_overspend_the_budget(stack: Stack) -> None:
    await _people_with_purchases(stack)
    headers = await _partner_key(stack, epsilon=1.0)
    query = {"month": _month(stack), "epsilon": 0.3}
    async with stack.client() as client:
        responses = await asyncio.gather(*(client.post(URL, json=query, headers=headers) for _ in range(6)))
        budget = (await client.get(BUDGET_URL, headers=headers)).json()
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 429, 429, 429]
    assert budget["epsilon_spent"] == 0.9


async def test_a_partner_without_a_budget_gets_nothing(stack: Stack) -> None:
    headers = await _partner_key(stack, epsilon=None)
    async with stack.client() as client:
        resp = await client.post(URL, json={"month": _month(stack), "epsilon": 0.1}, headers=headers)
    assert (resp.status_code, resp.json()["code"]) == (403, "privacy_budget_not_set")


async def test_only_people_who_linked_this_partner_and_still_do_are_read(stack: Stack) -> None:
    alice, carol = await _people_with_purchases(stack)
    link_id = (await messenger.list_threads(stack.deps, carol))[1].link_id
    assert link_id
    await links.unlink(stack.deps, carol, link_id=link_id)
    headers = await _partner_key(stack)
    async with stack.client() as client:
        resp = await client.post(URL, json={"month": _month(stack), "epsilon": 0.2}, headers=headers)
    assert resp.status_code == 200
    assert [p for p, _ in await _dp_audit_entries(stack)] == [alice.person_id]


async def test_the_ledger_and_the_key_survive_a_new_container_on_the_same_database(stack: Stack) -> None:
    await _people_with_purchases(stack)
    headers = await _partner_key(stack, epsilon=1.0)
    async with stack.client() as client:
        resp = await client.post(URL, json={"month": _month(stack), "epsilon": 0.7}, headers=headers)
    assert resp.status_code == 200
    again = await bootstrap(stack.container.settings, hasher=fast_hasher())
    try:
        key = headers["authorization"].removeprefix("Bearer ")
        partner = await aggregates.authenticate(again.deps, key)
        status = await aggregates.budget_status(again.deps, partner)
    finally:
        await again.stop()
    assert (status.limit_micro, status.spent_micro, status.remaining_micro) == (1_000_000, 700_000, 300_000)


async def test_a_missing_or_unknown_key_is_401(stack: Stack) -> None:
    await _partner_key(stack)
    query = {"month": _month(stack), "epsilon": 0.1}
    async with stack.client() as client:
        answers = [
            await client.post(URL, json=query),
            await client.post(URL, json=query, headers={"authorization": "Bearer llpk_not-a-key"}),
            await client.post(URL, json=query, headers={"authorization": "Basic dXNlcjpwYXNz"}),
            await client.get(BUDGET_URL),
        ]
    for resp in answers:
        assert resp.status_code == 401, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] in ("partner_key_invalid", "unauthorized")


async def test_bad_parameters_are_422_and_cost_nothing(stack: Stack) -> None:
    headers = await _partner_key(stack)
    month = _month(stack)
    cases = [
        ({"month": month, "epsilon": 0}, "epsilon_not_positive"),
        ({"month": month, "epsilon": 1.5}, "epsilon_above_query_cap"),
        ({"month": month, "epsilon": 0.1, "max_spend_per_category": "5000"}, "bounds_wider_than_allowed"),
        ({"month": month, "epsilon": 0.1, "max_categories": 0}, "bounds_invalid"),
        ({"month": "2026-13", "epsilon": 0.1}, "month_invalid"),
        ({"month": "9999-01", "epsilon": 0.1}, "month_in_future"),
        ({"month": month}, "validation_error"),
        ({"month": month, "epsilon": 0.1, "person_id": "per_x"}, "validation_error"),
    ]
    async with stack.client() as client:
        for body, code in cases:
            resp = await client.post(URL, json=body, headers=headers)
            assert (resp.status_code, resp.json()["code"]) == (422, code), body
        budget = (await client.get(BUDGET_URL, headers=headers)).json()
    assert budget["epsilon_spent"] == 0


def test_the_cli_issues_a_key_and_sets_a_budget(tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = str(tmp_path / "data")
    issued = runner.invoke(cli_app, ["partners", "api-key", SANDBOX_PARTNER_SLUG, "--data-dir", data_dir])
    assert issued.exit_code == 0, issued.output
    key = issued.output.strip().splitlines()[-1]  # the key is the last line (logs may precede it)
    assert key.startswith("llpk_")
    budget = runner.invoke(
        cli_app, ["partners", "budget", SANDBOX_PARTNER_SLUG, "--epsilon", "2.0", "--data-dir", data_dir]
    )
    assert budget.exit_code == 0, budget.output
    unknown = runner.invoke(cli_app, ["partners", "api-key", "no-such-partner", "--data-dir", data_dir])
    assert unknown.exit_code == 2
    assert "partner_not_found" in unknown.output

    async def check() -> aggregates.BudgetStatus:
        container = await bootstrap(Settings(data_dir=tmp_path / "data", embedded_sandbox=False))
        try:
            partner = await aggregates.authenticate(container.deps, key)
            return await aggregates.budget_status(container.deps, partner)
        finally:
            await container.stop()

    status = asyncio.run(check())
    assert (status.limit_micro, status.spent_micro, status.period) == (2_000_000, 0, "month")


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer_and_spends_nothing(
    stack: Stack,
) -> None:
    await _people_with_purchases(stack)
    headers = {**await _partner_key(stack, epsilon=1.0), "idempotency-key": "q-2026-11-a"}
    query = {"month": _month(stack), "epsilon": 0.5}
    async with stack.client() as client:
        first = await client.post(URL, json=query, headers=headers)
        again = await client.post(URL, json=query, headers=headers)
        other = await client.post(URL, json={**query, "epsilon": 0.25}, headers=headers)
        budget = await client.get(BUDGET_URL, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()  # the same noisy answer, not a second sample
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert budget.json()["epsilon_remaining"] == 0.5  # spent once
    assert len(await _dp_audit_entries(stack)) == 2  # two people read once, not twice


async def test_a_refusal_is_replayed_too_and_a_bad_key_is_422(stack: Stack) -> None:
    await _people_with_purchases(stack)
    headers = await _partner_key(stack, epsilon=0.1)
    query = {"month": _month(stack), "epsilon": 0.5}
    async with stack.client() as client:
        refused = await client.post(URL, json=query, headers={**headers, "idempotency-key": "k1"})
        replay = await client.post(URL, json=query, headers={**headers, "idempotency-key": "k1"})
        bad = await client.post(URL, json=query, headers={**headers, "idempotency-key": "x" * 300})
    assert refused.status_code == replay.status_code == 429
    assert replay.json()["code"] == "privacy_budget_exhausted"
    assert bad.status_code == 422 and bad.json()["code"] == "bad_idempotency_key"
