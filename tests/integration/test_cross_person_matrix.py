"""The cross-person matrix (issue 14): every person route of the app's own route table, called
by person A with person B's ids, must answer like an unknown id (404/403/400-class or a
redirect to sign-in), never 500, never with B's private values, and never act on B's data.

The matrix is generated from `app.routes`, not from a hand list: a new route that takes an id
is covered the day it is added, and a new *kind* of path parameter fails the test until it is
taught here (`_ID_KINDS`). The WebSocket route is attacked through its protocol: A's socket
resumes B's threads and marks one read.

Skipped, by rule (`_skip`):
- routes without path parameters (they act on the signed-in person only, whoever that is);
- `/partners/`, `/partner-api/`: they authenticate partners (signed JWS), not persons;
- `/audit/`, `/.well-known/`: the public transparency log and keys, nobody's private data;
- `/static` and FastAPI's own `/docs`, `/redoc`, `/openapi.json`: files and API docs.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import _IncludedRouter
from starlette.routing import BaseRoute, WebSocketRoute
from tests.conftest import Stack, report_figure, running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_merchant_link import _link_shop
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger

PASSWORD = "correct horse"  # the one _linked's people sign in with

# B's unique markers: none of them may appear in anything A is answered.
B_HANDLE, B_NAME = "quokkabert", "Zephyrine Quokkabert"
B_MERCHANT, B_AMOUNT = "Best Buy", "876.43"  # the sandbox sells from its own catalogue
B_FRAUD_MERCHANT, B_FRAUD_AMOUNT = "Harrods", "361.79"
B_HOOK = "http://127.0.0.1:9/quokka-hook"

# A path parameter's name -> the export section (of B's own export.json) that holds its ids.
_ID_KINDS = {
    "thread_id": "threads",
    "link_id": "links",
    "account_id": "accounts",
    "receipt_id": "consent_receipts",
    "channel_id": "channels",
    "message_id": "messages",
    "prompt_id": "fraud_prompts",
    "rule_id": "alert_rules",
    "transaction_id": "transactions",
    "txn_id": "transactions",  # the transaction detail page (issue 13)
    "staged_id": "staged",  # a statement upload waiting for its next step (in memory, not exported)
    "consent_id": "merchant_consents",  # a shop link (ADR 0031; its tokens are not exported)
}
# Path parameters that name public things, never a person's data: a provider ("enablebanking").
_PUBLIC_PARAMS = {"slug", "name"}  # a provider, a chart kind
# A parameter that only picks something inside a person's thing (a chart of B's thread): filled
# with a placeholder, the person-owned id beside it is what is attacked.
_INNER_PARAMS = {"chart_id": "c1"}
_SKIP_PREFIXES = ("/partners/", "/partner-api/", "/audit/", "/.well-known/", "/static", "/docs",
                  "/redoc", "/openapi.json")
_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_NBSP = "\u00a0"
_MIN_REQUESTS = 15  # so the matrix cannot silently shrink to nothing


@pytest.fixture
async def stack(tmp_path: Path, db_url: str) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, db_url, outbound_allow_loopback=True) as s:  # B's webhook
        yield s


def _flat(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, included routers opened (FastAPI keeps them as `_IncludedRouter`)."""
    for route in routes:
        if isinstance(route, _IncludedRouter):
            yield from _flat(route.original_router.routes)
        else:
            yield route


def _skip(path: str) -> bool:
    return not _PARAM.search(path) or path.startswith(_SKIP_PREFIXES)


def _amounts(value: str) -> list[str]:
    whole, cents = value.split(".")
    grouped = f"{int(whole):,}"
    return [value, f"{grouped}.{cents}", f"{grouped.replace(',', '.')},{cents}",
            f"{grouped.replace(',', ' ')},{cents}", f"{grouped.replace(',', _NBSP)},{cents}"]


async def _csrf(http: httpx.AsyncClient, path: str = "/settings") -> str:
    match = _CSRF.search((await http.get(path)).text)
    assert match is not None, path
    return match.group(1)


async def _sign_in(stack: Stack, handle: str) -> httpx.AsyncClient:
    http = stack.client()
    resp = await http.post("/login", data={"csrf": await _csrf(http, "/login"), "handle": handle,
                                           "password": PASSWORD})
    assert resp.status_code == 303, resp.text
    return http


