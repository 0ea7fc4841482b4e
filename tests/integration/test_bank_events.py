"""Signed bank events at POST /partners/{slug}/events: verified, deduped, stored, applied."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
from ledgerlink.adapters.db.ingest_writer import PgInboxWriter, SqliteInboxWriter
from ledgerlink.adapters.webhooks import StandardWebhooksSigner
from ledgerlink.bootstrap import SANDBOX_PARTNER_ID
from ledgerlink.domain.chat import CardKind
from ledgerlink.services import access
from ledgerlink.services.ingest.ports import InboxRecord
from ledgerlink.services.messaging import messenger

PATH = "/partners/sandbox-bank/events"


def _signed(
    stack: Stack,
    body: bytes,
    *,
    msg_id: str | None = None,
    at: datetime | None = None,
    secret: str | None = None,
) -> dict[str, str]:
    headers = StandardWebhooksSigner().sign(
        secret or stack.container.sandbox_credentials.webhook_secret,
        msg_id or f"msg_{secrets.token_hex(8)}",
        at or datetime.now(UTC),
        body,
    )
    return {**headers, "content-type": "application/json"}


def _txn_event(
    account_id: str,
    txn_id: str,
    *,
    status: str = "pending",
    amount: str = "-9.99",
    pending_id: str | None = None,
    consent_id: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "transaction.updated",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {
            "consent_id": consent_id,
            "account_id": account_id,
            "transaction": {
                "transaction_id": txn_id,
                "account_id": account_id,
                "status": status,
                "pending_transaction_id": pending_id,
                "amount": amount,
                "currency": "EUR",
                "booking_date": "2026-11-26",
                "value_date": None,
                "merchant_name": "Corner Bakery",
                "descriptor": "CORNER BAKERY 12",
                "mcc": "5812",
            },
        },
    }


async def _inbox_count(stack: Stack) -> int:
    async with stack.container.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(schema.inbox))).scalar_one())


async def _post(stack: Stack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with stack.client() as client:
        return await client.post(PATH, content=body, headers=headers)


def _bank_account(stack: Stack) -> str:
    return str(stack.bank.accounts_of("alice")[0].account_id)


async def test_a_signed_event_is_accepted_then_its_replay_is_answered_already_received(stack: Stack) -> None:
    await _linked(stack)
    body = json.dumps(_txn_event(_bank_account(stack), "ext_1")).encode()
    headers = _signed(stack, body, msg_id="msg_fixed_1")
    first = await _post(stack, body, headers)
    assert first.status_code == 202, first.text
    assert first.json() == {"id": "msg_fixed_1", "status": "accepted"}
    replay = await _post(stack, body, headers)  # a resend (issue 12): 2xx, stored once
    assert (replay.status_code, replay.json()["status"]) == (200, "already_received")
    assert await _inbox_count(stack) == 1


async def test_bad_events_get_specific_problems_and_nothing_is_stored(stack: Stack) -> None:
    await _linked(stack)
    account = _bank_account(stack)
    good = json.dumps(_txn_event(account, "ext_2")).encode()
    before = await _inbox_count(stack)
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (good, {"content-type": "application/json"}, 401, "missing_signature_headers"),
        (good, _signed(stack, good, secret="whsec_" + "QUJD" * 8), 401, "bad_signature"),
        (good, _signed(stack, b'{"tampered":1}'), 401, "bad_signature"),
        (good, _signed(stack, good, at=datetime.now(UTC) - timedelta(minutes=6)), 401, "stale_timestamp"),
        (b"{not json", _signed(stack, b"{not json"), 400, "malformed_json"),
    ]
    # valid JSON that json.loads still refuses: integers past Python's 4,300-digit limit, and
    # nesting deeper than the recursion limit (found by reading after the fuzz run, issue 14)
    for hostile in (b'{"n": ' + b"9" * 5000 + b"}", b"[" * 100_000 + b"]" * 100_000):
        if len(hostile) <= 256 * 1024:
            cases.append((hostile, _signed(stack, hostile), 400, "malformed_json"))
    for kind, payload in {
        "unknown_account": _txn_event("acct_nobody", "ext_3"),
        "unknown_event_type": {"type": "card.exploded", "data": {}},
        "malformed_payload": _txn_event(account, "ext_4", amount="12.345"),
    }.items():
        body = json.dumps(payload).encode()
        expected_status = 404 if kind == "unknown_account" else 422
        cases.append((body, _signed(stack, body), expected_status, kind))
    for body, headers, status, code in cases:
        resp = await _post(stack, body, headers)
        assert resp.status_code == status, (code, resp.text)
        problem = resp.json()
        assert problem["code"] in {code, "bad_amount"}, problem
        assert problem["status"] == status
        assert "Traceback" not in resp.text
    assert await _inbox_count(stack) == before


async def test_the_same_purchase_by_webhook_and_by_sync_is_one_transaction_and_one_message(
    stack: Stack,
) -> None:
    grant, thread_id = await _linked(stack)
    pending = await stack.bank.purchase("alice", merchant="Olive Garden", amount="18.20")
    await stack.container.drain()
    await stack.bank.post(pending, final_amount="21.00")
    await stack.container.drain()
    await stack.container.scheduler.sync_all()  # the same changes again, by sync
    await stack.container.drain()
    async with stack.container.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(schema.transactions.c.status).where(
                    schema.transactions.c.created_at > datetime.now(UTC) - timedelta(minutes=1)
                )
            )
        ).all()
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    cards = [m for m in messages if m.kind is CardKind.TRANSACTION]
    assert len(cards) == 1
    assert cards[0].body["status"] == "posted"
    assert cards[0].body["amount"] == "-21.00"
    assert [r[0] for r in rows].count("posted") >= 1


async def test_events_for_a_revoked_link_are_refused_with_410(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    link_id = (await messenger.list_threads(stack.deps, grant))[1].link_id
    assert link_id
    from ledgerlink.services.linking import links

    await links.unlink(stack.deps, grant, link_id=link_id)
    body = json.dumps(_txn_event(_bank_account(stack), "ext_9")).encode()
    resp = await _post(stack, body, _signed(stack, body))
    assert resp.status_code == 410
    assert resp.json()["code"] == "link_revoked"


async def test_events_are_group_committed_by_the_writer_for_the_platform_database(stack: Stack) -> None:
    # Regression: bootstrap once handed the *bank's* URL to the writer factory (a loop variable
    # named like the database URL), so SQLite silently got the slower generic writer.
    writer = stack.container.ingest.writer
    sqlite = stack.container.engine.dialect.name == "sqlite"
    assert isinstance(writer, SqliteInboxWriter if sqlite else PgInboxWriter)


async def test_an_event_stored_but_never_announced_is_still_applied(stack: Stack) -> None:
    """The worker reads the ids `BankEventsReceived` announces; a row nobody announced (its
    process stopped between the commit and the event) is found by a scan: whenever the worker
    is woken without ids, at start, and after it has been idle a while (ADR 0015)."""
    grant, thread_id = await _linked(stack)
    await stack.container.drain()
    deps = stack.deps
    bank_account = _bank_account(stack)
    async with deps.uow(readonly=True) as uow:
        [account] = await uow.accounts.by_bank_id(SANDBOX_PARTNER_ID, bank_account)
    inbox_id = f"{SANDBOX_PARTNER_ID}:msg_unannounced"
    payload = {**_txn_event(bank_account, "ext_unannounced"), "account": account.id}
    payload["data"]["transaction"]["merchant_name"] = "Quiet Row Cafe"
    sealed = await access.seal_inbox_payload(deps.vault, person_id=grant.person_id, inbox_id=inbox_id,
                                             payload=payload)
    written = await stack.container.ingest.writer.add_many([InboxRecord(
        id=inbox_id, partner_id=SANDBOX_PARTNER_ID, person_id=grant.person_id,
        event_type="transaction.updated", sealed=sealed, received_at=datetime.now(UTC))])
    assert written == {inbox_id}  # stored; no BankEventsReceived was published

    body = json.dumps(_txn_event(bank_account, "ext_announced")).encode()
    assert (await _post(stack, body, _signed(stack, body))).status_code == 202
    stack.container.inbox_worker.poke()  # a wake without ids scans
    await stack.container.drain()
    views = await messenger.thread_messages(deps, grant, thread_id)
    merchants = [v.body.get("merchant") for v in views if v.kind == CardKind.TRANSACTION]
    assert merchants.count("Quiet Row Cafe") == 1
    async with deps.uow(readonly=True) as uow:
        record = await uow.inbox.get(inbox_id)
    assert record is not None and record.processed_at is not None


async def test_health_and_openapi(stack: Stack) -> None:
    async with stack.client() as client:
        assert (await client.get("/healthz")).json() == {"status": "ok", "checks": {"database": "ok"}}
        spec = (await client.get("/openapi.json")).json()
    assert "/partners/{partner_slug}/events" in spec["paths"]
    answers = spec["paths"]["/partners/{partner_slug}/events"]["post"]["responses"]
    assert {"202", "200", "409", "429", "503"} <= set(answers)  # 503: the database out of reach


async def test_grant_for_someone_else_cannot_read_messages(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    del grant
    async with stack.client() as client:
        resp = await client.get(f"/threads/{thread_id}")
    assert resp.status_code in (303, 307, 401, 404)  # not signed in: never the thread
