"""Outside channels end to end: a webhook receiver and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from standardwebhooks import Webhook
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.testing import bind_loopback, serve
from ledgerlink.services.messaging import channels, messenger


@pytest.fixture
async def stack(tmp_path: Path, db_url: str) -> AsyncIterator[Stack]:
    """These receivers listen on 127.0.0.1 over plain http: the operator's test-only switch
    lets webhook channels reach loopback (never on by default; ADR 0018)."""
    async with running_stack(tmp_path, db_url, outbound_allow_loopback=True) as s:
        yield s


class Receiver:
    """A tiny ASGI webhook endpoint; `answers` are the statuses to give, then 200."""

    def __init__(self, answers: list[int] | None = None, *, hold: asyncio.Event | None = None) -> None:
        self.answers = list(answers or [])
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.hold = hold  # set: answer; unset: keep the sender waiting (a slow endpoint)

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.calls.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        if self.hold is not None:
            await self.hold.wait()
        status = self.answers.pop(0) if self.answers else 200
        headers = [(b"retry-after", b"1")] if status == 500 else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


async def _until(check: Callable[[], bool], stack: Stack, seconds: float = 8.0) -> None:
    for _ in range(int(seconds / 0.05)):
        await stack.container.drain()
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def _with_webhook(stack: Stack, receiver: Receiver, url: str) -> tuple[Grant, str, str]:
    grant, thread_id = await _linked(stack)
    _, secret = await channels.add_webhook(stack.deps, grant, url=url + "/hook")
    return grant, thread_id, secret


def _transaction_posts(receiver: Receiver) -> int:
    return sum(b'"kind":"transaction"' in body.replace(b" ", b"") for _, body in receiver.calls)


async def test_each_message_revision_is_one_signed_post(stack: Stack) -> None:
    sock, url = bind_loopback()
    receiver = Receiver()
    async with serve(receiver, sock):
        _, thread_id, secret = await _with_webhook(stack, receiver, url)
        pending_id = await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
        # Wait for the pending purchase itself to go out: an edit arriving before a revision is
        # sent supersedes it (only the latest body is kept), which is right but not this test.
        await _until(lambda: _transaction_posts(receiver) >= 1, stack)
        await stack.bank.post(pending_id, final_amount="5.40")
        await _until(lambda: _transaction_posts(receiver) >= 2, stack)
        await asyncio.sleep(0.2)
        await stack.container.drain()
    every = [Webhook(secret).verify(body, headers) for headers, body in receiver.calls]
    assert len({(p["data"]["message_id"], p["data"]["rev"]) for p in every}) == len(every)
    payloads = [p for p in every if p["data"]["kind"] == "transaction"]
    assert [p["type"] for p in payloads] == ["message.created", "message.updated"]
    assert payloads[0]["data"]["message_id"] == payloads[1]["data"]["message_id"]
    assert payloads[0]["data"]["rev"] < payloads[1]["data"]["rev"]
    assert payloads[1]["data"]["thread_id"] == thread_id
    assert "Blue Bottle Coffee" in payloads[1]["data"]["text"]
    assert len({h["webhook-id"] for h, _ in receiver.calls}) == len(receiver.calls)


async def test_a_500_is_retried_and_delivered_once(stack: Stack) -> None:
    sock, url = bind_loopback()
    receiver = Receiver(answers=[500])
    async with serve(receiver, sock):
        grant, _, _ = await _with_webhook(stack, receiver, url)
        await stack.bank.purchase("alice", merchant="Whole Foods Market", amount="23.10")
        await _until(lambda: len(receiver.calls) >= 2, stack)
        await asyncio.sleep(0.2)
        await stack.container.drain()
    ids = [h["webhook-id"] for h, _ in receiver.calls]
    assert ids.count(ids[0]) == 2, "the failed delivery is retried with the same id"
    [summary] = await channels.overview(stack.deps, grant)
    # Every revision that was sent ended delivered; one edited again before its turn is
    # superseded by the newer revision, never failed.
    assert all(d.status in ("delivered", "superseded") for d in summary.deliveries)
    assert any(d.status == "delivered" for d in summary.deliveries)
    assert sorted(d.attempts for d in summary.deliveries)[-1] == 2


async def test_410_turns_the_channel_off_and_blocks_nothing_else(stack: Stack) -> None:
    sock, url = bind_loopback()
    receiver = Receiver(answers=[410])
    async with serve(receiver, sock):
        grant, thread_id, _ = await _with_webhook(stack, receiver, url)
        await stack.bank.purchase("alice", merchant="Whole Foods Market", amount="23.10")
        await _until(lambda: len(receiver.calls) >= 1, stack)
        await stack.container.drain()
        await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
        await stack.container.drain()
    assert len(receiver.calls) == 1, "nothing more is sent to a gone endpoint"
    [summary] = await channels.overview(stack.deps, grant)
    assert (summary.status, summary.disabled_reason) == ("disabled", "gone")
    system = (await messenger.list_threads(stack.deps, grant))[0]
    texts = [m.body.get("text", "") for m in await messenger.thread_messages(stack.deps, grant, system.id)]
    assert any("410 Gone" in t for t in texts)
    bank = await messenger.thread_messages(stack.deps, grant, thread_id)
    assert "Blue Bottle Coffee" in [m.body.get("merchant") for m in bank]


async def test_a_slow_channel_does_not_hold_back_another(stack: Stack) -> None:
    """Two endpoints of one person; one keeps every request waiting. The other gets the first
    message and then the next one while the slow one is still answering its first."""
    slow_sock, slow_url = bind_loopback()
    fast_sock, fast_url = bind_loopback()
    release = asyncio.Event()
    slow, fast = Receiver(hold=release), Receiver()
    async with serve(slow, slow_sock), serve(fast, fast_sock):
        grant, thread_id, _ = await _with_webhook(stack, slow, slow_url)
        await channels.add_webhook(stack.deps, grant, url=fast_url + "/hook")
        deps = stack.deps
        for text in ("first", "second"):
            async with deps.uow() as uow:
                thread = await uow.threads.get(thread_id)
                assert thread is not None
                await messenger.post_text(deps, uow, thread, f"{text} note")
                await deps.commit_and_publish(uow)
            await _wait_for(lambda t=text: any(f"{t} note".encode() in b for _, b in fast.calls))  # type: ignore[misc]
        assert len(slow.calls) == 1 and not release.is_set(), "the slow endpoint is still on its first"
        release.set()
        await _until(lambda: sum(b"second note" in b for _, b in slow.calls) == 1, stack)
        await stack.container.drain()


async def _wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Without draining (a drain would wait for the slow endpoint)."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.mails.append(envelope)
        return "250 OK"


async def test_email_carries_only_the_minimal_preview(tmp_path: Path, db_url: str) -> None:
    mailbox = Mailbox()
    sock, _ = bind_loopback()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(mailbox), sock=sock)
    port = sock.getsockname()[1]
    try:
        async with running_stack(tmp_path, db_url, smtp_host="127.0.0.1", smtp_port=port,
                                 smtp_sender="bank@ledgerlink.test") as stack:
            grant, thread_id = await _linked(stack)
            async with stack.deps.uow() as uow:
                await uow.persons.set_disclosure(grant.person_id, "minimal")
                await uow.commit()
            await channels.add_email(stack.deps, grant, address="pat@example.test", enabled=True)
            await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
            await _until(lambda: len(mailbox.mails) >= 1, stack)
    finally:
        server.close()
        await server.wait_closed()
    mail = mailbox.mails[0]
    assert mail.rcpt_tos == ["pat@example.test"]
    assert isinstance(mail.content, bytes)
    parsed = message_from_bytes(mail.content, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_content()
    assert "You have an account update" in text
    assert f"/threads/{thread_id}" in text
    assert "4.50" not in text and "Blue Bottle" not in text


async def test_channel_rows_commit_and_roll_back_with_their_message(stack: Stack) -> None:
    """The delivery rows are written in the message's own transaction (ADR 0015): no event
    handler has to run for a channel to be owed the message, and a rolled-back message owes
    nothing."""
    sock, url = bind_loopback()
    async with serve(Receiver(), sock):
        grant, thread_id, _ = await _with_webhook(stack, Receiver(), url)
        await stack.container.drain()
        deps = stack.deps
        async with deps.uow() as uow:
            thread = await uow.threads.get(thread_id)
            assert thread is not None
            await messenger.post_text(deps, uow, thread, "rolled back")
            await uow.rollback()
        async with deps.uow() as uow:
            thread = await uow.threads.get(thread_id)
            assert thread is not None
            await messenger.post_text(deps, uow, thread, "committed, nothing published")
            await uow.commit()  # no commit_and_publish: no event reaches anyone
        [channel] = await channels.overview(deps, grant)
        async with deps.uow(readonly=True) as uow:
            owed = {row.message_id for row in await uow.channels.recent_deliveries(channel.id, limit=50)}
        texts = {v.id: v.body.get("text") for v in await messenger.thread_messages(deps, grant, thread_id)}
    assert "rolled back" not in texts.values()
    [committed] = [mid for mid, text in texts.items() if text == "committed, nothing published"]
    assert committed in owed
