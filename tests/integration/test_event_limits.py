"""The bank-event door's limits (issue 14): size (413 before any signature work, on the declared
length and on the bytes read), media type (415) and the webhook id's length (422), on the fast
path and on the framework route behind it. Nothing is stored on refusal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import Stack
from tests.integration.test_bank_events import PATH, _bank_account, _signed, _txn_event
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
from ledgerlink.adapters.db.engine import READONLY_OPTION
from ledgerlink.services.ingest.inbox import MAX_BODY, MAX_WEBHOOK_ID

ROUTES = ["server", "fastpath", "framework"]


async def _inbox_count(stack: Stack) -> int:
    """Inbox rows, read as a WAL reader: a writer's lock (BEGIN IMMEDIATE) taken here would make
    the platform's own writer, on this event loop, wait out SQLite's busy timeout."""
    async with stack.container.engine.connect() as conn:
        await conn.execution_options(**{READONLY_OPTION: True})
        return int((await conn.execute(select(func.count()).select_from(schema.inbox))).scalar_one())


@asynccontextmanager
async def _client(stack: Stack, route: str) -> AsyncIterator[httpx.AsyncClient]:
    """`server`: uvicorn in front of the fast path (the body arrives in chunks); `fastpath`:
    the fast path in process; `framework`: the FastAPI route alone."""
    if route == "server":
        async with stack.client() as client:
            yield client
        return
    app = stack.app if route == "fastpath" else stack.app.app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=stack.platform_url,
                                 timeout=30.0) as client:
        yield client


def _padded(stack: Stack, size: int) -> bytes:
    """A valid transaction event of exactly `size` bytes (an unknown field carries padding)."""
    event: dict[str, Any] = {**_txn_event(_bank_account(stack), f"ext_pad_{size}"), "pad": ""}
    base = len(json.dumps(event).encode())
    event["pad"] = "x" * (size - base)
    body = json.dumps(event).encode()
    assert len(body) == size
    return body


def _problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = resp.json()
    assert problem["code"] == code and problem["status"] == status
    assert "Traceback" not in resp.text
    return problem


@pytest.mark.parametrize("route", ROUTES)
async def test_an_oversized_event_is_413_not_a_bad_signature(stack: Stack, route: str) -> None:
    await _linked(stack)
    before = await _inbox_count(stack)
    async with _client(stack, route) as client:
        for size in (MAX_BODY + 1, 300 * 1024, 5 * 1024 * 1024 - 1):
            body = _padded(stack, size)
            resp = await client.post(PATH, content=body, headers=_signed(stack, body))
            problem = _problem(resp, 413, "payload_too_large")
            assert "256 KiB" in problem["detail"]
        assert await _inbox_count(stack) == before
        body = _padded(stack, MAX_BODY)  # the limit itself is fine
        resp = await client.post(PATH, content=body, headers=_signed(stack, body))
        assert resp.status_code == 202, resp.text[:300]
    assert await _inbox_count(stack) == before + 1


@pytest.mark.parametrize("route", ROUTES)
async def test_a_body_that_is_not_json_by_its_media_type_is_415(stack: Stack, route: str) -> None:
    await _linked(stack)
    before = await _inbox_count(stack)
    body = json.dumps(_txn_event(_bank_account(stack), "ext_media")).encode()
    async with _client(stack, route) as client:
        for media in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx", None):
            headers = _signed(stack, body)
            if media is None:
                del headers["content-type"]
            else:
                headers["content-type"] = media
            resp = await client.post(PATH, content=body, headers=headers)
            _problem(resp, 415, "unsupported_media_type")
        assert await _inbox_count(stack) == before
        headers = {**_signed(stack, body), "content-type": "Application/JSON; charset=utf-8"}
        assert (await client.post(PATH, content=body, headers=headers)).status_code == 202
    assert await _inbox_count(stack) == before + 1


@pytest.mark.parametrize("route", ROUTES)
async def test_a_webhook_id_longer_than_the_inbox_column_allows_is_422(stack: Stack, route: str) -> None:
    await _linked(stack)
    before = await _inbox_count(stack)
    body = json.dumps(_txn_event(_bank_account(stack), "ext_long_id")).encode()
    async with _client(stack, route) as client:
        resp = await client.post(PATH, content=body,
                                 headers=_signed(stack, body, msg_id="m" * (MAX_WEBHOOK_ID + 1)))
        problem = _problem(resp, 422, "webhook_id_too_long")
        assert str(MAX_WEBHOOK_ID) in problem["detail"]
        assert await _inbox_count(stack) == before
        longest = "m" * MAX_WEBHOOK_ID
        resp = await client.post(PATH, content=body, headers=_signed(stack, body, msg_id=longest))
        assert resp.status_code == 202, resp.text
        assert resp.json()["id"] == longest
    assert await _inbox_count(stack) == before + 1


def test_the_longest_webhook_id_fits_the_inbox_column_for_any_partner() -> None:
    # The inbox row id is "{partner id}:{webhook-id}".
    id_column = schema.inbox.c.id.type.length
    partner_id = schema.partners.c.id.type.length
    assert partner_id + 1 + MAX_WEBHOOK_ID <= id_column


class _Body:
    """An ASGI `receive` that hands out a large body in chunks, counting what was taken."""

    def __init__(self, chunks: int, size: int = 64 * 1024) -> None:
        self.left = chunks
        self.size = size
        self.taken = 0

    async def __call__(self) -> dict[str, Any]:
        self.left -= 1
        self.taken += 1
        return {"type": "http.request", "body": b"x" * self.size, "more_body": self.left > 0}


async def _raw(stack: Stack, body: _Body, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": PATH, "headers": headers, "query_string": b"",
             "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80), "root_path": ""}
    await stack.app(scope, body, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


async def test_the_fast_path_stops_reading_at_the_limit(stack: Stack) -> None:
    json_type = (b"content-type", b"application/json")
    declared = _Body(80)  # 5 MiB announced: refused before a byte is read
    announced = (b"content-length", str(80 * 64 * 1024).encode())
    status, problem = await _raw(stack, declared, [json_type, announced])
    assert (status, problem["code"]) == (413, "payload_too_large")
    assert declared.taken == 0
    streamed = _Body(80)  # no length announced (chunked): reading stops past 256 KiB
    status, problem = await _raw(stack, streamed, [json_type])
    assert (status, problem["code"]) == (413, "payload_too_large")
    assert streamed.taken <= MAX_BODY // streamed.size + 1
