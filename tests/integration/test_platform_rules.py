"""The platforms' messaging rules over real HTTP against the Graph API simulator, under a frozen
clock: Messenger's 24-hour window and its message tags, WhatsApp's interactive reply buttons
inside the window and a pre-approved template outside it, its delivery statuses, the person's
disclosure level, and erasure removing the bindings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.integration.test_linking_flow import _linked
from tests.platform_support import SimStack, link_messenger, live_against_simulator, optin_whatsapp, until

from ledgerlink.adapters.db import schema
from ledgerlink.domain.cards import MINIMAL_PREVIEW
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.services.privacy import rights

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


async def _rows(s: SimStack, table: Any) -> list[dict[str, Any]]:
    async with s.container.deps.uow(readonly=True) as uow:
        return [dict(r) for r in (await uow._conn.execute(select(table))).mappings().all()]  # type: ignore[attr-defined]


async def _settle(s: SimStack) -> None:
    for _ in range(3):
        await s.step()


async def test_messenger_holds_updates_outside_the_window_and_tags_a_fraud_prompt(
    tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(START)
    async with live_against_simulator(tmp_path, db_url, clock=clock) as s:
        await _linked(s.stack)
        await link_messenger(s)
        sim = s.sim
        clock.advance(timedelta(hours=25))  # the person's last message is now outside the window
        seen = len(sim.messages("messenger", "pat"))

        await s.stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
        await _settle(s)
        assert not any("Blue Bottle" in e.title + e.text for e in sim.messages("messenger", "pat"))
        held = [d for d in await _rows(s, schema.channel_deliveries) if d["last_error"] == "outside_window"]
        assert held and all(d["status"] == "skipped" for d in held)

        await s.stack.bank.suspicious_purchase("alice", merchant="Shell", amount="249.00")
        await until(
            lambda: any(
                b.kind == "postback" for e in sim.messages("messenger", "pat")[seen:] for b in e.buttons
            ),
            s.step,
        )
        new = sim.messages("messenger", "pat")[seen:]
        [prompt] = [e for e in new if e.buttons and e.buttons[0].kind == "postback"]
        assert (prompt.messaging_type, prompt.tag) == ("MESSAGE_TAG", "ACCOUNT_UPDATE")
        assert not any(e.kind == "generic" for e in new)  # the purchase card itself waited

        # The person writes again: the window opens, and they hear once how much waited.
        sim.say("messenger", "pat", "help")
        await until(
            lambda: any(
                "waited while this chat was quiet" in e.text for e in sim.messages("messenger", "pat")
            ),
            s.step,
        )
        later = len(sim.messages("messenger", "pat"))
        await s.stack.bank.purchase("alice", merchant="Whole Foods Market", amount="23.10")
        await until(
            lambda: any("Whole Foods" in e.title for e in sim.messages("messenger", "pat")[later:]), s.step
        )
        card = next(e for e in sim.messages("messenger", "pat")[later:] if "Whole Foods" in e.title)
        assert (card.messaging_type, card.tag) == ("UPDATE", None)


async def test_whatsapp_buttons_in_the_window_a_template_outside_it_and_statuses(
    tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(START)
    async with live_against_simulator(tmp_path, db_url, clock=clock) as s:
        await _linked(s.stack)
        await optin_whatsapp(s)
        sim = s.sim

        def prompts() -> list[Any]:
            return [e for e in sim.messages("whatsapp", "pat") if e.buttons and not e.tapped]

        # Inside the window: interactive reply buttons; "No" reaches the bank, its reply comes here.
        txn_id, _ = await s.stack.bank.suspicious_purchase("alice", merchant="Shell", amount="249.00")
        await until(lambda: bool(prompts()), s.step)
        [prompt] = prompts()
        assert prompt.kind == "interactive" and prompt.text.startswith("Sandbox Bank ✓ verified")
        assert [b.title for b in prompt.buttons] == ["Yes, it was me", "No, it wasn't me"]
        sim.tap("whatsapp", "pat", prompt.id, 1)
        await until(lambda: any("froze" in e.text for e in sim.messages("whatsapp", "pat")), s.step)
        account_id = s.stack.bank.transaction(txn_id)["account_id"]
        assert next(a for a in s.stack.bank.accounts_of("alice") if a.account_id == account_id).frozen
        # The answered prompt is a reply to the first message, not a second set of buttons.
        answered = [e for e in sim.messages("whatsapp", "pat") if e.reply_to == prompt.id]
        assert answered and answered[0].text == "Answered." and not answered[0].buttons

        # Statuses come back into what was sent: delivered, then read once the person looks.
        await _settle(s)
        assert {r["status"] for r in await _rows(s, schema.platform_sends)} == {"delivered"}
        assert sim.read("whatsapp", "pat") > 0
        await _settle(s)
        assert {r["status"] for r in await _rows(s, schema.platform_sends)} == {"read"}

        # Outside the window: an ordinary purchase waits; a fraud prompt is the approved template.
        clock.advance(timedelta(hours=25))
        seen = len(sim.messages("whatsapp", "pat"))
        await s.stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
        other = next(a for a in s.stack.bank.accounts_of("alice") if not a.frozen)  # "No" froze the card
        await s.stack.bank.suspicious_purchase(
            "alice", account_id=other.account_id, merchant="Shell", amount="61.20"
        )
        await until(lambda: bool(prompts()), s.step)
        new = sim.messages("whatsapp", "pat")[seen:]
        assert not any("Blue Bottle" in e.text for e in new)
        [template] = [e for e in new if e.kind == "template"]
        assert template.template == "ledgerlink_fraud_alert" and "Shell" in template.text
        assert [b.title for b in template.buttons] == ["Yes, it was me", "No, it wasn't me"]
        assert all(e.status != "failed" for e in new)
        sim.tap("whatsapp", "pat", template.id, 0)  # "Yes": answered from the template's button
        await until(lambda: any(e.reply_to == template.id for e in sim.messages("whatsapp", "pat")), s.step)
        async with s.container.deps.uow(readonly=True) as uow:
            taken = await uow.prompts.by_message(template.buttons[0].payload.split("|")[1])
        assert taken is not None and taken.answer == "yes" and taken.answered_via == "whatsapp"


async def test_the_disclosure_level_is_what_the_platforms_get(tmp_path: Path, db_url: str) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        grant, _ = await _linked(s.stack)
        await link_messenger(s)
        await optin_whatsapp(s)
        await until(  # the "WhatsApp is now linked" notice reaches Messenger too
            lambda: any("WhatsApp is now linked" in e.text for e in s.sim.messages("messenger", "pat")),
            s.step,
        )
        await _settle(s)
        await rights.set_disclosure(s.container.deps, grant, "minimal")
        seen = {p: len(s.sim.messages(p, "pat")) for p in ("messenger", "whatsapp")}
        await s.stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
        await until(
            lambda: all(len(s.sim.messages(p, "pat")) > n for p, n in seen.items()), s.step
        )
        for platform, n in seen.items():
            new = s.sim.messages(platform, "pat")[n:]
            # The purchase and the balance it moved: no card (a card would show more), no detail.
            assert {(e.kind, e.text) for e in new} == {("text", MINIMAL_PREVIEW)}, platform


async def test_erasure_removes_the_bindings_and_the_chats_get_no_data(tmp_path: Path, db_url: str) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        grant, _ = await _linked(s.stack)
        await link_messenger(s)
        await optin_whatsapp(s)
        assert len(await _rows(s, schema.platform_bindings)) == 2
        assert s.sim.world.user("pat").linked
        await rights.erase_person(s.container.deps, grant)
        await _settle(s)
        # Messenger is told the link ended (its unlink API), and the chat hears why.
        await until(lambda: not s.sim.world.user("pat").linked, s.step)
        assert any("was erased" in e.text for e in s.sim.messages("messenger", "pat"))
        for table in (
            schema.platform_bindings,
            schema.platform_messages,
            schema.platform_sends,
            schema.platform_codes,
        ):
            assert await _rows(s, table) == [], table.name
        for platform in ("messenger", "whatsapp"):
            before = len(s.sim.messages(platform, "pat"))
            s.sim.say(platform, "pat", "balance")
            await until(lambda p=platform, n=before: len(s.sim.messages(p, "pat")) > n, s.step)  # type: ignore[misc]
            [answer] = s.sim.messages(platform, "pat")[before:]
            assert "not linked" in answer.text and "••" not in answer.text
