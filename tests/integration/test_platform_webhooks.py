"""The Messenger and WhatsApp webhooks over real HTTP (the Graph API simulator on its own port,
the platform configured live against it): every fixture payload (tests/fixtures/README.md)
signed and posted, with its effect or its deliberate ignore; the subscription handshake;
unsigned and wrongly signed bodies refused with nothing stored; redeliveries handled once; the
answer given before the event is handled."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tests.conftest import running_stack
from tests.integration.test_linking_flow import _linked
from tests.platform_support import (
    SimStack,
    fixture,
    fixture_names,
    link_messenger,
    live_against_simulator,
    optin_whatsapp,
    post_signed,
    until,
)

from ledgerlink.adapters.channels.graph import hub_signature
from ledgerlink.adapters.db import schema

# What each fixture does once its sender is a linked person: "reply" (the person gets an answer
# in the chat), "window" (nothing is said; the 24-hour window opens again), "ignore" (nothing).
MESSENGER_EFFECTS = {
    "text": "reply",  # string ids, `mid.$…`, non-Latin text: a command in the chat
    "legacy_mid_numeric_ids": "reply",  # ids as JSON numbers, `mid.<ts>:<hex>` with seq
    "no_timestamp": "reply",  # no timestamp at all
    "quick_reply": "reply",  # a quick reply that is not ours: its text is read
    "postback": "reply",  # a button of ours without an answer: help
    "postback_referral": "reply",  # Get Started with a referral
    "image_no_text": "reply",  # attachments only: "only text and the buttons are read"
    "location_no_text": "reply",
    "fallback_attachment": "reply",
    "sticker": "reply",
    "referral": "window",  # an m.me link opened: the person acted
    "echo": "ignore",  # our own message coming back
    "echo_no_mid": "ignore",
    "delivery": "ignore",
    "read": "ignore",
    "reaction": "ignore",
    "optin": "ignore",  # the checkbox plugin: not how we link
    "pass_thread_control": "ignore",  # handover to another app
    "policy_enforcement": "ignore",  # has no sender
}
LINKING = ("account_linking_linked", "account_linking_unlinked")
WHATSAPP_EFFECTS = {
    "text": "reply",
    "text_heyoo": "reply",
    "image": "reply",
    "button_reply": "reply",  # a reply button that is not ours: help
    "template_quick_reply": "reply",
    "reaction": "window",
    "edit": "window",  # the person edited a message: not read again, but they acted
}
STATUSES = ("status_sent", "status_delivered", "status_read", "status_failed")


def _from(body: Any, psid: str) -> Any:
    """A Messenger fixture as sent by `psid`, keeping each id's JSON type (string or number)."""
    body = copy.deepcopy(body)
    for entry in body["entry"]:
        for item in entry.get("messaging", []):
            if "sender" in item:
                old = item["sender"]["id"]
                item["sender"]["id"] = int(psid) if isinstance(old, int) else psid
    return body


def _wa(body: Any, s: SimStack, *, sender: str | None = None, status_id: str | None = None) -> Any:
    """A WhatsApp fixture sent to our business number (and from `sender`, about `status_id`)."""
    body = copy.deepcopy(body)
    for entry in body["entry"]:
        for change in entry["changes"]:
            value = change["value"]
            value["metadata"]["phone_number_id"] = s.sim.config.phone_number_id
            for message in value.get("messages", []):
                message["from"] = sender or message["from"]
            for status in value.get("statuses", []):
                status["id"] = status_id or status["id"]
                status["recipient_id"] = sender or status["recipient_id"]
    return body


