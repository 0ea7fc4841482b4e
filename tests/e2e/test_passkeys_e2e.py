"""Passkeys and an authenticator app in real Chromium (issue 14, ADR 0021).

Chromium's virtual authenticator (CDP `WebAuthn.addVirtualAuthenticator`: CTAP2, internal,
resident keys, user verification) stands in for the person's device; the page's own script
(`static/passkeys.js`) talks to it through `navigator.credentials`. WebAuthn refuses IP-address
RP IDs, so this platform's public URL is http://localhost:PORT (a secure context for Chromium).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Page, expect
from tests.conftest import Stack, fast_hasher
from tests.e2e.flows import PASSWORD

from ledgerlink.bootstrap import bootstrap
from ledgerlink.config import Settings
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.entrypoints.app import create_app
from ledgerlink.sandbox.testing import bind_loopback, serve


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 26, 9, 0, 3, tzinfo=UTC))


@pytest.fixture
async def stack(tmp_path: Path, db_url: str, clock: FrozenClock) -> AsyncIterator[Stack]:
    """The platform at http://localhost:PORT (the sandbox bank beside it, unused here)."""
    platform_sock, ip_url = bind_loopback()
    bank_sock, bank_url = bind_loopback()
    public_url = ip_url.replace("127.0.0.1", "localhost")
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, public_url=public_url,
                        sandbox_url=bank_url, embedded_sandbox=True, sync_interval_seconds=0,
                        sync_min_interval_seconds=0, audit_sign_interval_seconds=0,
                        retention_interval_seconds=0, consent_check_interval_seconds=0,
                        digest_interval_seconds=0, prompt_check_interval_seconds=0)
    container = await bootstrap(settings, hasher=fast_hasher(), clock=clock)
    app = create_app(container)
    async with contextlib.AsyncExitStack() as servers:
        await servers.enter_async_context(serve(container.sandbox_app, bank_sock))
        await servers.enter_async_context(serve(app, platform_sock))
        yield Stack(container=container, app=app, platform_url=public_url, bank_url=bank_url)


async def virtual_authenticator(page: Page) -> None:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True}})


async def sign_out(page: Page, stack: Stack) -> None:
    """Sign out, and wait for its redirect to /login to land: a navigation started before it
    lands is interrupted by it (Chromium: "interrupted by another navigation")."""
    await page.get_by_test_id("logout").click()
    await expect(page).to_have_url(f"{stack.platform_url}/login")


async def sign_in_password(page: Page, stack: Stack) -> None:
    await page.goto(f"{stack.platform_url}/login")
    await page.get_by_test_id("login-handle").fill("pat")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page).to_have_url(f"{stack.platform_url}/login/second-step")


async def test_a_passkey_signs_in_and_confirms_an_export_and_an_app_works_too(
        page: Page, stack: Stack, clock: FrozenClock) -> None:
    base = stack.platform_url
    await virtual_authenticator(page)

    # Sign up: "Protect your account" offers a passkey; the virtual authenticator makes one.
    await page.goto(f"{base}/register")
    await page.get_by_test_id("register-handle").fill("pat")
    await page.get_by_test_id("register-password").fill(PASSWORD)
    await page.get_by_test_id("register-password-confirm").fill(PASSWORD)
    await page.get_by_test_id("register-submit").click()
    await expect(page).to_have_url(f"{base}/protect")
    await page.get_by_test_id("passkey-name").fill("This computer")
    await page.get_by_test_id("add-passkey").click()
    await expect(page.get_by_test_id("recovery-codes")).to_be_visible()
    await expect(page.locator('[data-testid="recovery-codes"] li')).to_have_count(10)
    await page.get_by_test_id("codes-saved").click()
    await expect(page.get_by_test_id("thread-link-Ledgerlink")).to_be_visible()

    # Sign out; the password alone is not enough; the passkey is the second step.
    await sign_out(page, stack)
    await sign_in_password(page, stack)
    await page.goto(f"{base}/settings")
    await expect(page).to_have_url(f"{base}/login/second-step")  # nothing between the steps
    await page.get_by_test_id("use-passkey").click()
    await expect(page.get_by_test_id("thread-link-Ledgerlink")).to_be_visible()

    # Six minutes later the export needs the passkey again, not the password.
    clock.advance(timedelta(minutes=6))
    await page.goto(f"{base}/settings#export")
    form = page.get_by_test_id("export-confirm-form")
    await expect(form.get_by_test_id("use-passkey")).to_be_visible()
    await expect(form.locator('input[type="password"]')).to_have_count(0)
    await form.get_by_test_id("use-passkey").click()
    await expect(page.get_by_test_id("export-json")).to_be_visible()
    async with page.expect_download() as info:
        await page.get_by_test_id("export-json").click()
    exported = json.loads((await (await info.value).path()).read_text(encoding="utf-8"))
    assert exported["person"]["handle"] == "pat"

    # An authenticator app as well, through its page: the key shown, a code from it.
    await page.goto(f"{base}/settings/security")
    await expect(page.get_by_test_id("passkey-list")).to_contain_text("This computer")
    await page.get_by_test_id("setup-totp").click()
    await expect(page.locator("svg.qr")).to_be_visible()
    secret = re.sub(r"\s", "", await page.get_by_test_id("totp-secret").inner_text())
    app = pyotp.TOTP(secret)
    await page.get_by_test_id("totp-code").fill(app.at(clock.now()))
    await page.get_by_test_id("totp-confirm").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("authenticator app is on")
    await expect(page.get_by_test_id("totp-on")).to_be_visible()

    # Sign in with the password and a code from the app.
    await page.goto(f"{base}/")
    await sign_out(page, stack)
    await sign_in_password(page, stack)
    clock.advance(timedelta(seconds=30))
    await page.get_by_test_id("factor-code").fill(app.at(clock.now()))
    await page.get_by_test_id("second-step-submit").click()
    await expect(page.get_by_test_id("thread-link-Ledgerlink")).to_be_visible()
