"""Schemathesis against the running platform's OpenAPI (issue 14, "the attacks become part of
the suite"): every documented operation, positive and negative cases, over real HTTP.

Twice: as a signed-in person (the session cookie the login form sets; the person has a linked
bank, so their receipt and audit entries exist) and as a partner (its API key as
`Authorization: Bearer`, so the partner API's logic runs, not only its 401; the bank-event
route's positive cases are signed with the bank's webhook secret, so they pass verification
and reach the parser). Generation is derandomized (Hypothesis derives every case from the
test itself), with a fixed number of examples per operation and mode, so CI runs the same
cases every time. Every case must pass `_CHECKS`; the figures (cases run, failures) are
printed in the attack-suite summary of `./scripts/test`. What the schema cannot say is
written down in docs/security.md, "Schemathesis".

The cases are sent from a child process (`_run` says why not a thread): the platform's uvicorn
server runs on this test's event loop, which must stay free to answer them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis.errors import Unsatisfiable
from requests.auth import AuthBase
from schemathesis import checks as st_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from tests.conftest import Stack, report_figure, running_stack
from tests.integration.test_dp_aggregates import _partner_key
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.webhooks import StandardWebhooksSigner
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger

EXAMPLES = 25  # per operation and generation mode: the suite's time, not the attack's reach
_CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
]
_EVENTS = "POST /partners/{partner_slug}/events"
_RECEIPT = "GET /receipts/{receipt_id}.jws"
_AGGREGATES = "POST /partner-api/v1/aggregates/spending-by-category"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_MIN_CASES = 250  # so the run cannot silently shrink to nothing


@schemathesis.serializer("application/jose")
def _compact_jws(_: Any, value: Any) -> bytes:
    """A bank message is a compact JWS, a string: sent as generated (it never verifies, so the
    route's refusals are what runs; signed messages are tested in test_bank_dialogue.py)."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else repr(value).encode()


class _SignedBankEvents(AuthBase):
    """Signs what goes to the sandbox bank's event route as the bank would (Standard Webhooks
    on the raw body), so the case is judged on its content, not refused at the signature."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if (r.path_url or "").endswith("/partners/sandbox-bank/events"):
            body = r.body if isinstance(r.body, bytes) else (r.body or "").encode()
            r.headers.update(StandardWebhooksSigner().sign(
                self.secret, f"msg_{secrets.token_hex(8)}", datetime.now(UTC), body))
        return r


@dataclass
class Pass:
    """Who attacks: their headers, and known-good values to try beside the generated ones."""

    who: str
    headers: dict[str, str]
    auth: AuthBase | None = None
    fixed: dict[str, dict[str, Any]] = field(default_factory=dict)  # operation -> path params
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)  # operation -> Case(**kwargs)


@dataclass
class Tally:
    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)  # one line per distinct failure kind

    def report(self) -> str:
        kinds = "\n".join(f"{n:4} x {kind}" for kind, n in self.kinds.most_common())
        return f"{kinds}\n\nthe first of them:\n" + "\n".join(self.failures[:3])


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, f"sqlite:///{tmp_path / 'ledgerlink.db'}") as s:
        yield s


def _attack(spec: dict[str, Any], base_url: str, attacker: Pass) -> Tally:
    """Every operation, positive then negative, `EXAMPLES` cases each; failures are collected
    (not raised) so one run reports all of them."""
    schema = schemathesis.openapi.from_dict(spec)
    tally = Tally()
    session = requests.Session()
    session.auth = attacker.auth
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _cases(result.ok(), mode, attacker, base_url=base_url, session=session, tally=tally)
            except Unsatisfiable:  # nothing to negate: an operation without parameters or body
                assert mode is GenerationMode.NEGATIVE, result.ok().label
    return tally


def _cases(operation: Any, mode: GenerationMode, attacker: Pass, *, base_url: str,
           session: requests.Session, tally: Tally) -> None:
    label, positive = operation.label, mode is GenerationMode.POSITIVE

    def run(case: Any) -> None:
        tally.cases[label] += 1
        try:
            response = case.call(base_url=base_url, session=session, headers=attacker.headers)
            tally.statuses[response.status_code] += 1
            tally.by_operation.setdefault(label, Counter())[response.status_code] += 1
            case.validate_response(response, checks=_CHECKS, headers=attacker.headers)
        except FailureGroup as exc:
            tally.failures.append(f"{label} ({mode}): {exc}")
            for failure in exc.exceptions:
                tally.kinds[f"{label} ({mode}): {failure.title}"] += 1

    fixed = attacker.fixed.get(label) if positive else None
    test = given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))(run)
    if label in attacker.examples and positive:
        test = example(case=operation.Case(**attacker.examples[label]))(test)
    settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
             phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))(test)()


async def _run(stack: Stack, attacker: Pass) -> Tally:
    async with stack.client() as http:
        spec = (await http.get("/openapi.json")).json()
    # A child process of its own (spawned: a fresh interpreter), not a thread: CPython 3.11's
    # AST constructor keeps one recursion counter per process (python/cpython#106905), and the
    # cases (Hypothesis, schemathesis, pytest's assertion rewriting of their lazy imports) and
    # this loop's server (Jinja compiling templates) both build ASTs: from a thread that raised
    # `SystemError: AST constructor recursion depth mismatch` in CI, twice.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        tally = await asyncio.get_running_loop().run_in_executor(
            pool, _attack, spec, stack.platform_url, attacker)
    answered = ", ".join(f"{n} x {code}" for code, n in sorted(tally.statuses.items()))
    report_figure(f"schemathesis ({attacker.who}): {len(tally.cases)} operations, "
                  f"{sum(tally.cases.values())} cases, failures {len(tally.failures)} [{answered}]")
    return tally


async def test_schemathesis_finds_no_failure_as_a_signed_in_person(stack: Stack) -> None:
    person_id = await messenger.register(stack.deps, handle="pat", display_name="Pat",
                                         password="correct horse")
    grant = Grant.for_person(person_id)
    await _linked(stack, grant=grant)  # a receipt and audit entries of their own
    async with stack.deps.uow() as uow:
        receipt = (await uow.receipts.for_person(person_id))[0]
    async with stack.client() as http:
        match = _CSRF.search((await http.get("/login")).text)
        assert match is not None
        resp = await http.post("/login", data={"csrf": match.group(1), "handle": "pat",
                                               "password": "correct horse"})
        assert resp.status_code == 303, resp.text
        cookie = f"ll_session={http.cookies['ll_session']}"
    tally = await _run(stack, Pass("signed-in person", {"cookie": cookie},
                                   examples={_RECEIPT: {"path_parameters": {"receipt_id": receipt.id}}}))
    assert not tally.failures, tally.report()
    assert sum(tally.cases.values()) >= _MIN_CASES
    assert {200, 404} <= set(tally.by_operation[_RECEIPT])  # their receipt, and unknown ids


async def test_schemathesis_finds_no_failure_as_a_partner(stack: Stack) -> None:
    headers = await _partner_key(stack, epsilon=1000.0)
    signer = _SignedBankEvents(stack.container.sandbox_credentials.webhook_secret)
    query = {"body": {"month": f"{stack.deps.clock.now():%Y-%m}", "epsilon": 0.1},
             "media_type": "application/json"}
    tally = await _run(stack, Pass("partner API key", headers, auth=signer,
                                   fixed={_EVENTS: {"partner_slug": "sandbox-bank"}},
                                   examples={_AGGREGATES: query}))
    assert not tally.failures, tally.report()
    assert sum(tally.cases.values()) >= _MIN_CASES
    assert tally.by_operation[_AGGREGATES][200] > 0  # the logic ran: a query answered
    assert tally.by_operation[_EVENTS][422] > 0  # signed events reached the parser
