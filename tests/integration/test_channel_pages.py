"""The channels settings page: add a webhook (secret shown once), bad input, remove, 404s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Stack, running_stack

PASSWORD = "another long passphrase"


@pytest.fixture
async def stack(tmp_path: Path, db_url: str) -> AsyncIterator[Stack]:
    """The operator's test-only loopback switch is on (http://127.0.0.1 endpoints), which
    still leaves private and link-local addresses refused (ADR 0018)."""
    async with running_stack(tmp_path, db_url, outbound_allow_loopback=True) as s:
        yield s


def _csrf(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


async def _signed_in(stack: Stack, http: httpx.AsyncClient, handle: str) -> str:
    page = await http.get("/register")
    await http.post(
        "/register",
        data={
            "csrf": _csrf(page.text),
            "handle": handle,
            "display_name": handle,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    return _csrf((await http.get("/settings/channels")).text)


async def test_adding_a_webhook_shows_its_secret_once_and_bad_input_is_explained(stack: Stack) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.app), base_url=stack.platform_url
    ) as http:
        token = await _signed_in(stack, http, "wen")
        bad = await http.post("/settings/channels/webhook", data={"csrf": token, "url": "ftp://example"})
        assert bad.status_code == 400
        assert "Traceback" not in bad.text and "ftp://example" in bad.text
        added = await http.post(
            "/settings/channels/webhook", data={"csrf": token, "url": "http://127.0.0.1:9/hook"}
        )
        assert added.status_code == 200
        assert "whsec_" in added.text
        again = await http.get("/settings/channels")
        assert "whsec_" not in again.text  # shown once
        assert "127.0.0.1:9" in again.text
        for url in ("https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/hook"):
            refused = await http.post("/settings/channels/webhook", data={"csrf": token, "url": url})
            assert refused.status_code == 400 and "whsec_" not in refused.text
            assert "public internet addresses" in refused.text
        forged = await http.post(
            "/settings/channels/webhook", data={"csrf": "forged", "url": "http://127.0.0.1:9/x"}
        )
        assert forged.status_code == 400
        missing = await http.post("/settings/channels/chn_nope/remove", data={"csrf": token})
        assert missing.status_code == 404


async def test_signed_out_visitors_are_sent_to_login(stack: Stack) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.app), base_url=stack.platform_url
    ) as http:
        resp = await http.get("/settings/channels")
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
