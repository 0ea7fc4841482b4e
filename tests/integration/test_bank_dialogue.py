"""Talking with the bank (docs/bank-dialogue.md), over real HTTP with the sandbox banks:
fraud prompts answered and sent back signed, reminders and deadlines, customer service, and
bank messages verified against the bank's registered key."""

from __future__ import annotations

import json
import re
import secrets
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import OKPKey
from sqlalchemy import func, select
from tests.conftest import Stack, running_stack
from tests.integration.test_bank_events import _signed
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
from ledgerlink.bootstrap import SANDBOX_BANKS
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.errors import Conflict, InvalidInput, NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.dialogue import prompts
from ledgerlink.services.messaging import messenger
from ledgerlink.services.messaging.ports import MessageView
from ledgerlink.services.questions import commands

HARBOR = SANDBOX_BANKS[1].partner_id


async def _messages(stack: Stack, grant: Grant, thread_id: str) -> list[MessageView]:
    return await messenger.thread_messages(stack.deps, grant, thread_id, limit=500)


async def _fraud_card(stack: Stack, grant: Grant, thread_id: str, *, reminder: bool = False) -> MessageView:
    cards = [
        m
        for m in await _messages(stack, grant, thread_id)
        if m.kind is CardKind.FRAUD and m.body.get("reminder") is reminder
    ]
    assert len(cards) == 1, [c.body for c in cards]
    return cards[0]


async def _bank_texts(stack: Stack, grant: Grant, thread_id: str) -> list[dict[str, Any]]:
    return [m.body for m in await _messages(stack, grant, thread_id) if m.body.get("from") == "bank"]