async def _count(s: SimStack, table: Any) -> int:
    async with s.container.deps.uow(readonly=True) as uow:
        return int((await uow._conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[attr-defined]


async def _rows(s: SimStack, table: Any) -> list[dict[str, Any]]:
    async with s.container.deps.uow(readonly=True) as uow:
        return [dict(r) for r in (await uow._conn.execute(select(table))).mappings().all()]  # type: ignore[attr-defined]


async def _binding(s: SimStack, platform: str) -> dict[str, Any]:
    [row] = [r for r in await _rows(s, schema.platform_bindings) if r["platform"] == platform]
    return row


async def _settle(s: SimStack) -> None:
    for _ in range(3):
        await s.step()


async def _post_and_see(
    s: SimStack, platform: str, user: str, body: Any, effect: str, name: str
) -> None:
    sim = s.sim
    secret = sim.app_secret(platform)
    before = len(sim.messages(platform, user))
    window_before = (await _binding(s, platform))["last_inbound_at"]
    async with s.stack.client() as http:
        resp = await post_signed(http, platform, body, secret)
    assert resp.status_code == 200, (name, resp.text)
    assert resp.json()["status"] == "received"
    if effect == "reply":
        await until(lambda: len(sim.messages(platform, user)) > before, s.step)
    else:
        await _settle(s)
        assert len(sim.messages(platform, user)) == before, (name, sim.messages(platform, user)[before:])
    window_after: datetime | None = (await _binding(s, platform))["last_inbound_at"]
    if effect == "ignore":
        assert window_after == window_before, name
    else:
        assert window_after is not None and (window_before is None or window_after >= window_before), name


async def test_every_messenger_fixture_is_answered_200_and_has_its_effect(
    tmp_path: Path, db_url: str
) -> None:
    assert set(MESSENGER_EFFECTS) | set(LINKING) == set(fixture_names("messenger"))
    async with live_against_simulator(tmp_path, db_url) as s:
        await _linked(s.stack)
        await link_messenger(s)
        pat = s.sim.world.user("pat")
        for name, effect in MESSENGER_EFFECTS.items():
            body = _from(fixture("messenger", name), pat.psid)
            await _post_and_see(s, "messenger", "pat", body, effect, name)
        replies = [e.text for e in s.sim.messages("messenger", "pat")]
        assert any(t.startswith("Only text and the buttons are read here") for t in replies)
        assert all("PASS_THROUGH" not in t and "USER_DEFINED" not in t for t in replies)

        # A `linked` event with a code we never issued, from a chat that is not linked: refused,
        # said so, and undone on the platform's side; nothing is bound.
        sam = s.sim.world.user("sam")
        s.sim.say("messenger", "sam", "hi")  # answered with the Log in prompt only
        await until(lambda: bool(s.sim.messages("messenger", "sam")), s.step)
        sam.linked = True  # the platform thinks it is linked
        async with s.stack.client() as http:
            body = _from(fixture("messenger", "account_linking_linked"), sam.psid)
            resp = await post_signed(http, "messenger", body, s.sim.app_secret("messenger"))
        assert resp.status_code == 200
        await until(lambda: not sam.linked, s.step)
        assert s.sim.messages("messenger", "sam")[-1].text.startswith("That link did not work")
        assert [r["platform"] for r in await _rows(s, schema.platform_bindings)] == ["messenger"]

        # `unlinked` from the platform, with string ids: the binding ends and the chat is told.
        async with s.stack.client() as http:
            body = _from(fixture("messenger", "account_linking_unlinked"), pat.psid)
            resp = await post_signed(http, "messenger", body, s.sim.app_secret("messenger"))
        assert resp.status_code == 200
        await until(lambda: s.sim.messages("messenger", "pat")[-1].text.startswith("Unlinked"), s.step)
        assert await _rows(s, schema.platform_bindings) == []


async def test_every_whatsapp_fixture_is_answered_200_and_has_its_effect(
    tmp_path: Path, db_url: str
) -> None:
    assert set(WHATSAPP_EFFECTS) | set(STATUSES) == set(fixture_names("whatsapp"))
    async with live_against_simulator(tmp_path, db_url) as s:
        await _linked(s.stack)
        number = await optin_whatsapp(s)
        for name, effect in WHATSAPP_EFFECTS.items():
            body = _wa(fixture("whatsapp", name), s, sender=number)
            await _post_and_see(s, "whatsapp", "pat", body, effect, name)

        # Statuses move what was sent forward only (sent < delivered < read); failed is failed.
        sends = sorted(await _rows(s, schema.platform_sends), key=lambda r: r["created_at"])
        assert sends and all(r["platform"] == "whatsapp" for r in sends)
        await until(lambda: all(e.status == "delivered" for e in s.sim.messages("whatsapp", "pat")), s.step)
        first, last = sends[0]["mid"], sends[-1]["mid"]
        async with s.stack.client() as http:
            secret = s.sim.app_secret("whatsapp")
            for name, mid in (("status_read", first), ("status_sent", first), ("status_failed", last)):
                body = _wa(fixture("whatsapp", name), s, status_id=mid)
                resp = await post_signed(http, "whatsapp", body, secret)
                assert resp.status_code == 200
                await _settle(s)
        by_mid = {r["mid"]: r for r in await _rows(s, schema.platform_sends)}
        assert by_mid[first]["status"] == "read"  # the late "sent" did not move it back
        assert by_mid[last]["status"] == "failed" and by_mid[last]["error_code"] == "wa_130472"
        [delivery] = [
            d for d in await _rows(s, schema.channel_deliveries) if d["id"] == by_mid[last]["delivery_id"]
        ]
        assert delivery["status"] == "failed" and delivery["last_error"] == "wa_130472"

        # A status about a message we never sent, and messages to another business number: ignored.
        async with s.stack.client() as http:
            before = len(s.sim.messages("whatsapp", "pat"))
            for body in (
                _wa(fixture("whatsapp", "status_delivered"), s, status_id="wamid.unknown"),
                fixture("whatsapp", "text"),  # metadata.phone_number_id is not ours
            ):
                resp = await post_signed(http, "whatsapp", body, s.sim.app_secret("whatsapp"))
                assert resp.status_code == 200
            await _settle(s)
        assert len(s.sim.messages("whatsapp", "pat")) == before

        # A number that is not opted in gets only the "not linked" answer, never data.
        stranger = s.sim.world.user("sam").wa_id
        async with s.stack.client() as http:
            body = _wa(fixture("whatsapp", "text_heyoo"), s, sender=stranger)
            body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] += "2"  # not a redelivery
            resp = await post_signed(http, "whatsapp", body, s.sim.app_secret("whatsapp"))
        assert resp.status_code == 200
        await until(lambda: bool(s.sim.messages("whatsapp", "sam")), s.step)
        [answer] = s.sim.messages("whatsapp", "sam")
        assert answer.text.startswith("This number is not linked") and "••" not in answer.text


async def test_the_subscription_handshake_echoes_the_challenge_only_for_the_right_token(
    tmp_path: Path, db_url: str
) -> None:
    async with live_against_simulator(tmp_path, db_url) as s, s.stack.client() as http:
        for platform in ("messenger", "whatsapp"):
            token = s.sim.verify_token(platform)
            path = f"/channels/{platform}/webhook"
            ok = await http.get(
                path,
                params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"},
            )
            assert ok.status_code == 200 and ok.text == "1158201444"
            for params in (
                {"hub.mode": "subscribe", "hub.verify_token": token + "x", "hub.challenge": "1"},
                {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"},
                {"hub.mode": "unsubscribe", "hub.verify_token": token, "hub.challenge": "1"},
                {"hub.verify_token": token, "hub.challenge": "1"},
            ):
                refused = await http.get(path, params=params)
                assert refused.status_code == 403 and "1" not in refused.text.replace("verification", "")
            other = s.sim.verify_token("whatsapp" if platform == "messenger" else "messenger")
            crossed = await http.get(
                path, params={"hub.mode": "subscribe", "hub.verify_token": other, "hub.challenge": "2"}
            )
            assert crossed.status_code == 403


async def test_unsigned_or_wrongly_signed_bodies_are_refused_and_nothing_is_stored(
    tmp_path: Path, db_url: str
) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        await _linked(s.stack)
        await link_messenger(s)
        pat = s.sim.world.user("pat")
        seen_before = await _count(s, schema.platform_events_seen)
        said_before = len(s.sim.messages("messenger", "pat"))
        unlink = json.dumps(_from(fixture("messenger", "account_linking_unlinked"), pat.psid)).encode()
        text = json.dumps(_from(fixture("messenger", "text"), pat.psid)).encode()
        secret = s.sim.app_secret("messenger")
        cases = [
            ({}, unlink, 401, "signature_missing"),
            ({"x-hub-signature": "sha1=" + "0" * 40}, unlink, 401, "signature_missing"),  # legacy only
            ({"x-hub-signature-256": hub_signature("not the secret", unlink)}, unlink, 403, "bad_signature"),
            ({"x-hub-signature-256": hub_signature(s.sim.app_secret("whatsapp"), unlink)}, unlink, 403,
             "bad_signature"),
            # signed, but another body
            ({"x-hub-signature-256": hub_signature(secret, text)}, unlink, 403, "bad_signature"),
            ({"x-hub-signature-256": hub_signature(secret, unlink)[:-1]}, unlink, 403, "bad_signature"),
            ({"x-hub-signature-256": "sha256=" + "z" * 64}, unlink, 403, "bad_signature"),
            ({"x-hub-signature-256": hub_signature(secret, unlink).replace("sha256=", "sha1=")}, unlink, 403,
             "bad_signature"),
        ]
        async with s.stack.client() as http:
            for headers, body, status, code in cases:
                resp = await http.post(
                    "/channels/messenger/webhook",
                    content=body,
                    headers={"content-type": "application/json", **headers},
                )
                assert resp.status_code == status, (headers, resp.text)
                assert resp.json()["code"] == code
                assert secret not in resp.text and pat.psid not in resp.text
            # WhatsApp: the same gate, with its own secret.
            wa = json.dumps(fixture("whatsapp", "text")).encode()
            resp = await http.post(
                "/channels/whatsapp/webhook",
                content=wa,
                headers={"x-hub-signature-256": hub_signature(secret, wa)},
            )
            assert resp.status_code == 403
            # Signed but not JSON: refused, nothing queued.
            junk = b"{not json"
            resp = await http.post(
                "/channels/messenger/webhook",
                content=junk,
                headers={"x-hub-signature-256": hub_signature(secret, junk)},
            )
            assert resp.status_code == 400 and resp.json()["code"] == "malformed_json"
        await _settle(s)
        assert await _count(s, schema.platform_events_seen) == seen_before
        assert len(s.sim.messages("messenger", "pat")) == said_before
        assert [r["platform"] for r in await _rows(s, schema.platform_bindings)] == ["messenger"]
        assert pat.linked


async def test_a_redelivery_is_handled_once_and_the_answer_comes_before_the_handling(
    tmp_path: Path, db_url: str
) -> None:
    async with live_against_simulator(tmp_path, db_url) as s:
        await _linked(s.stack)
        await link_messenger(s)
        pat = s.sim.world.user("pat")
        inbound = s.container.platform_inbound
        assert inbound is not None
        handled: list[str] = []
        entered, release = asyncio.Event(), asyncio.Event()
        original = inbound._handle_text

        async def held(deps: Any, grant: Any, thread_id: str, text: str) -> None:
            handled.append(text)
            entered.set()
            await release.wait()
            await original(deps, grant, thread_id, text)

        inbound._handle_text = held
        secret = s.sim.app_secret("messenger")
        body = _from(fixture("messenger", "legacy_mid_numeric_ids"), pat.psid)
        async with s.stack.client() as http, asyncio.timeout(20):
            # Answered while the handling is still held: the answer does not wait for it.
            resp = await post_signed(http, "messenger", body, secret)
            assert resp.status_code == 200 and resp.json()["queued"] == 1
            await entered.wait()
            assert handled == ["hello, world!"]
            # The platform retries (same mid; a retry may differ in its envelope): 200, handled once.
            again = copy.deepcopy(body)
            again["entry"][0]["time"] += 5000
            for retry in (body, again):
                resp = await post_signed(http, "messenger", retry, secret)
                assert resp.status_code == 200
            release.set()
            before = len(s.sim.messages("messenger", "pat"))
            await until(lambda: len(s.sim.messages("messenger", "pat")) > before, s.step)
            await _settle(s)
        assert handled == ["hello, world!"]
        assert len(s.sim.messages("messenger", "pat")) == before + 1

        # The same id as a string and as a number is the same chat (one binding, one answer).
        as_string = _from(fixture("messenger", "text"), pat.psid)
        as_number = _from(fixture("messenger", "legacy_mid_numeric_ids"), pat.psid)
        as_number["entry"][0]["messaging"][0]["message"]["mid"] = "mid.1457764197618:41d102a3e1ae206a39"
        assert isinstance(as_number["entry"][0]["messaging"][0]["sender"]["id"], int)
        async with s.stack.client() as http:
            for body in (as_string, as_number):
                resp = await post_signed(http, "messenger", body, secret)
                assert resp.status_code == 200
        await until(lambda: len(handled) == 3, s.step)
        assert handled[1:] == ["請給我背影", "hello, world!"]


async def test_a_platform_that_is_not_set_up_has_no_webhook(tmp_path: Path, db_url: str) -> None:
    async with running_stack(tmp_path, db_url, graph_simulator=False) as stack, stack.client() as http:
        for platform in ("messenger", "whatsapp"):
            resp = await http.get(f"/channels/{platform}/webhook", params={"hub.mode": "subscribe"})
            assert resp.status_code == 404 and resp.json()["code"] == "channel_off"
            body = json.dumps({"object": "page", "entry": []}).encode()
            resp = await http.post(
                f"/channels/{platform}/webhook",
                content=body,
                headers={"x-hub-signature-256": hub_signature("x", body)},
            )
            assert resp.status_code == 404
