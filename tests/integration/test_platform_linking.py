"""Messenger over real HTTP against the Graph API simulator (its own uvicorn on 127.0.0.1; the
platform configured live against it): account linking as the platform defines it, a fraud
prompt answered by a quick reply that reaches the bank, the platform's edits as follow-ups,
unlinking from either side, and Graph errors with backoff shown in settings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from sqlalchemy import select
from tests.integration.test_linking_flow import _linked
from tests.integration.test_second_factor import STEP, enrol_totp
from tests.platform_support import PASSWORD, SimStack, link_messenger, live_against_simulator, until

from ledgerlink.adapters.db import schema
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FIELD = re.compile(r'name="(csrf|account_linking_token|redirect_uri)" value="([^"]*)"')


@asynccontextmanager
async def _signed_in(s: SimStack) -> AsyncIterator[httpx.AsyncClient]:
    async with s.stack.client() as http:
        page = await http.get("/login")
        resp = await http.post(
            "/login", data={"csrf": CSRF.search(page.text)[1], "handle": "pat", "password": PASSWORD}
        )
        assert resp.status_code == 303
        yield http


async def _bindings(s: SimStack) -> list[dict[str, object]]:
    async with s.container.deps.uow(readonly=True) as uow:
        rows = (await uow._conn.execute(select(schema.platform_bindings))).mappings().all()  # type: ignore[attr-defined]
    return [dict(r) for r in rows]


async def test_a_person_links_messenger_and_answers_was_this_you_with_a_tap(
    tmp_path: Path, db_url: str
) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        grant, thread_id = await _linked(s.stack)
        sim = s.sim
        await link_messenger(s)
        [binding] = await _bindings(s)
        assert binding["person_id"] == grant.person_id and binding["platform"] == "messenger"
        assert sim.world.user("pat").psid not in str(binding)  # only a keyed digest of the PSID is stored
        assert sim.world.subscribed["messenger"] is True  # the verify handshake ran before the first delivery

        # A purchase comes as a generic template; its prompt as a button template (postback buttons).
        txn_id, _ = await s.stack.bank.suspicious_purchase("alice", merchant="Shell", amount="249.00")
        await until(
            lambda: any(b.kind == "postback" for e in sim.messages("messenger", "pat") for b in e.buttons),
            s.step,
        )
        cards = [e for e in sim.messages("messenger", "pat") if e.kind == "generic" and "Shell" in e.title]
        assert len(cards) == 1 and cards[0].title.startswith("Pending: Shell")
        assert cards[0].buttons[0].kind == "web_url" and thread_id in cards[0].buttons[0].url
        prompt = next(
            e for e in sim.messages("messenger", "pat") if any(b.kind == "postback" for b in e.buttons)
        )
        assert prompt.text.startswith("Sandbox Bank ✓ verified\nWas this you? Shell")
        assert [b.title for b in prompt.buttons] == ["Yes, it was me", "No, it wasn't me"]

        # "No, it wasn't me": the signed answer reaches the bank, the bank's reply comes back here.
        sim.tap("messenger", "pat", prompt.id, 1)
        await until(lambda: any("froze" in e.text for e in sim.messages("messenger", "pat")), s.step)
        account_id = s.stack.bank.transaction(txn_id)["account_id"]
        assert next(a for a in s.stack.bank.accounts_of("alice") if a.account_id == account_id).frozen
        async with s.container.deps.uow(readonly=True) as uow:
            answered = await uow.prompts.by_message(prompt.buttons[1].payload.split("|")[1])
        assert answered is not None and answered.answer == "no" and answered.answered_via == "messenger"
        texts = [e.text for e in sim.messages("messenger", "pat")]
        assert any(t.startswith("Answered: “Was this you? Shell") for t in texts)
        # The platform cannot edit: the cancelled purchase is a follow-up quoting the first card.
        assert any(
            t.startswith("Update to “Pending: Shell -249.00 USD") and "Cancelled: Shell" in t for t in texts
        )
        assert (
            len([e for e in sim.messages("messenger", "pat") if e.kind == "generic" and "Shell" in e.title])
            == 1
        )

        # A text in Messenger is a command, answered in Messenger; the person's words are not echoed.
        before = len(sim.messages("messenger", "pat"))
        sim.say("messenger", "pat", "balance")
        await until(lambda: len(sim.messages("messenger", "pat")) > before, s.step)
        assert "Checking ••" in sim.messages("messenger", "pat")[-1].text  # the balance answer
        assert "balance" not in [e.text for e in sim.messages("messenger", "pat")]
        mine = [
            m.body["text"]
            for m in await messenger.thread_messages(s.container.deps, grant, thread_id)
            if m.kind is CardKind.TEXT and m.body.get("from") == "person"
        ]
        assert mine == ["balance"]


async def test_an_unlinked_chat_gets_only_the_link_prompt(tmp_path: Path, db_url: str) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        await _linked(s.stack)
        await link_messenger(s)
        s.sim.say("messenger", "sam", "balance")
        s.sim.say("messenger", "sam", "last 5 transactions")
        await until(lambda: len(s.sim.messages("messenger", "sam")) >= 2, s.step)
        answers = s.sim.messages("messenger", "sam")
        assert all(e.kind == "button" and e.buttons[0].kind == "account_link" for e in answers)
        assert not any("USD" in e.text or "••" in e.text for e in answers)


async def test_unlinking_from_either_side_ends_the_binding_and_tells_the_other(
    tmp_path: Path, db_url: str
) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        grant, _ = await _linked(s.stack)
        await link_messenger(s)
        pat = s.sim.world.user("pat")
        # From Messenger's side: the platform's `unlinked` event.
        s.sim.unlink(pat.psid)
        await until(
            lambda: any(e.text.startswith("Unlinked") for e in s.sim.messages("messenger", "pat")), s.step
        )
        assert await _bindings(s) == []
        system = next(
            t for t in await messenger.list_threads(s.container.deps, grant) if t.kind.value == "system"
        )
        texts = [
            m.body.get("text", "")
            for m in await messenger.thread_messages(s.container.deps, grant, system.id)
        ]
        assert any("unlinked from Messenger's side" in t for t in texts)

        # Linked again, then unlinked in Ledgerlink's settings: the platform is told (unlink API).
        await link_messenger(s)
        assert pat.linked
        [binding] = await _bindings(s)
        async with _signed_in(s) as http:
            page = await http.get("/settings/channels")
            assert f'data-testid="unlink-{binding["channel_id"]}"' in page.text
            resp = await http.post(
                f"/settings/channels/{binding['channel_id']}/unlink", data={"csrf": CSRF.search(page.text)[1]}
            )
            assert resp.status_code == 303
        await until(lambda: not pat.linked, s.step)  # Meta's side ended too
        await s.step()
        assert await _bindings(s) == []
        assert s.sim.messages("messenger", "pat")[-1].text.startswith("Unlinked in Ledgerlink")
        # The unlinked PSID is back to the link prompt only.
        s.sim.say("messenger", "pat", "balance")
        await until(lambda: s.sim.messages("messenger", "pat")[-1].kind == "button", s.step)


async def test_graph_errors_back_off_turn_the_channel_off_or_show_in_settings(
    tmp_path: Path, db_url: str
) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        await _linked(s.stack)
        await link_messenger(s)
        channel = s.container.platform_channels["messenger"]
        sim = s.sim

        # Rate limited (613, with a wait): the row waits, the channel pauses, then it goes out.
        sim.inject("messenger", 613, retry_after=1)
        await s.stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
        await until(lambda: channel.health.state == "rate_limited", s.step)
        async with s.container.deps.uow(readonly=True) as uow:
            [binding] = await uow.platforms.bindings_of_person((await uow.persons.by_handle("pat")).id)  # type: ignore[union-attr]
            rows = await uow.channels.recent_deliveries(binding.channel_id, limit=5)
        assert any(r.status == "pending" and r.last_error == "graph_613" for r in rows)
        await until(
            lambda: any("Blue Bottle" in e.title for e in sim.messages("messenger", "pat")),
            s.step,
            seconds=30,
        )
        await until(lambda: channel.health.state == "ok", s.step)  # once our side has the answer

        # The person blocked the page (551): the channel is turned off and they are told.
        sim.world.user("pat").blocked = True
        await s.stack.bank.purchase("alice", merchant="Whole Foods Market", amount="23.10")
        state: dict[str, object] = {}

        async def step() -> None:
            await s.step()
            async with s.container.deps.uow(readonly=True) as uow:
                state["channel"] = await uow.channels.get(binding.channel_id)

        await until(lambda: getattr(state.get("channel"), "status", None) == "disabled", step)
        assert getattr(state["channel"], "disabled_reason", None) == "blocked"
        grant_texts = [m.body.get("text", "") for m in await _system_messages(s)]
        assert any("cannot be reached any more" in t for t in grant_texts)

        # Linked again; then the page token is refused (190): retried later, the settings say so.
        sim.world.user("pat").blocked = False
        await link_messenger(s)
        sim.config.messenger_page_token = "EAArevoked"
        await s.stack.bank.purchase("alice", merchant="Starbucks", amount="3.45")
        await until(lambda: channel.health.state == "token_refused", s.step)
        async with _signed_in(s) as http:
            page = await http.get("/settings/channels")
        assert "access token (graph_190)" in page.text, page.text[page.text.find("messenger-state") :][:400]


async def _system_messages(s: SimStack) -> list[Any]:
    async with s.container.deps.uow(readonly=True) as uow:
        person = await uow.persons.by_handle("pat")
    assert person is not None
    grant = Grant.for_person(person.id)
    system = next(
        t for t in await messenger.list_threads(s.container.deps, grant) if t.kind.value == "system"
    )
    return list(await messenger.thread_messages(s.container.deps, grant, system.id))


async def test_log_in_from_messenger_with_a_second_factor_goes_through_the_second_step_and_back(
    tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(datetime(2026, 11, 26, 9, 0, 7, tzinfo=UTC))
    async with live_against_simulator(tmp_path, db_url, clock=clock) as s:
        await _linked(s.stack)
        async with _signed_in(s) as http:
            app, _ = await enrol_totp(http, clock)
        sim = s.sim
        sim.say("messenger", "pat", "hi")
        await until(lambda: bool(sim.messages("messenger", "pat")), s.step)
        url = sim.tap("messenger", "pat", sim.messages("messenger", "pat")[-1].id, 0)
        assert url is not None
        link_path = url.split("?")[0]
        async with httpx.AsyncClient(timeout=10.0) as browser:
            page = await browser.get(url)
            fields = {k: v.replace("&amp;", "&") for k, v in FIELD.findall(page.text)}
            resp = await browser.post(link_path, data={**fields, "handle": "pat", "password": PASSWORD})
            assert resp.status_code == 303 and resp.headers["location"] == STEP  # the password is not enough
            step = await browser.get(urljoin(link_path, STEP))
            assert step.status_code == 200
            clock.advance(timedelta(seconds=30))
            resp = await browser.post(
                urljoin(link_path, STEP),
                data={"csrf": CSRF.search(step.text)[1], "factor_code": app.code()},  # type: ignore[index]
            )
            assert resp.status_code == 303
            back = urljoin(link_path, resp.headers["location"])
            assert back.split("?")[0] == link_path and "account_linking_token=" in back  # back to linking
            page = await browser.get(back)
            assert page.status_code == 200 and 'name="password"' not in page.text
            fields = {k: v.replace("&amp;", "&") for k, v in FIELD.findall(page.text)}
            resp = await browser.post(link_path, data=fields)
            assert resp.status_code == 303 and "authorization_code=" in resp.headers["location"]
            assert (await browser.get(resp.headers["location"])).status_code == 303
        await until(lambda: any("is now linked" in e.text for e in sim.messages("messenger", "pat")), s.step)
        [binding] = await _bindings(s)
        assert binding["platform"] == "messenger"