async def _count(stack: Stack, table: Any) -> int:
    async with stack.container.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_not_me_freezes_the_card_and_the_banks_signed_answer_lands_in_the_thread(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    txn_id, alert_id = await stack.bank.suspicious_purchase("alice", amount="249.00")
    await stack.container.drain()
    card = await _fraud_card(stack, grant, thread_id)
    assert card.body["prompt_status"] == "open" and card.body["verified"] is True
    assert card.body["amount"] == "-249.00" and card.body["bank"] == "Sandbox Bank"
    assert [r["id"] for r in card.body["quick_replies"]] == ["yes", "no"]

    await prompts.answer(stack.deps, grant, message_id=card.id, reply_id="no", channel="web")
    await stack.container.drain()

    card = await _fraud_card(stack, grant, thread_id)
    assert card.body["prompt_status"] == "answered" and card.body["answer"] == "no"
    assert card.body["delivery"] == "sent" and card.body["bank_outcome"] == "card_frozen"
    replies = [
        b
        for b in await _bank_texts(stack, grant, thread_id)
        if b.get("in_reply_to") == {"alert_id": alert_id}
    ]
    assert len(replies) == 1 and replies[0]["verified"] is True and replies[0]["bank_kind"] == "fraud_outcome"
    assert "froze" in replies[0]["text"].lower()
    account = next(
        a
        for a in stack.bank.accounts_of("alice")
        if a.account_id == stack.bank.transaction(txn_id)["account_id"]
    )
    assert account.frozen is True
    # the charge was cancelled at the bank, and its card here says so
    txns = [
        m
        for m in await _messages(stack, grant, thread_id)
        if m.kind is CardKind.TRANSACTION
        and m.body["merchant"] == card.body["merchant"]
        and m.body["amount"] == "-249.00"
    ]
    assert txns and all(m.body["status"] == "removed" for m in txns)


async def test_yes_it_was_me_clears_the_alert_and_keeps_the_charge(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    txn_id, alert_id = await stack.bank.suspicious_purchase("alice", amount="80.00")
    await stack.container.drain()
    card = await _fraud_card(stack, grant, thread_id)
    await prompts.answer(stack.deps, grant, message_id=card.id, reply_id="yes", channel="matrix")
    await stack.container.drain()
    card = await _fraud_card(stack, grant, thread_id)
    assert card.body["bank_outcome"] == "cleared" and card.body["delivery"] == "sent"
    replies = [
        b
        for b in await _bank_texts(stack, grant, thread_id)
        if b.get("in_reply_to") == {"alert_id": alert_id}
    ]
    assert len(replies) == 1
    assert not any(a.frozen for a in stack.bank.accounts_of("alice"))
    assert stack.bank.transaction(txn_id)["status"] == "pending"


async def test_bad_answers_are_refused_with_specific_errors_and_change_nothing(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    other, _other_thread = await _linked(stack, handle="sam", login="bob")
    await stack.bank.suspicious_purchase("alice", amount="120.00")
    await stack.container.drain()
    card = await _fraud_card(stack, grant, thread_id)
    deps = stack.deps
    with pytest.raises(InvalidInput) as bad:
        await prompts.answer(deps, grant, message_id=card.id, reply_id="maybe", channel="web")
    assert bad.value.code == "unknown_reply"
    with pytest.raises(NotFound):
        await prompts.answer(deps, other, message_id=card.id, reply_id="no", channel="web")  # not theirs
    with pytest.raises(NotFound):
        await prompts.answer(deps, grant, message_id="msg_nope", reply_id="no", channel="web")
    with pytest.raises(InvalidInput) as channel:
        await prompts.answer(deps, grant, message_id=card.id, reply_id="no", channel="carrier-pigeon")
    assert channel.value.code == "unknown_channel"
    assert await _count(stack, schema.bank_outbox) == 0
    assert (await _fraud_card(stack, grant, thread_id)).body["prompt_status"] == "open"

    await prompts.answer(deps, grant, message_id=card.id, reply_id="no", channel="web")
    await stack.container.drain()
    for reply in ("no", "yes"):  # a replay, or a change of mind, is refused
        with pytest.raises(Conflict) as again:
            await prompts.answer(deps, grant, message_id=card.id, reply_id=reply, channel="web")
        assert again.value.code == "prompt_already_answered"
    assert await _count(stack, schema.bank_outbox) == 1
    sent = [m for m in stack.bank.messages_sent if m.kind == "fraud_outcome"]
    assert len(sent) == 1  # the bank answered once


async def test_an_unanswered_prompt_is_reminded_once_then_the_banks_policy_applies(
    tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        _, alert_id = await stack.bank.suspicious_purchase(
            "alice", amount="300.00", remind_after_seconds=600, expires_in_seconds=3600
        )
        await stack.container.drain()
        assert await prompts.run_due(stack.deps) == 0
        clock.advance(timedelta(minutes=11))
        assert await prompts.run_due(stack.deps) == 1
        assert await prompts.run_due(stack.deps) == 0  # once
        await stack.container.drain()
        reminder = await _fraud_card(stack, grant, thread_id, reminder=True)
        assert reminder.body["title"].startswith("Reminder") and reminder.body["prompt_status"] == "open"

        clock.advance(timedelta(minutes=50))
        assert await prompts.run_due(stack.deps) == 1
        stack.bank.run_due()
        await stack.container.drain()
        for card in (
            await _fraud_card(stack, grant, thread_id),
            await _fraud_card(stack, grant, thread_id, reminder=True),
        ):
            assert card.body["prompt_status"] == "expired"
        with pytest.raises(Conflict) as late:
            await prompts.answer(stack.deps, grant, message_id=reminder.id, reply_id="yes", channel="web")
        assert late.value.code == "prompt_expired"
        notices = [
            b
            for b in await _bank_texts(stack, grant, thread_id)
            if b.get("in_reply_to") == {"alert_id": alert_id}
        ]
        assert len(notices) == 1 and "froze" in notices[0]["text"].lower()


async def test_two_banks_interleaved_prompts_each_answer_reaches_its_own_bank(
    tmp_path: Path, db_url: str
) -> None:
    async with running_stack(tmp_path, db_url, second_sandbox_bank=True) as stack:
        grant, sandbox_thread = await _linked(stack)
        _, harbor_thread = await _linked(stack, login="alice", partner_id=HARBOR, grant=grant)
        assert sandbox_thread != harbor_thread
        txn1, alert1 = await stack.bank.suspicious_purchase("alice", amount="111.00")
        _txn2, alert2 = await stack.bank2.suspicious_purchase("alice", amount="222.00")
        _txn3, _alert3 = await stack.bank.suspicious_purchase("alice", amount="333.00")
        await stack.container.drain()
        sandbox_cards = [m for m in await _messages(stack, grant, sandbox_thread) if m.kind is CardKind.FRAUD]
        harbor_cards = [m for m in await _messages(stack, grant, harbor_thread) if m.kind is CardKind.FRAUD]
        assert sorted(c.body["amount"] for c in sandbox_cards) == ["-111.00", "-333.00"]
        assert [c.body["amount"] for c in harbor_cards] == ["-222.00"]
        assert harbor_cards[0].body["bank"] == "Harbor Credit Union"
        by_amount = {c.body["amount"]: c for c in sandbox_cards + harbor_cards}
        await prompts.answer(
            stack.deps, grant, message_id=by_amount["-222.00"].id, reply_id="no", channel="web"
        )
        await prompts.answer(
            stack.deps, grant, message_id=by_amount["-111.00"].id, reply_id="yes", channel="web"
        )
        await stack.container.drain()
        assert stack.bank.transaction(txn1)["status"] == "pending"  # cleared at Sandbox Bank
        assert not any(a.frozen for a in stack.bank.accounts_of("alice"))
        assert any(a.frozen for a in stack.bank2.accounts_of("alice"))  # frozen at Harbor only
        harbor_replies = [b for b in await _bank_texts(stack, grant, harbor_thread) if "in_reply_to" in b]
        sandbox_replies = [b for b in await _bank_texts(stack, grant, sandbox_thread) if "in_reply_to" in b]
        assert [r["in_reply_to"] for r in harbor_replies] == [{"alert_id": alert2}]
        assert [r["in_reply_to"] for r in sandbox_replies] == [{"alert_id": alert1}]
        assert all(r["bank"] == "Harbor Credit Union" for r in harbor_replies)
        third = await _fraud_card_by_amount(stack, grant, sandbox_thread, "-333.00")
        assert third.body["prompt_status"] == "open"

        # Harbor, signing and authenticating as itself, cannot post into Sandbox Bank's thread.
        sandbox_consent = await _consent_id(stack, grant, partner_id=SANDBOX_BANKS[0].partner_id)
        claims = {**_claims(stack, sandbox_consent), "iss": stack.bank2_url}
        harbor = json.loads((tmp_path / "data" / SANDBOX_BANKS[1].credentials_file).read_text())
        token = _bank_token(stack, claims, pem=harbor["signing_key_pem"])
        before = len(await _messages(stack, grant, sandbox_thread))
        resp = await _post(stack, token, key=harbor["partner_api_key"])
        assert (resp.status_code, resp.json()["code"]) == (404, "consent_not_found"), resp.text
        assert len(await _messages(stack, grant, sandbox_thread)) == before


async def _fraud_card_by_amount(stack: Stack, grant: Grant, thread_id: str, amount: str) -> MessageView:
    return next(
        m
        for m in await _messages(stack, grant, thread_id)
        if m.kind is CardKind.FRAUD and m.body["amount"] == amount
    )


async def test_customer_service_round_trip_and_the_agent_acts(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    account = stack.bank.accounts_of("alice")[0]
    account.frozen = True
    await commands.handle_text(stack.deps, grant, thread_id, "Hi, please unfreeze my card")
    await stack.container.drain()
    bodies = [m.body for m in await _messages(stack, grant, thread_id)]
    mine = next(b for b in bodies if b.get("text") == "Hi, please unfreeze my card")
    assert mine["to_bank"] == {"bank": "Sandbox Bank", "status": "sent"}
    answers = [b for b in bodies if b.get("from") == "bank" and b.get("bank_kind") == "service"]
    assert len(answers) == 1 and answers[0]["verified"] is True and "message_id" in answers[0]["in_reply_to"]
    assert "unfroze" in answers[0]["text"].lower()
    assert not account.frozen
    # a command is still answered by ledgerlink, not sent to the bank
    await commands.handle_text(stack.deps, grant, thread_id, "balance")
    await stack.container.drain()
    assert len([m for m in stack.bank.messages_sent if m.kind == "service"]) == 1


# --------------------------------------------------------------------------- the partner API


def _bank_token(
    stack: Stack, claims: dict[str, Any], *, pem: str | None = None, typ: str = "bank-message+jwt"
) -> str:
    key = OKPKey.import_key((pem or stack.container.sandbox_credentials.signing_key_pem).encode())
    header = {"alg": "EdDSA", "kid": key.thumbprint(), "typ": typ}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # "EdDSA" is the contract's name
        return jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=["EdDSA"])


def _claims(stack: Stack, consent_id: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": stack.bank_url,
        "aud": stack.platform_url,
        "iat": now,
        "exp": now + 300,
        "jti": f"bm_{secrets.token_hex(6)}",
        "consent_id": consent_id,
        "kind": "notice",
        "text": "Our branch closes early on Friday.",
        **extra,
    }


async def _consent_id(stack: Stack, grant: Grant, partner_id: str = SANDBOX_BANKS[0].partner_id) -> str:
    async with stack.deps.uow() as uow:
        links = [lk for lk in await uow.links.for_person(grant.person_id) if lk.partner_id == partner_id]
    assert links[0].bank_consent_id is not None
    return links[0].bank_consent_id


async def _post(
    stack: Stack, token: str | bytes, *, key: str | None = None, content_type: str = "application/jose"
) -> httpx.Response:
    api_key = key or stack.container.sandbox_credentials.partner_api_key
    async with stack.client() as client:
        return await client.post(
            "/partner-api/v1/messages",
            content=token,
            headers={"authorization": f"Bearer {api_key}", "content-type": content_type},
        )


async def test_bank_messages_are_verified_against_the_registered_key_or_refused(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    consent_id = await _consent_id(stack, grant)
    before = len(await _messages(stack, grant, thread_id))

    claims = _claims(stack, consent_id)
    ok = await _post(stack, _bank_token(stack, claims))
    assert ok.status_code == 201, ok.text
    again = await _post(stack, _bank_token(stack, claims))
    assert again.status_code == 200 and again.json() == {
        "message_id": ok.json()["message_id"],
        "duplicate": True,
    }

    stranger = OKPKey.generate_key("Ed25519").as_pem(private=True).decode()
    cases: list[tuple[httpx.Response, int, str]] = [
        (
            await _post(stack, _bank_token(stack, _claims(stack, consent_id), pem=stranger)),
            401,
            "bank_signature_invalid",
        ),
        (
            await _post(stack, _bank_token(stack, _claims(stack, consent_id), typ="JWT")),
            401,
            "bank_signature_invalid",
        ),
        (
            await _post(stack, _bank_token(stack, _claims(stack, consent_id, aud="http://elsewhere"))),
            401,
            "bank_signature_invalid",
        ),
        (
            await _post(stack, _bank_token(stack, _claims(stack, consent_id, exp=int(time.time()) - 5))),
            401,
            "bank_signature_invalid",
        ),
        (await _post(stack, "not.a.jws"), 401, "bank_signature_invalid"),
        (await _post(stack, _bank_token(stack, claims), key="llpk_wrong"), 401, "partner_key_invalid"),
        (await _post(stack, _bank_token(stack, _claims(stack, "cns_not_ours"))), 404, "consent_not_found"),
        (
            await _post(stack, _bank_token(stack, _claims(stack, consent_id, text="x" * 2001))),
            422,
            "message_too_long",
        ),
        (
            await _post(stack, _bank_token(stack, _claims(stack, consent_id, kind="advert"))),
            422,
            "malformed_message",
        ),
        (
            await _post(
                stack, _bank_token(stack, _claims(stack, consent_id, in_reply_to={"alert_id": "alr_x"}))
            ),
            422,
            "unknown_reply_target",
        ),
        (
            await _post(stack, json.dumps(claims), content_type="application/json"),
            415,
            "unsupported_media_type",
        ),
        (await _post(stack, b"a" * (65 * 1024)), 413, "payload_too_large"),
    ]
    for resp, status, code in cases:
        assert (resp.status_code, resp.json()["code"]) == (status, code), resp.text
        assert "Traceback" not in resp.text
    messages = await _messages(stack, grant, thread_id)
    assert len(messages) == before + 1  # only the verified one
    assert messages[-1].body["from"] == "bank" and messages[-1].body["verified"] is True


async def test_malformed_fraud_alert_events_are_refused_before_anything_is_stored(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    consent_id = await _consent_id(stack, grant)
    account_id = stack.bank.accounts_of("alice")[0].account_id
    good = {
        "alert_id": "alr_1",
        "merchant_name": "Odd Shop",
        "amount": "-10.00",
        "currency": "USD",
        "at": "2026-11-26T10:00:00Z",
        "expires_at": "2026-11-26T11:00:00Z",
        "on_no_answer": "allow",
    }
    inbox_before = await _count(stack, schema.inbox)
    for change, field in [
        ({"amount": 10.5}, "amount"),
        ({"expires_at": "2026-11-26T09:00:00Z"}, "expires_at"),
        ({"on_no_answer": "shrug"}, "on_no_answer"),
        ({"alert_id": ""}, "alert_id"),
        ({"remind_after_seconds": -1}, "remind_after_seconds"),
    ]:
        body = json.dumps(
            {
                "type": "fraud.alert",
                "data": {"consent_id": consent_id, "account_id": account_id, "alert": {**good, **change}},
            }
        ).encode()
        async with stack.client() as client:
            resp = await client.post(
                "/partners/sandbox-bank/events", content=body, headers=_signed(stack, body)
            )
        assert resp.status_code == 422, resp.text
        assert field in resp.json()["detail"]
    assert await _count(stack, schema.inbox) == inbox_before


# --------------------------------------------------------------------------- the web form


async def test_quick_replies_over_http_answer_once_and_explain_refusals(stack: Stack) -> None:
    from tests.integration.test_web_messenger import csrf, link_sandbox_bank, sign_up

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.app), base_url=stack.platform_url
    ) as web:
        await sign_up(web, "pat")
        thread_path = await link_sandbox_bank(stack, web)
        await stack.bank.suspicious_purchase("alice", amount="99.00")
        await stack.container.drain()
        page = await web.get(thread_path)
        assert 'data-testid="reply-no"' in page.text and "Was this you?" in page.text
        message_id = re.search(r'name="message_id" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        token = await csrf(web, thread_path)
        url = f"{thread_path}/replies"
        json_accept = {"accept": "application/json"}

        async def reply(reply_id: str, *, mid: str = message_id, tok: str = token) -> httpx.Response:
            return await web.post(
                url, data={"csrf": tok, "message_id": mid, "reply_id": reply_id}, headers=json_accept
            )

        assert (await reply("no", tok="forged")).json()["code"] == "csrf_failed"
        bad = await reply("perhaps")
        assert (bad.status_code, bad.json()["code"]) == (422, "unknown_reply")
        assert (await reply("no", mid="msg_unknown")).status_code == 404
        assert (await reply("no")).status_code == 204
        again = await reply("no")
        assert (again.status_code, again.json()["code"]) == (409, "prompt_already_answered")
        await stack.container.drain()
        page = await web.get(thread_path)
        assert "You answered: No, it wasn&#39;t me" in page.text and 'data-testid="reply-no"' not in page.text


async def test_closed_prompts_and_finished_requests_are_purged_with_the_messages(
    tmp_path: Path, db_url: str
) -> None:
    from ledgerlink.services.privacy.retention import RetentionPolicy, purge

    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        await stack.bank.suspicious_purchase("alice", amount="50.00", expires_in_seconds=86_400)
        await stack.container.drain()
        answered = await _fraud_card(stack, grant, thread_id)
        await prompts.answer(stack.deps, grant, message_id=answered.id, reply_id="yes", channel="web")
        await stack.container.drain()
        clock.advance(timedelta(days=31))
        # Raised now, so it is still open (not expired, no bank outcome) when the purge runs.
        await stack.bank.suspicious_purchase("alice", amount="60.00", expires_in_seconds=86_400)
        await stack.container.drain()
        counts = [await _count(stack, t) for t in (schema.prompts, schema.bank_outbox, schema.bank_messages)]
        assert counts == [2, 1, 1]

        report = await purge(stack.deps, RetentionPolicy(messages_days=30, inbox_days=0, transactions_days=0,
                                                         abandoned_links_days=0))
        assert report.deleted["bank_dialogue"] == 3  # the answered prompt, its request, the bank's message id
        async with stack.deps.uow() as uow:
            left = await uow.prompts.open_in_thread(thread_id)
        assert [p.status for p in left] == ["open"] and await _count(stack, schema.prompts) == 1
        assert await _count(stack, schema.bank_outbox) == 0 and await _count(stack, schema.bank_messages) == 0
