"""The Matrix channel against a real Synapse (started by ./scripts/test on 127.0.0.1): the
platform's bot opens a direct room per thread, sends formatted cards, edits them in place
with m.replace, reads the person's replies, and survives a dead homeserver and a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import Stack, running_stack
from tests.integration.test_channel_pages import _signed_in
from tests.integration.test_channels import Receiver, _transaction_posts
from tests.integration.test_linking_flow import _linked
from tests.matrix_fixtures import (
    MatrixUser,
    Person,
    Relay,
    Synapse,
    person_client,
    register,
    synapse,
    until,
)

from ledgerlink.adapters.db import schema
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.testing import bind_loopback, serve
from ledgerlink.services.messaging import channels, messenger
from ledgerlink.services.messaging.channel_ports import OutboundMessage
from ledgerlink.services.messaging.matrix_channel import edit_content, parse_mxid, render
from ledgerlink.services.privacy import rights

__all__ = ["synapse"]  # the fixture, imported to be found by pytest
# One pytest-xdist worker runs these one after another (scripts/test: --dist loadgroup): run in
# parallel against the one shared Synapse, test_matrix_round_trip hung in two runs, and passes alone.
pytestmark = pytest.mark.xdist_group("synapse")

HTML = "org.matrix.custom.html"


def _matrix(url: str, bot: MatrixUser) -> dict[str, Any]:
    return {"matrix_homeserver": url, "matrix_user": bot.mxid, "matrix_password": bot.password,
            "matrix_sync_timeout_seconds": 1.0}


def _step(stack: Stack, person: Person) -> Any:
    async def step() -> None:
        await stack.container.drain()
        await person.sync()
    return step


async def _room(stack: Stack, person: Person) -> str:
    """Wait for the bot's invitation and join the room."""
    await until(lambda: bool(person.invites), _step(stack, person))
    [room_id] = person.invites
    await person.join(room_id)
    return room_id


def _purchases(person: Person, room_id: str, bot: MatrixUser) -> list[str]:
    """Bodies of the bot's transaction messages (not edits), in room order."""
    return [e["content"]["body"] for e in person.originals(room_id, bot.mxid)
            if e["content"]["body"].startswith(("Pending: ", "Posted: "))]


async def _person_texts(stack: Stack, grant: Grant, thread_id: str) -> list[str]:
    return [m.body["text"] for m in await messenger.thread_messages(stack.deps, grant, thread_id)
            if m.kind is CardKind.TEXT and m.body.get("from") == "person"]


