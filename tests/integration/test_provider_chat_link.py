"""Linking from a thread: "link a bank" answers with the banks and providers as buttons into the
link page flow, and a SimpleFIN setup token pasted into the chat is claimed there, never kept
in the thread nor logged. Over HTTP on 127.0.0.1, the SimpleFIN simulator mounted as in the demo,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from tests.conftest import Stack, running_stack
from tests.integration.test_provider_linking import START, _between, _csrf, _sign_up

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.linking.chat_link import REDACTED
from ledgerlink.services.messaging import messenger


@pytest.fixture
async def pstack(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Stack, FrozenClock]]:
    clock = FrozenClock(START)
    async with running_stack(tmp_path, db_url, clock=clock) as s:
        yield s, clock


async def _system(stack: Stack, handle: str) -> tuple[Grant, str]:
    async with stack.deps.uow(readonly=True) as uow:
        person = await uow.persons.by_handle(handle)
        assert person is not None
        system = await uow.threads.system_thread(person.id)
    assert system is not None
    return Grant.for_person(person.id), system.id


async def _say(http: httpx.AsyncClient, thread_id: str, text: str) -> None:
    page = await http.get(f"/threads/{thread_id}")
    resp = await http.post(f"/threads/{thread_id}/messages", data={"csrf": _csrf(page.text), "text": text})
    assert resp.status_code in (200, 204, 303), resp.text


async def _setup_token(http: httpx.AsyncClient) -> str:
    page = await http.get("/link/provider/simplefin")
    setup = await http.get(_between(page.text, 'data-testid="setup-page" href="', '"'))
    return _between(setup.text, "<code id=token>", "</code>")


async def _texts(stack: Stack, grant: Grant, thread_id: str) -> list[dict[str, Any]]:
    return [m.body for m in await messenger.thread_messages(stack.deps, grant, thread_id)
            if m.kind is CardKind.TEXT]


async def test_link_a_bank_in_a_thread_answers_with_each_bank_and_provider_as_a_button_into_the_link_flow(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    stack, _ = pstack
    async with stack.client() as http:
        await _sign_up(http, "lou")
        grant, system = await _system(stack, "lou")
        await _say(http, system, "Link a bank")
        await stack.container.drain()
        answer = (await _texts(stack, grant, system))[-1]
        hrefs = {a["label"]: a["href"] for a in answer["actions"]}
        assert hrefs["Sandbox Bank"] == "/link?bank=sandbox-bank"
        for slug in ("simplefin", "enablebanking", "gocardless"):
            assert f"/link/provider/{slug}" in hrefs.values()
        assert "paste your setup token here" in answer["text"]
        # A bank's button opens the link page with that one choice, which starts the usual flow.
        chosen = await http.get(hrefs["Sandbox Bank"])
        assert 'data-testid="bank-sandbox-bank"' in chosen.text
        assert 'data-testid="bank-simplefin"' not in chosen.text
        partner_id = _between(chosen.text, 'name="partner_id" value="', '"')
        start = await http.post("/link", data={"csrf": _csrf(chosen.text), "partner_id": partner_id})
        assert start.status_code == 303, start.text  # on to the bank's consent page
        provider = await http.get("/link/provider/gocardless")
        assert provider.status_code == 200 and 'name="institution_id"' in provider.text


async def test_a_setup_token_pasted_in_the_chat_is_claimed_and_never_kept_logged_or_echoed(
    pstack: tuple[Stack, FrozenClock],
) -> None:
    stack, _ = pstack
    async with stack.client() as http:
        await _sign_up(http, "sam")
        grant, system = await _system(stack, "sam")
        token = await _setup_token(http)
        with structlog.testing.capture_logs() as logs:
            await _say(http, system, f"here it is:\n{token}\n")
            await stack.container.drain()
        bodies = await _texts(stack, grant, system)
        mine = [b for b in bodies if b.get("from") == "person"]
        assert [b["text"] for b in mine] == [REDACTED]
        assert "Linked through SimpleFIN" in bodies[-1]["text"]
        async with stack.deps.uow(readonly=True) as uow:
            links = await uow.links.for_person(grant.person_id)
            threads = await uow.threads.for_person(grant.person_id)
        assert [(lk.status, lk.scopes) for lk in links] == [
            ("active", ["balances", "transactions", "alerts"])]
        every_text = [str(b) for t in threads for b in await _texts(stack, grant, t.id)]
        assert every_text and not any(token in t for t in every_text)
        assert not any(token in repr(entry) for entry in logs)

        # The same token again: SimpleFIN refuses the claim; the warning says it may be compromised.
        await _say(http, system, token)
        await stack.container.drain()
        bodies = await _texts(stack, grant, system)
        assert [b["text"] for b in bodies if b.get("from") == "person"] == [REDACTED, REDACTED]
        assert any("someone else may have" in b["text"] for b in bodies[-3:])
        assert bodies[-1]["text"] == "Nothing was linked: the reason is just above."
        async with stack.deps.uow(readonly=True) as uow:
            assert [lk.status for lk in await uow.links.for_person(grant.person_id)].count("active") == 1
