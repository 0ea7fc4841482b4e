"""Small holes from the outside test (issue 14, defect 9): renewing a consent is a CSRF-checked
POST, every answer that may carry personal data says `Cache-Control: no-store`, and every 405
names the allowed methods in `Allow`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.linking import consent_expiry
from ledgerlink.services.messaging import messenger

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _login(web: httpx.AsyncClient, handle: str = "pat", password: str = "correct horse") -> str:
    page = await web.get("/login")
    token = _CSRF.search(page.text)
    assert token is not None
    resp = await web.post("/login", data={"csrf": token.group(1), "handle": handle, "password": password})
    assert resp.status_code == 303, resp.text
    return token.group(1)


async def _links(stack: Stack, grant: Grant) -> int:
    async with stack.deps.uow() as uow:
        return len(await uow.links.for_person(grant.person_id))


async def test_renewing_a_consent_is_a_post_with_the_csrf_token(tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as stack:
        grant, thread_id = await _linked(stack)
        link_id = (await messenger.list_threads(stack.deps, grant))[1].link_id
        clock.advance(timedelta(days=84))  # the 7-day warning, with its renew button
        await consent_expiry.check(stack.deps)
        before = await _links(stack, grant)
        async with stack.client() as web:
            await _login(web)
            # The old GET changes nothing any more: it shows the button that renews.
            shown = await web.get(f"/links/{link_id}/renew")
            assert shown.status_code == 200 and 'data-testid="renew-form"' in shown.text
            assert f'action="/links/{link_id}/renew"' in shown.text and 'method="post"' in shown.text
            assert await _links(stack, grant) == before
            # A cross-site POST (no token, or a wrong one) starts nothing.
            for data in ({}, {"csrf": "forged"}):
                refused = await web.post(f"/links/{link_id}/renew", data=data)
                assert refused.status_code == 400 and "location" not in refused.headers
            assert await _links(stack, grant) == before
            # With the page's token: straight to the bank's consent page.
            token = _CSRF.search(shown.text)
            assert token is not None
            started = await web.post(f"/links/{link_id}/renew", data={"csrf": token.group(1)})
            assert started.status_code == 303
            assert "/oauth/authorize?" in started.headers["location"]
            assert await _links(stack, grant) == before + 1
            # Someone else's link, or none: 404 either way.
            assert (await web.get("/links/lnk_nope/renew")).status_code == 404
            assert (await web.post("/links/lnk_nope/renew", data={"csrf": token.group(1)})).status_code == 404
            # The warning card's button is that form, not a link.
            thread = await web.get(f"/threads/{thread_id}")
        assert f'<form class="action-form" method="post" action="/links/{link_id}/renew">' in thread.text
        assert f'href="/links/{link_id}/renew"' not in thread.text


async def test_json_answers_and_personal_pages_are_not_stored_by_caches(stack: Stack) -> None:
    await _linked(stack)
    async with stack.client() as web:
        anonymous = {
            "/audit/entries": await web.get("/audit/entries"),
            "/audit/tree-head": await web.get("/audit/tree-head"),
            "/healthz": await web.get("/healthz"),
            "problem 404": await web.get("/audit/proof/inclusion", params={"index": 99999, "tree_size": 1}),
            "problem 422": await web.get("/audit/entries", params={"start": -1}),
            "bank event fast path": await web.post("/partners/no-such-bank/events", content=b"{}"),
            "redirect": await web.get("/"),
        }
        await _login(web)
        mine = {
            "/audit/entries signed in": await web.get("/audit/entries"),
            "/": await web.get("/"),
            "/settings/export.json": await web.get("/settings/export.json"),
        }
        static = await web.get("/static/messenger.css")
        jwks = await web.get("/.well-known/jwks.json")
    answers = {**anonymous, **mine}
    assert {name: r.headers.get("cache-control") for name, r in answers.items()} == {
        name: "no-store" for name in answers}
    assert "no-store" not in static.headers.get("cache-control", "")
    assert jwks.headers["cache-control"] == "public, max-age=300"  # public keys: cacheable on purpose


async def test_a_405_names_the_allowed_methods(stack: Stack) -> None:
    async with stack.client() as web:
        cases = {
            ("DELETE", "/healthz"): {"GET"},
            ("PUT", "/link"): {"GET", "POST"},  # two routes on one path: both named
            ("DELETE", "/audit/entries"): {"GET"},
            ("GET", "/partners/sandbox-bank/events"): {"POST"},
            ("PATCH", "/links/lnk_x/renew"): {"GET", "POST"},
        }
        for (method, path), expected in cases.items():
            resp = await web.request(method, path)
            assert resp.status_code == 405, (method, path)
            allow = {m.strip() for m in resp.headers.get("allow", "").split(",") if m.strip()}
            assert expected <= allow and method not in allow, (method, path, allow)
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.json()["code"] == "method_not_allowed" and resp.json()["status"] == 405