async def _person(stack: Stack, handle: str, name: str, login: str) -> Grant:
    person_id = await messenger.register(stack.deps, handle=handle, display_name=name, password=PASSWORD)
    grant, _ = await _linked(stack, handle, login, grant=Grant.for_person(person_id))
    return grant


async def _export(http: httpx.AsyncClient) -> dict[str, Any]:
    resp = await http.get("/settings/export.json")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _state(export: dict[str, Any]) -> dict[str, Any]:
    """What A must not change: everything of B's export but its time stamp and audit trail."""
    return {k: v for k, v in export.items() if k not in ("exported_at", "audit")}


def _ids(export: dict[str, Any]) -> dict[str, list[str]]:
    ids = {section: [item["id"] for item in export[section]]
           for section in set(_ID_KINDS.values())
           if section not in ("messages", "staged", "merchant_consents")}
    ids["messages"] = [m["id"] for t in export["threads"] for m in t["messages"]]
    return ids


async def test_person_a_cannot_reach_person_b_through_any_route(stack: Stack) -> None:
    started = time.monotonic()
    await _person(stack, "amatrix", "Ada Matrix", "alice")
    b = await _person(stack, B_HANDLE, B_NAME, "bob")
    await stack.bank.purchase("bob", merchant=B_MERCHANT, amount=B_AMOUNT)
    await stack.bank.suspicious_purchase("bob", merchant=B_FRAUD_MERCHANT, amount=B_FRAUD_AMOUNT)
    await stack.container.drain()

    http_b = await _sign_in(stack, B_HANDLE)
    http_a = await _sign_in(stack, "amatrix")
    try:
        token_b = await _csrf(http_b, "/settings/channels")
        resp = await http_b.post("/settings/channels/webhook", data={"csrf": token_b, "url": B_HOOK})
        assert resp.status_code == 200, resp.text[:300]
        # B starts a statement import and leaves it at the CSV preview: its staged id is B's.
        token_b = await _csrf(http_b, "/imports/new")
        staged = await http_b.post("/imports", data={"csrf": token_b}, files={
            "file": ("quokka.csv", b"Date,Description,Amount\n2026-11-02,Quokka Cafe,-4.20\n", "text/csv")})
        assert staged.status_code == 303 and staged.headers["location"].startswith("/imports/"), staged.text
        b_shop_link = await _link_shop(stack, b, login="bob")  # B links the shop (ADR 0031)
        before = await _export(http_b)
        ids = _ids(before)
        ids["staged"] = [staged.headers["location"].removeprefix("/imports/")]
        ids["merchant_consents"] = [b_shop_link]
        for section in ("threads", "links", "accounts", "consent_receipts", "channels", "messages",
                        "fraud_prompts", "transactions"):
            assert ids[section], f"B has no {section}: the matrix would prove nothing"
        [prompt] = before["fraud_prompts"]
        threads_before = await messenger.list_threads(stack.deps, b)

        # B's private values, less anything A legitimately sees of its own (e.g. "Checking").
        export_a = json.dumps(await _export(http_a))
        markers = {B_HANDLE, B_NAME, B_MERCHANT, B_FRAUD_MERCHANT, "quokka-hook",
                   *_amounts(B_AMOUNT), *_amounts(B_FRAUD_AMOUNT),
                   *(a["name"] for a in before["accounts"]),
                   *(f"••{a['last4']}" for a in before["accounts"] if a.get("last4"))}
        markers = {m for m in markers if m and m not in export_a}
        assert {B_NAME, B_AMOUNT, B_FRAUD_AMOUNT, "quokka-hook"} <= markers, markers

        token_a = await _csrf(http_a)
        # Ids a POST form may carry as well as the path: B's prompt, B's account, B's thread.
        form = {"csrf": token_a, "message_id": prompt["message_id"], "reply_id": "no",
                "account_id": ids["accounts"][0], "thread_id": ids["threads"][0],
                "rule_id": (ids["alert_rules"] or ["rul_none"])[0], "text": "hello", "seq": "1",
                "password": PASSWORD}
        failures: list[str] = []
        routes = requests = 0
        statuses: Counter[int] = Counter()

        def judge(what: str, resp: httpx.Response) -> None:
            status = resp.status_code
            statuses[status] += 1
            seen = resp.text + " " + " ".join(f"{k}: {v}" for k, v in resp.headers.items())
            leaked = sorted(m for m in markers if m in seen)
            if leaked:
                failures.append(f"{what}: {status} shows B's {leaked}")
            if status >= 500:
                failures.append(f"{what}: {status}")
            elif 300 <= status < 400:
                if not resp.headers.get("location", "").startswith("/login"):
                    failures.append(f"{what}: {status} -> {resp.headers.get('location')}")
            elif status < 400:
                failures.append(f"{what}: {status} (acts on or shows B's data)")

        websockets = 0
        for route in _flat(list(stack.app.routes)):
            path: str = getattr(route, "path", "")
            if isinstance(route, WebSocketRoute):  # FastAPI's APIWebSocketRoute is one
                websockets += 1
                requests += await _websocket(stack, http_a, path, ids["threads"], markers, failures)
                routes += 1
                continue
            if _skip(path):
                continue
            for inner, placeholder in _INNER_PARAMS.items():
                path = path.replace("{" + inner + "}", placeholder)
            names = [n for n in _PARAM.findall(path) if n not in _PUBLIC_PARAMS]
            if not names and _PARAM.search(path):  # only public names in it: no one's data
                continue
            unknown = [n for n in names if n not in _ID_KINDS]
            assert not unknown, f"{path}: teach the matrix the id kind(s) {unknown}"
            assert len(set(names)) == 1, f"{path}: teach the matrix routes with several ids"
            [name] = set(names)
            routes += 1
            for value in ids[_ID_KINDS[name]]:
                url = _PARAM.sub(value, path)
                for method in sorted(getattr(route, "methods", None) or {"GET"}):
                    if method == "HEAD":
                        continue
                    if method == "GET":
                        resp = await http_a.get(url)
                    else:
                        resp = await http_a.request(method, url, data=form)
                    requests += 1
                    judge(f"{method} {url}", resp)
        assert websockets == 1, "the live socket is not in the route table any more"

        after = await _export(http_b)
        threads_after = await messenger.list_threads(stack.deps, b)
        assert _state(after) == _state(before), "A's requests changed B's data"
        assert threads_after == threads_before, "A's requests changed B's threads (read state?)"
        async with stack.deps.uow() as uow:
            b_shop = await uow.merchant_consents.get(ids["merchant_consents"][0])
        assert b_shop is not None and b_shop.status == "active", "A's requests ended B's shop link"
        assert not failures, "\n".join(failures)
        assert requests >= _MIN_REQUESTS, (routes, requests)
        report_figure(f"cross-person matrix: {routes} routes, {requests} requests, leaks 0, "
              f"answers {dict(sorted(statuses.items()))}, {time.monotonic() - started:.1f}s")
    finally:
        await http_a.aclose()
        await http_b.aclose()


