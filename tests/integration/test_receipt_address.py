"""The person's private receipt forwarding address is shown to them (issue 11): "my receipt
address" in chat and a line on the Settings page, each with what it is for; the same address
each time, the person's own (mail to it is theirs), and never in the logs."""

from __future__ import annotations

import logging
import re

import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_settings_consents import _signed_in, visible_text

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands
from ledgerlink.services.receipts.address_command import PURPOSE

_ADDRESS = re.compile(r"r-[0-9a-f]{32}@receipts\.localhost")


async def _last_text(stack: Stack, grant: Grant, thread_id: str) -> str:
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    return str([m for m in messages if m.kind is CardKind.TEXT][-1].body["text"])


async def test_my_receipt_address_in_chat_answers_the_persons_own_address_and_what_it_is_for(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    grant, thread_id = await _linked(stack)
    await commands.handle_text(stack.deps, grant, thread_id, "My receipt address?")
    first = await _last_text(stack, grant, thread_id)
    [address] = _ADDRESS.findall(first)
    assert first == f"Your receipt address is {address}\n{PURPOSE}"
    assert address == await stack.container.receipt_mail.address(grant)  # the one mail is taken at
    assert await stack.container.receipt_mail.recipient(address) == grant.person_id
    await commands.handle_text(stack.deps, grant, thread_id, "what is my receipt email address")
    assert await _last_text(stack, grant, thread_id) == first  # the same address on every ask

    other = Grant.for_person(await messenger.register(stack.deps, handle="sam", display_name="Sam",
                                                      password="correct horse"))
    [other_thread] = [t.id for t in await messenger.list_threads(stack.deps, other)]
    await commands.handle_text(stack.deps, other, other_thread, "receipt address")
    [theirs] = _ADDRESS.findall(await _last_text(stack, other, other_thread))
    assert theirs != address
    assert address not in caplog.text and theirs not in caplog.text


async def test_the_settings_page_shows_the_receipt_address_with_a_note_on_what_it_is_for(
        stack: Stack) -> None:
    grant, _ = await _linked(stack)
    async with _signed_in(stack) as http:
        page = await http.get("/settings")
        again = await http.get("/settings")
    assert page.status_code == 200
    shown = visible_text(page.text)
    address = await stack.container.receipt_mail.address(grant)
    assert f"Receipt email address {address} {PURPOSE}" in " ".join(shown.split())
    assert address in again.text
    assert 'data-testid="receipt-address">' + address + "</code>" in page.text