async def test_matrix_round_trip(tmp_path: Path, db_url: str, synapse: Synapse) -> None:
    bot, pat, friend = [await register(synapse, n) for n in ("bot", "pat", "friend")]
    async with running_stack(tmp_path, db_url, **_matrix(synapse.url, bot)) as stack, \
            person_client(synapse, pat) as person, person_client(synapse, friend) as other:
        grant, thread_id = await _linked(stack)
        await channels.add_matrix(stack.deps, grant, mxid=pat.mxid, enabled=True, bot=bot.mxid)
        step = _step(stack, person)

        # A purchase arrives formatted, in a direct room named after the bank.
        pending_id = await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
        room_id = await _room(stack, person)
        assert person.invites[room_id] == bot.mxid
        await until(lambda: len(person.originals(room_id, bot.mxid)) >= 1, step)
        first = person.originals(room_id, bot.mxid)[0]
        content = first["content"]
        assert content["msgtype"] == "m.text"
        assert content["format"] == HTML
        assert content["body"].startswith("Pending: Blue Bottle Coffee -4.50 USD")
        assert content["formatted_body"].startswith(
            "<p><strong>Pending</strong>: Blue Bottle Coffee -4.50 USD")
        assert person.client.rooms[room_id].name == "Sandbox Bank"

        # Posting it edits the same event in place: an m.replace, not a second message.
        await stack.bank.post(pending_id, final_amount="5.40")
        await until(lambda: bool(person.edits_of(room_id, first["event_id"])), step)
        [edit] = person.edits_of(room_id, first["event_id"])
        new = edit["content"]["m.new_content"]
        assert new["body"].startswith("Posted: Blue Bottle Coffee -5.40 USD")
        assert new["format"] == HTML and "<strong>Posted</strong>" in new["formatted_body"]
        assert edit["content"]["body"].startswith("* ")

        # Per-thread order: later purchases come after, in the order they happened.
        await stack.bank.purchase("alice", merchant="Whole Foods Market", amount="23.10")
        await stack.bank.purchase("alice", merchant="Starbucks", amount="3.45")
        await until(lambda: len(_purchases(person, room_id, bot)) >= 3, step)
        bodies = _purchases(person, room_id, bot)
        assert len(bodies) == 3
        assert [b.split(" -")[0] for b in bodies] == [
            "Pending: Blue Bottle Coffee", "Pending: Whole Foods Market", "Pending: Starbucks"]  # originals

        # The person's text is a command, answered in the room; their own words are not echoed.
        before = len(person.originals(room_id, bot.mxid))
        await person.say(room_id, "balance")
        await until(lambda: len(person.originals(room_id, bot.mxid)) > before, step, seconds=30)
        answer = person.originals(room_id, bot.mxid)[before]["content"]["body"]
        assert "••" in answer and "$" in answer, answer  # the balance answer, locale-formatted
        assert "balance" not in [e["content"]["body"] for e in person.originals(room_id, bot.mxid)]

        # Someone else in the room is not the channel's owner: ignored.
        await person.invite(room_id, friend.mxid)
        await until(lambda: room_id in other.invites, other.sync)
        await other.join(room_id)
        await other.say(room_id, "last 5 transactions")
        await person.say(room_id, "help")
        count = len(person.originals(room_id, bot.mxid))
        await until(lambda: len(person.originals(room_id, bot.mxid)) > count, step, seconds=30)
        await asyncio.sleep(1.5)  # a longer sync than the bot's, in case it had answered twice
        await step()
        replies = person.originals(room_id, bot.mxid)[count:]
        assert len(replies) == 1 and "You can ask" in replies[0]["content"]["body"]
        assert await _person_texts(stack, grant, thread_id) == ["balance", "help"]

        # Erasure removes the room mapping, the event ids and the handled inbound ids, and the
        # bot says goodbye in the room and leaves it.
        assert await _matrix_rows(stack, grant.person_id) > 0
        await rights.erase_person(stack.deps, grant)
        await stack.container.drain()
        assert await _matrix_rows(stack, grant.person_id) == 0
        await until(lambda: _bot_left(person, room_id, bot), step)
        assert _notices(person, room_id, bot)[-1].startswith("This room gets no more updates from Ledgerlink")


async def test_removing_the_matrix_channel_closes_its_rooms(
        tmp_path: Path, db_url: str, synapse: Synapse) -> None:
    bot, pat = [await register(synapse, n) for n in ("bot", "pat")]
    async with running_stack(tmp_path, db_url, **_matrix(synapse.url, bot)) as stack, \
            person_client(synapse, pat) as person:
        grant, _ = await _linked(stack)
        channel_id = await channels.add_matrix(stack.deps, grant, mxid=pat.mxid, enabled=True, bot=bot.mxid)
        step = _step(stack, person)
        await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
        room_id = await _room(stack, person)
        await until(lambda: len(_purchases(person, room_id, bot)) >= 1, step)
        await channels.remove(stack.deps, grant, channel_id)
        await until(lambda: _bot_left(person, room_id, bot), step)
        assert _notices(person, room_id, bot)[-1].startswith("This room gets no more updates from Ledgerlink")
        async with stack.deps.uow(readonly=True) as uow:
            assert await uow.matrix.rooms_of_person(grant.person_id) == []
        await stack.bank.purchase("alice", merchant="Starbucks", amount="3.45")  # goes nowhere now
        await stack.container.drain()
        await person.sync()
        assert len(_purchases(person, room_id, bot)) == 1


def _bot_left(person: Person, room_id: str, bot: MatrixUser) -> bool:
    return any(e.get("type") == "m.room.member" and e.get("state_key") == bot.mxid
               and e["content"].get("membership") == "leave" for e in person.timeline.get(room_id, []))


