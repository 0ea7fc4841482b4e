"""The person's rights: consents, export (JSON, CSV, OFX), erasure, preview levels, retention."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from ofxtools.Parser import OFXTree
from tests.conftest import Stack, running_stack
from tests.integration.test_bank_dialogue import _fraud_card
from tests.integration.test_linking_flow import _linked
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ledgerlink.bootstrap import SANDBOX_PARTNER_ID
from ledgerlink.domain.banking import BankTransaction, TransactionStatus
from ledgerlink.domain.cards import DISCLOSURE_LEVELS, MINIMAL_PREVIEW, preview_text
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.entrypoints.web import privacy as privacy_pages
from ledgerlink.entrypoints.web.hub import CLOSE_UNAUTHORIZED
from ledgerlink.services import access
from ledgerlink.services.alerts import digests, rules
from ledgerlink.services.dialogue import prompts
from ledgerlink.services.ingest.ports import InboxRecord
from ledgerlink.services.insights import transactions as insight_transactions
from ledgerlink.services.linking import links
from ledgerlink.services.messaging import channels, messenger
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text
from ledgerlink.services.privacy import rights
from ledgerlink.services.privacy.export_formats import transactions_csv
from ledgerlink.services.privacy.retention import RetentionPolicy, purge
from ledgerlink.services.questions import commands

PASSWORD = "correct horse"  # the one _linked registers with
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "export-schema.json").read_text())
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# --------------------------------------------------------------------------- helpers


@asynccontextmanager
async def _client(stack: Stack, handle: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of the ASGI app, signed in as `handle`."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app),
                                 base_url=stack.platform_url) as client:
        token = await _csrf(client, "/login")
        resp = await client.post("/login", data={"csrf": token, "handle": handle, "password": PASSWORD})
        assert resp.status_code == 303, resp.text
        yield client


@pytest.fixture
async def pat(stack: Stack) -> AsyncIterator[tuple[Grant, httpx.AsyncClient]]:
    """Pat has linked alice's accounts at the sandbox bank; one purchase is pending, one posted."""
    grant, _ = await _linked(stack)
    pending = await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
    await stack.bank.post(pending, final_amount="5.40")
    await stack.bank.purchase("alice", merchant="Shell", amount="12.00")
    await stack.container.drain()
    async with _client(stack, "pat") as client:
        yield grant, client


async def _csrf(client: httpx.AsyncClient, path: str) -> str:
    match = _CSRF.search((await client.get(path)).text)
    assert match is not None
    return match.group(1)


async def _accounts(stack: Stack, grant: Grant) -> list[access.AccountView]:
    async with stack.deps.uow() as uow:
        views = await access.read_accounts(stack.deps.vault, uow, grant, Purpose.SHOW_TO_PERSON,
                                           at=stack.deps.clock.now())
        await uow.commit()
    return views


def _coffee(export: dict[str, Any]) -> dict[str, Any]:
    """The purchase the fixture made (the bank's seeded history has other coffees)."""
    [coffee] = [t for t in export["transactions"]
                if (t["merchant"], t["amount"]) == ("Blue Bottle Coffee", "-5.40")]
    return coffee


