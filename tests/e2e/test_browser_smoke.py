"""Proves the browser plumbing: uvicorn serves a page on 127.0.0.1, Chromium clicks on it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from playwright.async_api import Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ledgerlink smoke</title></head>
<body>
  <button id="go" type="button">Click me</button>
  <p id="out">not clicked</p>
  <script>
    document.getElementById("go").addEventListener("click", () => {
      document.getElementById("out").textContent = "clicked";
    });
  </script>
</body></html>
"""


async def index(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


@pytest.fixture
def server_url() -> Iterator[str]:
    """A minimal Starlette app under uvicorn in a thread, on a free port of 127.0.0.1."""
    app = Starlette(routes=[Route("/", index)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", ws="none", http="h11", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def test_chromium_clicks_a_button(page: Page, server_url: str) -> None:
    await page.goto(server_url)
    await expect(page).to_have_title("ledgerlink smoke")
    await expect(page.locator("#out")).to_have_text("not clicked")
    await page.click("#go")
    await expect(page.locator("#out")).to_have_text("clicked")