async def _matrix_rows(stack: Stack, person_id: str) -> int:
    total = 0
    async with stack.container.engine.connect() as conn:
        for table in (schema.matrix_rooms, schema.matrix_events, schema.matrix_inbound):
            query = select(func.count()).select_from(table).where(table.c.person_id == person_id)
            total += int((await conn.execute(query)).scalar_one())
    return total


async def _matrix_deliveries(stack: Stack, grant: Grant) -> list[Any]:
    [summary] = [s for s in await channels.overview(stack.deps, grant) if s.kind == "matrix"]
    return summary.deliveries


async def test_a_dead_homeserver_blocks_nothing_and_a_restart_loses_nothing(
    tmp_path: Path, db_url: str, synapse: Synapse
) -> None:
    bot, pat = [await register(synapse, n) for n in ("bot", "pat")]
    relay = Relay(synapse.url)  # the platform reaches Synapse only through it
    await relay.restore()
    clock = FrozenClock(datetime.now(UTC))
    hook_sock, hook_url = bind_loopback()
    receiver = Receiver()
    settings = {**_matrix(relay.url, bot), "outbound_allow_loopback": True}  # the 127.0.0.1 webhook
    try:
        await _dead_homeserver_then_restarts(tmp_path, db_url, synapse, bot, pat, relay, clock,
                                             settings, hook_sock, hook_url, receiver)
    finally:
        await relay.cut()


async def _dead_homeserver_then_restarts(
    tmp_path: Path, db_url: str, synapse: Synapse, bot: MatrixUser, pat: MatrixUser, relay: Relay,
    clock: FrozenClock, settings: dict[str, Any], hook_sock: Any, hook_url: str, receiver: Receiver,
) -> None:
    async with serve(receiver, hook_sock), person_client(synapse, pat) as person:
        async with running_stack(tmp_path, db_url, clock=clock, **settings) as stack:
            grant, thread_id = await _linked(stack)
            await channels.add_matrix(stack.deps, grant, mxid=pat.mxid, enabled=True, bot=bot.mxid)
            await channels.add_webhook(stack.deps, grant, url=hook_url + "/hook")
            pending_id = await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
            room_id = await _room(stack, person)
            step = _step(stack, person)
            await until(lambda: len(_purchases(person, room_id, bot)) == 1, step)
            await until(lambda: _transaction_posts(receiver) == 1, step)
            first = person.originals(room_id, bot.mxid)[0]

            # The homeserver goes away: the web thread and the webhook still get everything.
            await relay.cut()
            await stack.bank.post(pending_id, final_amount="5.40")
            await stack.bank.purchase("alice", merchant="Whole Foods Market", amount="23.10")
            await until(lambda: _transaction_posts(receiver) == 3, step)
            cards = [m.body for m in await messenger.thread_messages(stack.deps, grant, thread_id)
                     if m.kind is CardKind.TRANSACTION]
            assert [(c["merchant"], c["status"]) for c in cards] == [
                ("Blue Bottle Coffee", "posted"), ("Whole Foods Market", "pending")]
            # Matrix deliveries wait, and the person sees why on the channels page.
            waiting = [d for d in await _matrix_deliveries(stack, grant) if d.status == "pending"]
            assert waiting and all(d.next_attempt_at is not None for d in waiting)
            assert any(d.attempts >= 1 and d.last_error for d in waiting)
            async with stack.client() as web:
                assert (await web.get("/healthz")).status_code == 200
            # The person writes while the bot cannot read.
            await person.say(room_id, "balance")

        # The platform restarts while those deliveries are still owed; the homeserver is back.
        await relay.restore()
        async with running_stack(tmp_path, db_url, clock=clock, **settings) as stack:
            clock.advance(timedelta(hours=7))  # past the longest backoff
            assert stack.container.channel_worker is not None
            stack.container.channel_worker.poke()
            step = _step(stack, person)
            await until(lambda: bool(person.edits_of(room_id, first["event_id"]))
                        and len(_purchases(person, room_id, bot)) == 2
                        and any("••" in e["content"]["body"] and "USD" in e["content"]["body"]
                                and not e["content"]["body"].startswith(("Pending", "Posted"))
                                for e in person.originals(room_id, bot.mxid)), step, seconds=40)
            await asyncio.sleep(1.5)
            await step()
            assert len(person.edits_of(room_id, first["event_id"])) == 1
            assert person.edits_of(room_id, first["event_id"])[0]["content"]["m.new_content"]["body"] \
                .startswith("Posted: Blue Bottle Coffee -5.40 USD")
            purchases = _purchases(person, room_id, bot)
            assert len(purchases) == 2 and purchases[1].startswith("Pending: Whole Foods Market -23.10 USD")
            assert await _person_texts(stack, grant, thread_id) == ["balance"]
            assert {d.status for d in await _matrix_deliveries(stack, grant)} <= {
                "delivered", "superseded", "skipped"}

            # A crash between the Matrix send and the state write leaves the row pending and
            # the event unrecorded: the retry reuses the delivery id as the transaction id, and
            # Synapse answers with the event it already has. Nothing is posted twice.
            sent = person.originals(room_id, bot.mxid)
            whole_foods = next(e for e in sent if e["content"]["body"].startswith("Pending: Whole Foods"))
            await _forget_sending(stack, whole_foods["event_id"])
            stack.container.channel_worker.poke()
            await until(lambda: True, step)
            await asyncio.sleep(1.0)
            await step()
            assert person.originals(room_id, bot.mxid) == sent
            async with stack.deps.uow(readonly=True) as uow:
                again = await uow.matrix.event_by_id(room_id, whole_foods["event_id"])
            assert again is not None

        # Another restart: the sync token and the handled ids keep old messages from being
        # taken again.
        async with running_stack(tmp_path, db_url, clock=clock, **settings) as stack:
            assert stack.container.matrix_inbound is not None
            assert await stack.container.matrix_inbound.run_once(timeout_ms=0) == 0
            await asyncio.sleep(1.5)
            await stack.container.drain()
            assert await _person_texts(stack, grant, thread_id) == ["balance"]


