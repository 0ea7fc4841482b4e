"""Helpers for tests and demos: serve the sandbox on a real 127.0.0.1 port, and play the
customer's browser through login and consent."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urljoin

import httpx
import uvicorn


def bind_loopback() -> tuple[socket.socket, str]:
    """A listening socket on a free 127.0.0.1 port, and its base URL (known before the app)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this on Linux: no 40 ms Nagle/delayed-ACK stalls.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def serve(app: Any, sock: socket.socket) -> AsyncIterator[uvicorn.Server]:
    """Run `app` with uvicorn (lifespan on) on `sock` until the block exits."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        await task
        sock.close()


DEMO_PASSWORD = "sandbox"  # the published password of the demo customers
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_ACCOUNT = re.compile(r'name="account_id" value="([^"]+)"')
_ACTION = re.compile(r'<form method="post" action="(/oauth/authorize\?[^"]*)"')


async def browser_consent(http: httpx.AsyncClient, authorize_url: str, *, login: str,
                          password: str = DEMO_PASSWORD, accounts: Sequence[str] | None = None,
                          decision: str = "approve") -> httpx.Response:
    """Open the authorize URL, sign in, tick `accounts` (all if None) and decide. Returns the
    bank's final response: normally a 302 to the client's redirect URI (not followed)."""
    page = await http.get(authorize_url)
    if page.status_code != 200 or 'action="/login"' not in page.text:
        return page
    next_path = re.search(r'name="next" value="([^"]+)"', page.text)
    assert next_path is not None
    login_resp = await http.post(urljoin(authorize_url, "/login"), data={
        "login": login, "password": password, "next": _unescape(next_path.group(1))})
    if login_resp.status_code != 303:
        return login_resp
    page = await http.get(urljoin(authorize_url, login_resp.headers["location"]))
    csrf, action = _CSRF.search(page.text), _ACTION.search(page.text)
    if page.status_code != 200 or csrf is None or action is None:
        return page
    chosen = list(accounts) if accounts is not None else _ACCOUNT.findall(page.text)
    form: dict[str, str | list[str]] = {"csrf": csrf.group(1), "decision": decision,
                                        "account_id": chosen}
    return await http.post(urljoin(authorize_url, _unescape(action.group(1))), data=form)


def _unescape(text: str) -> str:
    return (text.replace("&amp;", "&").replace("&#34;", '"').replace("&#39;", "'")
            .replace("&lt;", "<").replace("&gt;", ">"))
