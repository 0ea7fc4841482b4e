"""Issue 14, defect 7: the live WebSocket and the state-changing forms answer only pages of the
platform's own origin (the configured public URL). Another origin on the same host (another
port) or a sibling site cannot read the live feed or post a form with the person's cookie."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from tests.conftest import Stack
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _signed_up(stack: Stack, http: httpx.AsyncClient) -> str:
    """Sign up as pat; returns the Cookie header for the WebSocket."""
    page = await http.get("/register")
    token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    resp = await http.post("/register", data={"csrf": token, "handle": "pat", "display_name": "",
                                              "password": PASSWORD, "password_confirm": PASSWORD})
    assert resp.status_code == 303
    return f"ll_session={http.cookies['ll_session']}"


def _ws_url(stack: Stack) -> str:
    return stack.platform_url.replace("http://", "ws://") + "/ws"


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:1",  # another port on the same host
    "http://evil.example",
    "https://{host}",  # the same host, another scheme
    "null",
])
async def test_the_live_feed_refuses_another_origin_before_the_handshake(stack: Stack, origin: str) -> None:
    async with stack.client() as http:
        cookie = await _signed_up(stack, http)
    origin = origin.format(host=stack.platform_url.removeprefix("http://"))
    with pytest.raises(InvalidStatus) as refused:
        await _open(_ws_url(stack), {"Cookie": cookie, "Origin": origin})
    assert refused.value.response.status_code == 403


async def _open(url: str, headers: dict[str, str]) -> None:
    async with connect(url, additional_headers=headers, open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "resume", "threads": {}}))
        await asyncio.wait_for(ws.recv(), 5)


async def test_the_live_feed_answers_its_own_origin(stack: Stack) -> None:
    async with stack.client() as http:
        cookie = await _signed_up(stack, http)
    headers = {"Cookie": cookie, "Origin": stack.platform_url}
    async with connect(_ws_url(stack), additional_headers=headers, open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "resume", "threads": {}}))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
    assert frames[-1]["type"] in ("ready", "thread")


@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:1"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain or another port of the same site
])
async def test_a_form_posted_from_another_origin_is_refused_even_with_the_token(
        stack: Stack, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app),
                                 base_url=stack.platform_url) as http:
        await _signed_up(stack, http)
        token = _CSRF.search((await http.get("/settings")).text).group(1)  # type: ignore[union-attr]
        resp = await http.post("/settings/disclosure", data={"csrf": token, "level": "minimal"},
                               headers=headers)
        assert resp.status_code == 400 and "another site" in resp.text
        resp = await http.post("/logout", data={"csrf": token}, headers=headers)
        assert resp.status_code == 400
        assert (await http.get("/settings")).status_code == 200  # still signed in
        same = await http.post("/settings/disclosure", data={"csrf": token, "level": "minimal"},
                               headers={"Origin": stack.platform_url, "Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 303
