"""Text typed in a thread is stored as the person's message and answered in the thread."""

from __future__ import annotations

import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands


async def _last_two(stack: Stack, grant: Grant, thread_id: str) -> tuple[str, str]:
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    return messages[-2].body["text"], messages[-1].body["text"]


async def test_balance_is_answered_from_the_persons_own_accounts(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await commands.handle_text(stack.deps, grant, thread_id, "  What's my Balance? ")
    asked, answer = await _last_two(stack, grant, thread_id)
    assert asked == "What's my Balance?"
    for account in stack.bank.accounts_of("alice"):
        assert f"••{account.number[-4:]}" in answer


async def test_an_unknown_question_gets_the_list_of_what_can_be_asked(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    system = next(t for t in await messenger.list_threads(stack.deps, grant) if t.kind.value == "system")
    await commands.handle_text(stack.deps, grant, system.id, "sing me a song")
    _, answer = await _last_two(stack, grant, system.id)
    assert "balance" in answer and answer.startswith("You can ask")


async def test_text_that_is_no_command_in_a_bank_thread_goes_to_the_banks_service(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await commands.handle_text(stack.deps, grant, thread_id, "sing me a song")
    await stack.container.drain()
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    texts = [m.body for m in messages if m.kind.value == "text"]
    mine = next(b for b in texts if b.get("text") == "sing me a song")
    assert mine["to_bank"]["status"] == "sent"
    assert not any("I did not understand" in str(b.get("text")) for b in texts)


async def test_bad_messages_are_refused_and_nothing_is_stored(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    before = len(await messenger.thread_messages(stack.deps, grant, thread_id))
    for text, code in [("   ", "empty_message"), ("x" * 2001, "message_too_long")]:
        with pytest.raises(InvalidInput) as info:
            await commands.handle_text(stack.deps, grant, thread_id, text)
        assert info.value.code == code
    other = await messenger.register(stack.deps, handle="mal", display_name="M",
                                     password="another long passphrase")
    with pytest.raises(NotFound):
        await commands.handle_text(stack.deps, Grant.for_person(other), thread_id, "balance")
    assert len(await messenger.thread_messages(stack.deps, grant, thread_id)) == before


async def test_the_composer_posts_with_csrf_and_answers_over_http(stack: Stack) -> None:
    async with stack.client() as http:
        page = await http.get("/register")
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        await http.post(
            "/register",
            data={
                "csrf": token,
                "handle": "zoe",
                "display_name": "Zoe",
                "password": "another long passphrase",
                "password_confirm": "another long passphrase",
            },
        )
        person = await messenger.authenticate(stack.deps, handle="zoe", password="another long passphrase")
        home = await http.get("/", follow_redirects=True)
        token = home.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]  # a new session
        (system,) = await messenger.list_threads(stack.deps, Grant.for_person(person))
        headers = {"accept": "application/json"}
        refused = await http.post(
            f"/threads/{system.id}/messages", data={"csrf": "forged", "text": "help"}, headers=headers
        )
        assert refused.status_code == 400
        sent = await http.post(
            f"/threads/{system.id}/messages", data={"csrf": token, "text": "help"}, headers=headers
        )
        assert sent.status_code == 204
        missing = await http.post(
            "/threads/thr_nope/messages", data={"csrf": token, "text": "help"}, headers=headers
        )
        assert missing.status_code == 404
    _, answer = await _last_two(stack, Grant.for_person(person), system.id)
    assert answer.startswith("You can ask:")
