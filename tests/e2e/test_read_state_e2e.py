"""Unread badges in a real browser: counted live, cleared when another tab reads the thread."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import PASSWORD, sign_up

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger, read_state
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text


async def _notice(stack: Stack, person_id: str, text: str) -> None:
    deps = stack.deps
    async with deps.uow() as uow:
        thread = await ensure_system_thread(deps, uow, person_id)
        await post_text(deps, uow, thread, text)
        await deps.commit_and_publish(uow)


async def _unread(stack: Stack, person_id: str) -> int:
    return sum((await read_state.unread_counts(stack.deps, Grant.for_person(person_id))).values())


async def test_a_phone_shows_the_unread_count_and_a_desktop_tab_reading_clears_it(
    page: Page, stack: Stack
) -> None:
    base = stack.platform_url
    await sign_up(page, stack)
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    person = await messenger.authenticate(stack.deps, handle="pat", password=PASSWORD)
    [thread] = await messenger.list_threads(stack.deps, Grant.for_person(person))
    badge = f"unread-{thread.id}"
    await page.close()  # the desktop tab goes away; the phone stays on its thread list

    phone = await page.context.new_page()
    await phone.set_viewport_size({"width": 390, "height": 800})
    await phone.goto(f"{base}/")
    await expect(phone.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    link = phone.locator(f'.thread-link[data-thread-id="{thread.id}"]')
    for text in ("one", "two"):
        await _notice(stack, person, text)
    await expect(link).to_have_attribute("data-unread", "2")  # the welcome was read on the desktop
    await expect(phone.get_by_test_id(badge)).to_have_text("2")
    assert await _unread(stack, person) == 2

    desktop = await page.context.new_page()
    await desktop.goto(f"{base}/threads/{thread.id}")  # opening it reads it
    await expect(link).to_have_attribute("data-unread", "0")
    await expect(phone.get_by_test_id(badge)).to_have_text("")
    await expect(desktop.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")

    # A message arriving while the desktop shows the thread is read there, over the socket.
    await _notice(stack, person, "three")
    await expect(desktop.get_by_text("three")).to_be_visible()
    for _ in range(50):
        if await _unread(stack, person) == 0:
            break
        await asyncio.sleep(0.1)
    assert await _unread(stack, person) == 0
    await expect(link).to_have_attribute("data-unread", "0")
