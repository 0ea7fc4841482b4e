"""Hostile text from a bank (issue 14, defect 2 of the outside run): a lone surrogate, control
and bidi-override characters. Refused or cleaned at the door; and one bad row that is already
stored never takes the thread, the live feed or an export down."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
import pytest
from ofxtools.Parser import OFXTree
from sqlalchemy import func, select
from tests.conftest import Stack
from tests.integration.test_bank_dialogue import _bank_texts, _bank_token, _claims, _consent_id
from tests.integration.test_bank_dialogue import _post as _post_message
from tests.integration.test_bank_events import PATH, _bank_account, _signed, _txn_event
from tests.integration.test_linking_flow import _linked
from websockets.asyncio.client import connect
from websockets.typing import Origin

from ledgerlink.adapters.banks import OpenBankingConnector
from ledgerlink.adapters.db import schema
from ledgerlink.adapters.db.engine import READONLY_OPTION
from ledgerlink.bootstrap import SANDBOX_PARTNER_ID
from ledgerlink.domain.banking import BankTransaction, TransactionStatus
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import SystemClock
from ledgerlink.domain.events import TransactionChanged
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant
from ledgerlink.services import access
from ledgerlink.services.linking.ports import BankError
from ledgerlink.services.messaging import messenger
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text

PASSWORD = "correct horse"  # the one _linked registers with
LONE = "\ud800"
BIDI = "\u202e"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _inbox_count(stack: Stack) -> int:
    """Inbox rows, read as a WAL reader: a writer's lock (BEGIN IMMEDIATE) taken here would make
    the platform's own writer, on this event loop, wait out SQLite's busy timeout."""
    async with stack.container.engine.connect() as conn:
        await conn.execution_options(**{READONLY_OPTION: True})
        return int((await conn.execute(select(func.count()).select_from(schema.inbox))).scalar_one())


@asynccontextmanager
async def _signed_in(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The running server, signed in as pat (cookies kept for the WebSocket)."""
    async with stack.client() as client:
        token = _CSRF.search((await client.get("/login")).text)
        assert token is not None
        resp = await client.post("/login", data={"csrf": token.group(1), "handle": "pat",
                                                 "password": PASSWORD})
        assert resp.status_code == 303, resp.text
        yield client


def _no_bad_text(text: str) -> None:
    assert LONE not in text and BIDI not in text
    text.encode("utf-8")  # would raise on any lone surrogate


# --------------------------------------------------------------------------- at the door


@pytest.mark.parametrize("route", ["fastpath", "framework"])
async def test_a_lone_surrogate_in_a_signed_event_is_refused_naming_the_field(
    stack: Stack, route: str
) -> None:
    await _linked(stack)
    event = _txn_event(_bank_account(stack), "ext_lone")
    event["data"]["transaction"]["merchant_name"] = LONE + "Lone"
    body = json.dumps(event).encode()  # ensure_ascii: the surrogate travels as the escape \ud800
    assert b"\\ud800Lone" in body
    before = await _inbox_count(stack)
    app = stack.app if route == "fastpath" else stack.app.app  # the FastAPI route behind it
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=stack.platform_url) as client:
        resp = await client.post(PATH, content=body, headers=_signed(stack, body))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["code"] == "invalid_text"
    assert "data.transaction.merchant_name" in problem["detail"]
    assert "Lone" not in problem["detail"]  # the hostile value is never echoed
    assert await _inbox_count(stack) == before