async def _forget_sending(stack: Stack, event_id: str) -> None:
    """The state a crash right after the Matrix send leaves: delivery pending, no event row."""
    from sqlalchemy import delete, select, update

    from ledgerlink.adapters.db import schema as s

    async with stack.container.engine.begin() as conn:
        e, d = s.matrix_events, s.channel_deliveries
        row = (await conn.execute(select(e).where(e.c.event_id == event_id))).one()
        await conn.execute(delete(e).where(e.c.event_id == event_id))
        await conn.execute(update(d).where(d.c.id == row.delivery_id)
                           .values(status="pending", next_attempt_at=stack.deps.clock.now()))


async def test_prompts_answered_by_number_or_reaction_and_a_reply_reaches_the_bank(
    tmp_path: Path, db_url: str, synapse: Synapse
) -> None:
    bot, pat = [await register(synapse, n) for n in ("bot", "pat")]
    async with running_stack(tmp_path, db_url, **_matrix(synapse.url, bot)) as stack, \
            person_client(synapse, pat) as person:
        grant, thread_id = await _linked(stack)
        await channels.add_matrix(stack.deps, grant, mxid=pat.mxid, enabled=True, bot=bot.mxid)
        step = _step(stack, person)

        # "Was this you?" arrives with numbered options, the bank's verified name, and one
        # keycap reaction per option from the bot.
        await stack.bank.suspicious_purchase("alice", amount="249.00")
        room_id = await _room(stack, person)
        await until(lambda: bool(_prompts(person, room_id, bot)), step)
        [prompt] = _prompts(person, room_id, bot)
        content = prompt["content"]
        assert content["body"].startswith("Sandbox Bank ✓ verified\nWas this you? ")
        assert "-249.00 USD" in content["body"]
        assert "Reply 1 — Yes, it was me\nReply 2 — No, it wasn't me" in content["body"]
        assert "<ol><li>Yes, it was me</li><li>No, it wasn&#x27;t me</li></ol>" in content["formatted_body"]
        await until(lambda: len(person.reactions(room_id, prompt["event_id"])) == 2, step)
        assert [r["content"]["m.relates_to"]["key"] for r in person.reactions(room_id, prompt["event_id"])] \
            == ["1️⃣", "2️⃣"]

        # A keycap reaction answers it ("yes": the charge stands).
        await person.react(room_id, prompt["event_id"], "1️⃣")
        await until(lambda: _answered(person, room_id, prompt), step, seconds=30)
        # A second answer is not taken, and the room says why; so is a message too long to keep.
        await person.react(room_id, prompt["event_id"], "2️⃣")
        await person.say(room_id, "x" * 2001)
        await until(lambda: len(_notices(person, room_id, bot)) == 2, step, seconds=30)
        assert _notices(person, room_id, bot) == [
            "Not taken: this question was already answered (Yes, it was me).",
            "Not taken: the message is longer than 2000 characters."]
        # A bare number answers the open prompt ("no": the bank freezes the card).
        await stack.bank.suspicious_purchase("alice", amount="80.00")
        await until(lambda: len(_prompts(person, room_id, bot)) == 2, step)
        second = _prompts(person, room_id, bot)[1]
        await person.say(room_id, "2")
        await until(lambda: _answered(person, room_id, second), step, seconds=30)
        await until(lambda: any(a.frozen for a in stack.bank.accounts_of("alice")), step)
        async with stack.deps.uow(readonly=True) as uow:
            answers = [await uow.prompts.by_message(m.id)
                       for m in await messenger.thread_messages(stack.deps, grant, thread_id)
                       if m.kind is CardKind.FRAUD and not m.body.get("reminder")]
        assert [(p.answer, p.answered_via) for p in answers if p] == [("yes", "matrix"), ("no", "matrix")]
        # The card was edited in place: still two prompt messages in the room, no echo of "2".
        assert len(_prompts(person, room_id, bot)) == 2
        assert "2" not in [e["content"]["body"] for e in person.originals(room_id, bot.mxid)]

        # Free text in the bank's room goes to the bank's customer service, which acts and
        # answers in the same room, signed and shown as verified.
        before = len(person.originals(room_id, bot.mxid))
        await person.say(room_id, "Hi, please unfreeze my card")
        await until(lambda: any(r.kind == "service" for r in stack.bank.messages_sent), step, seconds=30)
        mine = [m for m in await messenger.thread_messages(stack.deps, grant, thread_id)
                if m.body.get("text") == "Hi, please unfreeze my card"]
        assert len(mine) == 1 and mine[0].body["from"] == "person"
        # The bank's answer names the request that carried the person's message.
        [service] = [r for r in stack.bank.messages_sent if r.kind == "service"]
        assert service.in_reply_to is not None
        assert mine[0].subject_key == f"to-bank:{service.in_reply_to['message_id']}"
        assert not any(a.frozen for a in stack.bank.accounts_of("alice"))
        await until(lambda: any("unfroze" in e["content"]["body"].lower()
                                for e in person.originals(room_id, bot.mxid)[before:]), step, seconds=30)
        answer = next(e for e in person.originals(room_id, bot.mxid)[before:]
                      if "unfroze" in e["content"]["body"].lower())["content"]
        assert answer["body"].startswith("Sandbox Bank ✓ verified\n")
        assert "<strong>Sandbox Bank</strong> <em>✓ verified</em>" in answer["formatted_body"]
        said = [e["content"]["body"] for e in person.originals(room_id, bot.mxid)]
        assert "Hi, please unfreeze my card" not in said  # not echoed