def _floats(value: Any, path: str = "$") -> list[str]:
    """Where a float hides in exported JSON (money and thresholds must be decimal strings)."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in _floats(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _floats(v, f"{path}[{i}]")]
    return []


def _validate(value: Any, schema: dict[str, Any], path: str = "$") -> None:
    """The subset of JSON Schema our schema uses (jsonschema is not a dependency)."""
    if "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        checks = {"object": dict, "array": list, "string": str, "integer": int, "null": type(None),
                  "boolean": bool}
        assert any(isinstance(value, checks[n]) for n in names), f"{path}: {value!r} is not {names}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if "const" in schema:
        assert value == schema["const"], path
    if "pattern" in schema and isinstance(value, str):
        assert re.search(schema["pattern"], value), f"{path}: {value!r} !~ {schema['pattern']}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{path}: missing {key}"
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(props), f"{path}: unexpected {set(value) - set(props)}"
        for key, sub in props.items():
            if key in value:
                _validate(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _validate(item, schema["items"], f"{path}[{i}]")


# --------------------------------------------------------------------------- export


async def test_the_json_export_holds_everything_follows_the_schema_and_no_tokens(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    grant, client = pat
    async with stack.deps.uow() as uow:
        [link] = await uow.links.for_person(grant.person_id)
        tokens = await access.open_link_secrets(stack.deps.vault, uow, grant, Purpose.OPERATIONS_SUPPORT,
                                                link, at=stack.deps.clock.now())
    resp = await client.get("/settings/export.json")
    assert resp.status_code == 200
    assert resp.headers["content-disposition"].startswith("attachment;")
    data = resp.json()
    _validate(data, SCHEMA)
    assert data["person"]["handle"] == "pat"
    assert [lk["status"] for lk in data["links"]] == ["active"]
    coffee = _coffee(data)
    assert coffee["status"] == "posted" and coffee["pending_bank_transaction_id"]
    assert "pending->posted" in coffee["status_history"]
    shell = [t for t in data["transactions"] if (t["merchant"], t["amount"]) == ("Shell", "-12.00")]
    assert [t["status"] for t in shell] == ["pending"]
    assert all(a["balance"] is not None for a in data["accounts"])
    assert {t["kind"] for t in data["threads"]} == {"system", "bank"}
    assert any(m["kind"] == "transaction" for t in data["threads"] for m in t["messages"])
    assert any(e["action"] == "read_accounts" for e in data["audit"])
    assert [r["link_id"] for r in data["consent_receipts"]] == [lk["id"] for lk in data["links"]]
    assert data["alert_rules"] == [] and data["digest"] is None and data["channels"] == []
    assert data["fraud_prompts"] == [] and data["bank_requests"] == []
    for secret in (tokens["access_token"], tokens["refresh_token"]):
        assert secret not in resp.text
    assert "sealed" not in resp.text and "password" not in resp.text
    # The export itself is in the audit log, under the export purpose.
    async with stack.deps.uow() as uow:
        latest = (await uow.audit.for_person(grant.person_id, limit=5))
    assert any(e.action == "export_person" and e.purpose == "person_export" for e in latest)


async def test_the_json_export_holds_alert_rules_digest_channels_prompts_and_bank_requests(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    grant, client = pat
    deps = stack.deps
    [bank_thread] = [t for t in await messenger.list_threads(deps, grant) if t.kind.value == "bank"]
    [checking, *_] = await _accounts(stack, grant)
    await rules.set_threshold(deps, grant, "large_purchase", Decimal("250.50"), account_id=checking.id)
    await rules.mute(deps, grant, "Shell")
    await digests.set_schedule(deps, grant, digests.Schedule(frequency="weekly", hour=9, weekday=4,
                                                             zone="Europe/Berlin"))
    _, alert_id = await stack.bank.suspicious_purchase("alice", amount="249.00")
    await stack.container.drain()
    card = await _fraud_card(stack, grant, bank_thread.id)
    await prompts.answer(deps, grant, message_id=card.id, reply_id="no", channel="web")
    await stack.container.drain()
    url = "https://hooks.example.com/ledgerlink"
    channel_id, secret = await channels.add_webhook(deps, grant, url=url)

    resp = await client.get("/settings/export.json")
    assert resp.status_code == 200
    data = resp.json()
    _validate(data, SCHEMA)
    assert _floats(data) == []
    assert secret not in resp.text and "whsec_" not in resp.text and "sealed" not in resp.text

    exported = {r["kind"]: r for r in data["alert_rules"]}
    large = exported["large_purchase"]
    assert (large["account_id"], large["currency"], large["params"], large["enabled"]) == (
        checking.id, checking.currency, {"amount": "250.50"}, True)
    assert datetime.fromisoformat(large["created_at"]).utcoffset() == timedelta(0)
    mute = exported["mute_merchant"]
    assert (mute["account_id"], mute["currency"], mute["params"]) == (None, None, {"merchant": "shell"})

    digest = data["digest"]
    assert {k: digest[k] for k in ("frequency", "hour", "weekday", "utc_offset")} == {
        "frequency": "weekly", "hour": 9, "weekday": 4, "utc_offset": None}  # the zone is on the person
    assert datetime.fromisoformat(digest["next_due_at"]) > datetime.fromisoformat(data["exported_at"])

    [channel] = data["channels"]
    assert (channel["id"], channel["kind"], channel["target"], channel["status"],
            channel["disabled_reason"]) == (channel_id, "webhook", url, "active", None)

    [prompt] = data["fraud_prompts"]
    assert (prompt["bank"], prompt["thread_id"], prompt["message_id"], prompt["bank_alert_id"]) == (
        "Sandbox Bank", bank_thread.id, card.id, alert_id)
    assert (prompt["status"], prompt["answer"], prompt["answered_via"]) == ("answered", "no", "web")
    assert prompt["answered_at"] is not None and prompt["reminded_at"] is None

    [request] = data["bank_requests"]
    assert (request["kind"], request["bank"], request["prompt_id"]) == (
        "fraud_answer", "Sandbox Bank", prompt["id"])
    assert (request["status"], request["outcome"]) == ("sent", "card_frozen")
    assert datetime.fromisoformat(request["updated_at"]) >= datetime.fromisoformat(request["created_at"])

    # The export's one audit entry counts what left (counts only).
    async with deps.uow() as uow:
        [entry] = [e for e in await uow.audit.for_person(grant.person_id, limit=5)
                   if e.action == "export_person"]
    assert entry.subject.endswith(
        f"alert_rules:{len(data['alert_rules'])} digest:1 channels:1 prompts:1 bank_requests:1")


async def test_the_csv_has_one_row_per_transaction(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    _, client = pat
    exported = (await client.get("/settings/export.json")).json()
    resp = await client.get("/settings/export.csv")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert 'filename="ledgerlink-transactions.csv"' in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert [r["transaction_id"] for r in rows] == [t["id"] for t in exported["transactions"]]
    for row, txn in zip(rows, exported["transactions"], strict=True):
        assert row["amount"] == txn["amount"] and row["bank_transaction_id"] == txn["bank_transaction_id"]
        assert row["merchant"] == (txn["merchant"] or "") and row["status"] == txn["status"]


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_defused() -> None:
    txn = {"id": "txn_1", "account_id": "acc_1", "bank_transaction_id": "b1", "status": "posted",
           "booking_date": "2026-01-02", "value_date": None, "amount": "-1.00", "currency": "USD",
           "merchant": "=HYPERLINK(\"http://x\")", "descriptor": "@SUM(A1)", "category": "Other",
           "mcc": None, "created_at": "t", "updated_at": "t", "status_history": []}
    account = {"id": "acc_1", "name": "+Checking", "last4": "1234", "bank": "Sandbox Bank"}
    text = transactions_csv({"accounts": [account], "transactions": [txn]})
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["merchant"].startswith("'=") and row["descriptor"].startswith("'@")
    assert row["account"] == "'+Checking ••1234" and row["amount"] == "-1.00"


async def test_the_ofx_statement_parses_with_ofxtools_and_uses_the_bank_ids(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    _, client = pat
    exported = (await client.get("/settings/export.json")).json()
    coffee = _coffee(exported)
    resp = await client.get(f"/settings/export/{coffee['account_id']}.ofx")
    assert resp.status_code == 200
    assert resp.headers["content-disposition"].startswith("attachment;")
    tree = OFXTree()
    tree.parse(io.BytesIO(resp.content))
    ofx = tree.convert()
    [statement] = ofx.statements
    posted = [t for t in exported["transactions"]
              if t["account_id"] == coffee["account_id"] and t["status"] == "posted"]
    assert {t.fitid for t in statement.transactions} == {t["bank_transaction_id"] for t in posted}
    mine = next(t for t in statement.transactions if t.fitid == coffee["bank_transaction_id"])
    assert mine.trnamt == Decimal("-5.40") and mine.trntype == "DEBIT"
    account = next(a for a in exported["accounts"] if a["id"] == coffee["account_id"])
    assert statement.curdef == account["currency"]
    assert statement.ledgerbal.balamt == Decimal(account["balance"]["current"])


async def test_someone_elses_account_export_and_erasure_are_refused(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    grant, _ = pat
    exported = await rights.export_person(stack.deps, grant)
    account_id = exported["accounts"][0]["id"]
    await messenger.register(stack.deps, handle="mallory", display_name="M", password=PASSWORD)
    async with _client(stack, "mallory") as mallory:
        assert (await mallory.get(f"/settings/export/{account_id}.ofx")).status_code == 404
        assert (await mallory.get("/settings/export/acc_nothing.ofx")).status_code == 404
        assert "Blue Bottle" not in (await mallory.get("/settings/export.json")).text
        token = await _csrf(mallory, "/settings/erase")
        wrong = await mallory.post("/settings/erase", data={"csrf": token, "handle": "pat"})
        assert wrong.status_code == 422
    assert (await messenger.get_person(stack.deps, grant.person_id)).handle == "pat"
    with pytest.raises(NotFound):
        await rights.export_person(stack.deps, Grant.for_component(grant.person_id, "operator"))


async def test_erasure_from_settings_needs_the_handle_then_says_what_went(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    grant, client = pat
    token = await _csrf(client, "/settings/erase")
    stale_cookie = f"ll_session={client.cookies['ll_session']}"  # e.g. another open tab
    done = await client.post("/settings/erase", data={"csrf": token, "handle": "pat",
                                                      "password": PASSWORD})
    assert done.status_code == 200
    assert 'data-testid="goodbye"' in done.text and "Deleted transactions" in done.text
    assert (await client.get("/settings")).headers["location"] == "/login"
    with pytest.raises(NotFound):
        await messenger.get_person(stack.deps, grant.person_id)
    url = stack.platform_url.replace("http://", "ws://") + "/ws"
    async with connect(url, additional_headers={"Cookie": stale_cookie}, open_timeout=30) as ws:
        with pytest.raises(ConnectionClosed) as closed:  # the session ended with the erasure
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_UNAUTHORIZED


# --------------------------------------------------------------------------- settings, chat


async def test_the_settings_page_lists_consents_and_revokes_one(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    grant, client = pat
    page = await client.get("/settings")
    assert page.status_code == 200
    assert "Sandbox Bank" in page.text and "••" in page.text and 'href="/privacy/accesses"' in page.text
    [link] = await linking_links(stack, grant)
    form = {"csrf": await _csrf(client, "/settings")}
    revoke = await client.post(f"/settings/links/{link}/revoke", data=form)
    assert revoke.headers["location"] == "/settings?notice=revoked"
    [consent] = await rights.consents(stack.deps, grant)
    assert consent.status == "revoked"
    again = await client.post(f"/settings/links/{link}/revoke", data=form)
    assert again.headers["location"] == "/settings?notice=link_not_active"


async def linking_links(stack: Stack, grant: Grant) -> list[str]:
    async with stack.deps.uow() as uow:
        return [lk.id for lk in await uow.links.for_person(grant.person_id)]


async def test_chat_commands_list_consents_offer_downloads_and_never_erase(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    grant, _ = pat
    [system] = [t for t in await messenger.list_threads(stack.deps, grant) if t.kind.value == "system"]

    async def ask(text: str) -> dict[str, Any]:
        await commands.handle_text(stack.deps, grant, system.id, text)
        await stack.container.drain()
        return (await messenger.thread_messages(stack.deps, grant, system.id))[-1].body

    consents = await ask("My consents")
    assert "Sandbox Bank: active" in consents["text"]
    assert {"label": "Manage", "href": "/settings"} in consents["actions"]
    export = await ask("export my data")
    hrefs = [a["href"] for a in export["actions"]]
    assert "/settings/export.json" in hrefs and "/settings/export.csv" in hrefs
    assert any(h.endswith(".ofx") for h in hrefs)
    erase = await ask("erase my data")
    assert erase["actions"][0]["href"] == "/settings/erase"
    assert (await messenger.get_person(stack.deps, grant.person_id)).erased_at is None


# --------------------------------------------------------------------------- disclosure levels


def test_preview_levels_hide_what_they_promise() -> None:
    assert tuple(privacy_pages.LEVELS) == DISCLOSURE_LEVELS
    body = {"status": "posted", "merchant": "Blue Bottle Coffee", "amount": "-5.40", "currency": "USD",
            "account": "Checking ••1234"}
    full = preview_text(CardKind.TRANSACTION, body, "full")
    assert "Blue Bottle Coffee" in full and "5.40" in full
    assert "5.40" not in preview_text(CardKind.TRANSACTION, body, "amount_hidden")
    assert "Blue Bottle" not in preview_text(CardKind.TRANSACTION, body, "merchant_hidden")
    for level in ("minimal", "something-unknown"):
        assert preview_text(CardKind.TRANSACTION, body, level) == MINIMAL_PREVIEW
    text = {"text": "Checking ••1234: 812.00 USD", "tone": "info", "actions": []}
    assert "812" not in preview_text(CardKind.TEXT, text, "amount_hidden")


async def test_a_chosen_disclosure_level_persists_and_cuts_the_live_preview(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    grant, client = pat
    token = await _csrf(client, "/settings")
    saved = await client.post("/settings/disclosure", data={"csrf": token, "level": "minimal"})
    assert saved.status_code == 303
    assert (await messenger.get_person(stack.deps, grant.person_id)).disclosure == "minimal"
    assert re.search(r'data-testid="level-minimal"\s+checked', (await client.get("/settings")).text)

    url = stack.platform_url.replace("http://", "ws://") + "/ws"
    cookie = f"ll_session={client.cookies['ll_session']}"
    async with connect(url, additional_headers={"Cookie": cookie}, open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "resume", "threads": {}}))
        while json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] != "ready":
            pass
        await stack.bank.purchase("alice", merchant="Nobu", amount="210.00")
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if frame["type"] == "message" and frame["kind"] == "transaction":
                break
    assert frame["text"] == MINIMAL_PREVIEW
    assert "Nobu" not in frame["text"] and "210" not in frame["text"]


# --------------------------------------------------------------------------- retention


async def _rows(stack: Stack, person_id: str) -> dict[str, Any]:
    async with stack.deps.uow() as uow:
        txns = [t for a in await uow.accounts.for_person(person_id)
                for t in await uow.transactions.for_account(a.id, limit=100_000)]
        messages = [m for t in await uow.threads.for_person(person_id)
                    for m in await uow.threads.latest_messages(t.id, limit=100_000)]
        person_links = await uow.links.for_person(person_id)
    return {"txns": {t.id: t for t in txns}, "messages": {m.id: m for m in messages},
            "links": {lk.id: lk for lk in person_links}}


async def test_the_purge_deletes_only_rows_past_their_retention(tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, _ = await _linked(stack)
        await stack.bank.purchase("alice", merchant="Lidl", amount="3.00")
        await stack.container.drain()
        await links.start_link(stack.deps, grant, partner_id=SANDBOX_PARTNER_ID)  # abandoned
        async with stack.deps.uow() as uow:
            await uow.inbox.add(InboxRecord(id=f"{SANDBOX_PARTNER_ID}:stuck", partner_id=SANDBOX_PARTNER_ID,
                                            person_id=grant.person_id, event_type="transaction.created",
                                            sealed=None, received_at=clock.now()))
            await uow.commit()

        clock.advance(timedelta(days=31))
        deps = stack.deps
        async with deps.uow() as uow:  # fresh rows, written "today"
            account = (await uow.accounts.for_person(grant.person_id))[0]
            fresh = await access.upsert_transaction(
                deps.vault, uow, Grant.for_component(grant.person_id, "sync"), account,
                BankTransaction(bank_transaction_id="fresh-1", bank_account_id=account.bank_account_id,
                                status=TransactionStatus.POSTED,
                                amount=Money.parse("-1.00", account.currency),
                                booking_date=clock.now().date(), value_date=None, merchant="New",
                                descriptor="NEW", mcc=None),
                at=clock.now())
            await post_text(deps, uow, await ensure_system_thread(deps, uow, grant.person_id), "fresh note")
            await uow.commit()
        before = await _rows(stack, grant.person_id)
        cutoff = clock.now() - timedelta(days=30)
        policy = RetentionPolicy(inbox_days=30, transactions_days=30, messages_days=30,
                                 abandoned_links_days=7, batch_size=2)
        report = await purge(deps, policy)
        after = await _rows(stack, grant.person_id)

        def expired_txn(t: Any) -> bool:
            return t.booking_date < cutoff.date() if t.booking_date else t.updated_at < cutoff

        assert set(after["txns"]) == {i for i, t in before["txns"].items() if not expired_txn(t)}
        assert fresh.transaction.id in after["txns"]
        assert report.deleted["transactions"] == len(before["txns"]) - len(after["txns"]) > 0
        assert all(m.created_at >= cutoff for m in after["messages"].values())
        assert report.deleted["messages"] == len(before["messages"]) - len(after["messages"]) > 0
        assert any(m.created_at == clock.now() for m in after["messages"].values())
        assert [lk.status for lk in after["links"].values()] == ["active"]
        assert report.deleted["abandoned_links"] == 1
        assert report.deleted["inbox"] > 0 and report.complete
        async with deps.uow() as uow:
            assert await uow.inbox.get(f"{SANDBOX_PARTNER_ID}:stuck") is not None  # unprocessed: kept

        # A bounded run stops after max_batches and says it is not complete.
        clock.advance(timedelta(days=400))
        partial = await purge(deps, RetentionPolicy(transactions_days=30, messages_days=30, batch_size=1,
                                                    max_batches=1))
        assert partial.deleted["messages"] == 1 and not partial.complete


async def test_the_json_export_carries_the_persons_own_transaction_note(
        stack: Stack, pat: tuple[Grant, httpx.AsyncClient]) -> None:
    grant, client = pat
    before = _coffee((await client.get("/settings/export.json")).json())
    assert before["note"] is None
    await insight_transactions.set_note(stack.deps, grant, before["id"], "  oat latte with Sam  ")
    data = (await client.get("/settings/export.json")).json()
    _validate(data, SCHEMA)
    assert _coffee(data)["note"] == "oat latte with Sam"
    assert [t["note"] for t in data["transactions"] if t["id"] != before["id"]] == \
        [None] * (len(data["transactions"]) - 1)
    async with stack.deps.uow() as uow:  # the note stays sealed in storage
        record = await uow.transactions.get(before["id"])
    assert record is not None and "oat latte" not in repr(record)