async def test_control_and_bidi_characters_are_stripped_from_display_fields(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    event = _txn_event(_bank_account(stack), "ext_bidi")
    event["data"]["transaction"]["merchant_name"] = f"Corner{BIDI}\u2066 Bakery\x07\x85"
    event["data"]["transaction"]["descriptor"] = "CORNER\tBAKERY\r\n12\u200f"
    body = json.dumps(event).encode()
    async with stack.client() as client:
        resp = await client.post(PATH, content=body, headers=_signed(stack, body))
    assert resp.status_code == 202, resp.text
    await stack.container.drain()
    views = await messenger.thread_messages(stack.deps, grant, thread_id)
    [card] = [v for v in views if v.kind is CardKind.TRANSACTION and v.body.get("merchant", "")
              .startswith("Corner")]
    assert card.body["merchant"] == "Corner Bakery"
    assert card.body["descriptor"] == "CORNER BAKERY 12"


# --------------------------------------------------------------------------- renderers are total


async def _store_bad_rows(stack: Stack, grant: Grant) -> None:
    """What the door now refuses, stored directly through the access layer (as rows written
    before the fix, or by a path that forgot to check, would be)."""
    deps = stack.deps
    async with deps.uow() as uow:
        [account] = await uow.accounts.by_bank_id(SANDBOX_PARTNER_ID, _bank_account(stack))
        report = BankTransaction(
            bank_transaction_id="ext_bad_row", bank_account_id=account.bank_account_id,
            status=TransactionStatus.POSTED, amount=Money.parse("-3.20", "EUR"),
            booking_date=date(2026, 11, 26), value_date=None, merchant=LONE + "Lone",
            descriptor=f"LONE{BIDI} \x1b[31m{LONE}", mcc="5812",
        )
        change = await access.upsert_transaction(
            deps.vault, uow, Grant.for_component(grant.person_id, "sync"), account, report,
            at=deps.clock.now())
        uow.events.append(TransactionChanged(person_id=grant.person_id,
                                             transaction_id=change.transaction.id, created=True))
        thread = await ensure_system_thread(deps, uow, grant.person_id)
        await post_text(deps, uow, thread, f"From the bank: {LONE}{BIDI}hello")
        await deps.commit_and_publish(uow)
    await stack.container.drain()


async def test_a_stored_bad_row_never_takes_the_thread_or_the_exports_down(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _store_bad_rows(stack, grant)
    async with _signed_in(stack) as client:
        async with stack.deps.uow(readonly=True) as uow:
            [account] = await uow.accounts.by_bank_id(SANDBOX_PARTNER_ID, _bank_account(stack))
        paths = [f"/threads/{thread_id}", "/", "/settings", "/settings/export.json",
                 "/settings/export.csv", f"/settings/export/{account.id}.ofx"]
        answers = {path: await client.get(path) for path in paths}
        assert {p: r.status_code for p, r in answers.items()} == dict.fromkeys(paths, 200)
        for resp in answers.values():
            _no_bad_text(resp.content.decode("utf-8"))
        thread = answers[f"/threads/{thread_id}"].text
        assert "\ufffdLone" in thread  # the bad character is replaced, the rest is shown
        assert thread.count('class="msg msg-') >= 2  # the other cards of the thread are there

        export = await client.get("/settings/export.json")
        assert export.status_code == 200, export.text[:300]
        data = json.loads(export.content.decode("utf-8"))
        merchants = [t["merchant"] for t in data["transactions"]]
        assert "\ufffdLone" in merchants
        _no_bad_text(export.content.decode("utf-8"))

        sheet = await client.get("/settings/export.csv")
        assert sheet.status_code == 200, sheet.text[:300]
        rows = list(csv.DictReader(io.StringIO(sheet.content.decode("utf-8-sig"))))
        bad = next(r for r in rows if r["bank_transaction_id"] == "ext_bad_row")
        assert bad["merchant"] == "\ufffdLone"
        assert "\x1b" not in bad["descriptor"] and BIDI not in bad["descriptor"]

        account_id = next(t["account_id"] for t in data["transactions"]
                          if t["bank_transaction_id"] == "ext_bad_row")
        ofx = await client.get(f"/settings/export/{account_id}.ofx")
        assert ofx.status_code == 200, ofx.text[:300]
        _no_bad_text(ofx.content.decode("utf-8"))
        tree = OFXTree()
        tree.parse(io.BytesIO(ofx.content))
        names = [t.name for t in tree.convert().statements[0].transactions]
        assert "\ufffdLone" in names


async def test_a_stored_bad_row_never_takes_the_live_feed_down(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await _store_bad_rows(stack, grant)
    async with _signed_in(stack) as client:
        cookie = f"ll_session={client.cookies['ll_session']}"
        threads = {t.id: 0 for t in await messenger.list_threads(stack.deps, grant)}
    url = stack.platform_url.replace("http://", "ws://") + "/ws"
    frames: list[dict[str, Any]] = []
    async with connect(url, additional_headers={"Cookie": cookie}, origin=Origin(stack.platform_url),
                       open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "resume", "threads": threads}))
        while True:
            raw = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(raw, str)
            frame = json.loads(raw)
            if frame["type"] == "ready":
                break
            frames.append(frame)
    messages = [f for f in frames if f["type"] == "message"]
    assert thread_id in {f["thread_id"] for f in messages}
    for frame in messages:
        _no_bad_text(frame["html"])
        _no_bad_text(frame["text"])
    assert any("\ufffdLone" in f["html"] for f in messages)
    assert any("\ufffd" in f["text"] and "hello" in f["text"] for f in messages)


# --------------------------------------------------------------------------- the sync path


def _bank_answering(body: dict[str, Any]) -> OpenBankingConnector:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(body).encode(),  # \ud800 as an escape
                              headers={"content-type": "application/json"})

    return OpenBankingConnector(issuer="http://127.0.0.1:9", client_id="c", client_secret="s",
                                http=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
                                clock=SystemClock())