def _prompts(person: Person, room_id: str, bot: MatrixUser) -> list[dict[str, Any]]:
    return [e for e in person.originals(room_id, bot.mxid) if "Reply 1 — " in e["content"]["body"]]


def _answered(person: Person, room_id: str, prompt: dict[str, Any]) -> bool:
    return any(e["content"]["m.new_content"]["body"].endswith("Answered")
               for e in person.edits_of(room_id, prompt["event_id"]))


# --------------------------------------------------------------------------- adding the channel


async def test_the_channels_page_adds_a_matrix_id_and_explains_bad_ones(
    tmp_path: Path, db_url: str, synapse: Synapse
) -> None:
    bot = await register(synapse, "bot")
    async with running_stack(tmp_path, db_url, **_matrix(synapse.url, bot)) as stack, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.app), base_url=stack.platform_url
    ) as http:
        token = await _signed_in(stack, http, "mia")
        page = await http.get("/settings/channels")
        assert 'data-testid="matrix-form"' in page.text and bot.mxid in page.text
        for bad, why in [("mia", "starts with @"), ("@mia", "after a colon"),
                         ("@mia smith:example.org", "not a Matrix ID"), (bot.mxid, "own Matrix ID")]:
            resp = await http.post("/settings/channels/matrix", data={"csrf": token, "mxid": bad})
            assert resp.status_code == 400, bad
            assert why in resp.text and "Traceback" not in resp.text
        assert 'data-testid="channel-list"' not in (await http.get("/settings/channels")).text
        added = await http.post("/settings/channels/matrix",
                                data={"csrf": token, "mxid": "  @mia:example.org "})
        assert added.status_code == 303
        listed = await http.get("/settings/channels")
        assert "<strong>Matrix</strong> <code>@mia:example.org</code>" in listed.text