async def _websocket(stack: Stack, http_a: httpx.AsyncClient, path: str, b_threads: list[str],
                     markers: set[str], failures: list[str]) -> int:
    """A's own socket: resume every B thread from rev 0, then mark one of them read. Returns the
    number of frames A sent."""
    url = stack.platform_url.replace("http://", "ws://") + path
    cookie = f"ll_session={http_a.cookies['ll_session']}"
    sent = 0
    async with connect(url, additional_headers={"Cookie": cookie, "Origin": stack.platform_url},
                       open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "resume", "threads": dict.fromkeys(b_threads, 0), "all": True}))
        sent += 1
        frames: list[str] = []
        try:
            while True:
                frame = await asyncio.wait_for(ws.recv(), 5)
                assert isinstance(frame, str)
                frames.append(frame)
                if json.loads(frame)["type"] == "ready":
                    break
            for thread_id in b_threads:
                await ws.send(json.dumps({"type": "read", "thread_id": thread_id, "seq": 1}))
                sent += 1
                frame = await asyncio.wait_for(ws.recv(), 5)
                assert isinstance(frame, str)
                frames.append(frame)
                answer = json.loads(frame)
                if answer.get("type") != "error":
                    failures.append(f"WS read {thread_id}: {frame[:200]}")
        except ConnectionClosed as closed:
            failures.append(f"WS closed: {closed}")
        for frame in frames:
            data = json.loads(frame)
            if data.get("type") != "error" and any(t in frame for t in b_threads):
                failures.append(f"WS frame about B's thread: {frame[:200]}")
            leaked = sorted(m for m in markers if m in frame)
            if leaked:
                failures.append(f"WS frame shows B's {leaked}: {frame[:200]}")
    return sent