def _page(merchant: str) -> dict[str, Any]:
    txn = {"transaction_id": "t1", "account_id": "a1", "status": "posted", "amount": "-1.00",
           "currency": "EUR", "merchant_name": merchant, "descriptor": "SHOP"}
    return {"added": [txn], "modified": [], "removed": [], "next_cursor": "c2", "has_more": False}


async def test_a_sync_page_with_a_lone_surrogate_is_refused_and_bidi_is_stripped() -> None:
    with pytest.raises(BankError) as err:
        await _bank_answering(_page(LONE + "Lone")).sync_transactions(
            access_token="tok", bank_account_id="a1", cursor=None)
    assert err.value.code == "bank_bad_response"
    assert "added[].merchant_name" in str(err.value) and "Lone" not in str(err.value)
    page = await _bank_answering(_page(f"Shop{BIDI}\u2067 Name\x00")).sync_transactions(
        access_token="tok", bank_account_id="a1", cursor=None)
    assert page.added[0].merchant == "Shop Name"


async def test_account_names_from_the_bank_are_checked_at_the_door() -> None:
    row = {"account_id": "a1", "type": "checking", "currency": "EUR"}
    [account] = await _bank_answering({"accounts": [
        {**row, "name": f"Every{BIDI}day\x1b Checking", "mask": f"\u20661234{BIDI}"}]}).accounts(
        access_token="tok")
    assert (account.name, account.last4) == ("Everyday Checking", "1234")
    with pytest.raises(BankError) as err:
        await _bank_answering({"accounts": [{**row, "name": LONE, "mask": "1234"}]}).accounts(
            access_token="tok")
    assert err.value.code == "bank_bad_response" and "accounts[].name" in str(err.value)


# --------------------------------------------------------------------------- the bank's messages


async def test_a_banks_message_text_is_refused_for_a_lone_surrogate_and_stripped_of_bidi(
    stack: Stack,
) -> None:
    grant, thread_id = await _linked(stack)
    consent_id = await _consent_id(stack, grant)
    refused = await _post_message(stack, _bank_token(stack, _claims(stack, consent_id, text=LONE + "Lone")))
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_text" and "text" in refused.json()["detail"]
    ok = await _post_message(stack, _bank_token(stack, _claims(
        stack, consent_id, text=f"Call us{BIDI} on\r\nMonday\x07")))
    assert ok.status_code == 201, ok.text
    texts = [t["text"] for t in await _bank_texts(stack, grant, thread_id)]
    assert "Call us on\nMonday" in texts and not any("Lone" in t for t in texts)