async def test_without_a_bot_the_matrix_channel_is_not_offered(stack: Stack) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.app), base_url=stack.platform_url
    ) as http:
        token = await _signed_in(stack, http, "noa")
        assert 'data-testid="matrix-off"' in (await http.get("/settings/channels")).text
        resp = await http.post("/settings/channels/matrix", data={"csrf": token, "mxid": "@noa:example.org"})
        assert resp.status_code == 400 and "Matrix is not set up on this server" in resp.text
    assert stack.container.matrix_inbound is None and stack.container.matrix_client is None


@pytest.mark.parametrize(("mxid", "ok"), [
    ("@alice:example.org", True), ("@a.b_c=d-e/f+g:matrix.example.org:8448", True),
    ("@x:[2001:db8::1]:443", True), ("@Legacy!Name:localhost", True),
    ("", False), ("alice:example.org", False), ("@alice", False), ("@:example.org", False),
    ("@alice:", False), ("@al ice:example.org", False), ("@alice:exa mple.org", False),
    ("@alice:example.org:99999", False), ("@" + "a" * 250 + ":example.org", False),
])
def test_matrix_ids_are_checked(mxid: str, ok: bool) -> None:
    if ok:
        assert parse_mxid(f" {mxid} ") == mxid
    else:
        with pytest.raises(InvalidInput) as err:
            parse_mxid(mxid)
        assert err.value.code == "bad_matrix_id" and err.value.detail


def test_cards_render_as_html_with_a_plain_fallback() -> None:
    base = dict(delivery_id="dlv_1", type="message.created", thread_id="thr_1", message_id="msg_1",
                seq=1, rev=1, thread_url="http://127.0.0.1:8000/threads/thr_1",
                at=datetime(2026, 1, 1, tzinfo=UTC), thread_title="Sandbox Bank")
    text = "Pending: <b>Shop</b> -1.00 USD (Card ••1)"
    card = render(OutboundMessage(kind="transaction", text=text, **base))
    assert card["body"] == text
    assert card["formatted_body"] == \
        "<p><strong>Pending</strong>: &lt;b&gt;Shop&lt;/b&gt; -1.00 USD (Card ••1)</p>"
    note = render(OutboundMessage(kind="text", text="line 1\nline 2", author="bank", verified=True, **base))
    assert note["body"] == "Sandbox Bank ✓ verified\nline 1\nline 2"
    assert note["formatted_body"] == ("<p><strong>Sandbox Bank</strong> <em>✓ verified</em></p>"
                                      "<p>line 1<br>line 2</p>")
    closed = render(OutboundMessage(kind="fraud", text="Was this you?", prompt_status="expired", **base))
    assert closed["body"].endswith("\nExpired") and "Reply 1" not in closed["body"]
    edit = edit_content(card, "$abc")
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$abc"}
    assert edit["m.new_content"] == card and edit["body"].startswith("* ")


def _notices(person: Person, room_id: str, bot: MatrixUser) -> list[str]:
    return [e["content"]["body"] for e in person.messages(room_id, bot.mxid)
            if e["content"].get("msgtype") == "m.notice"]
