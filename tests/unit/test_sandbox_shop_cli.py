"""`ledgerlink sandbox-merchant` (issue 11): the sandbox shop in its own process. It pays through
the sandbox bank over HTTP with the bank's admin token from the shared data dir, and signs its
events with the secret the platform reads from there too."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from tests.conftest import free_port

from ledgerlink.bootstrap import SandboxCredentials, build_sandbox_app
from ledgerlink.bootstrap.sandbox import SHOP_SECRETS_FILE, build_standalone_shop_app, shop_webhook_secret
from ledgerlink.config import Settings
from ledgerlink.domain.clock import FrozenClock

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_the_command_serves_the_storefront_in_its_own_process(tmp_path: Path) -> None:
    port = free_port()
    ledgerlink = Path(sys.executable).with_name("ledgerlink")
    proc = subprocess.Popen(  # noqa: ASYNC220 - a real process, stopped by its PID below
        [
            str(ledgerlink),
            "sandbox-merchant",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--bank-url",
            "http://127.0.0.1:9",
            "--no-simulate",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        page = None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2.0) as http:
            for _ in range(150):  # 30 s at most for the process to listen
                try:
                    page = await http.get("/shop")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
                    await asyncio.sleep(0.2)
        assert page is not None and page.status_code == 200 and "Acme Outfitters" in page.text
        secrets_file = tmp_path / SHOP_SECRETS_FILE
        assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
        assert shop_webhook_secret(tmp_path, "acme").startswith("whsec_")  # the platform reads the same one
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_a_standalone_shop_charges_the_card_at_the_bank_over_http(tmp_path: Path) -> None:
    clock = FrozenClock(START)
    settings = Settings(data_dir=tmp_path, public_url="http://127.0.0.1:9", sandbox_simulate=False)
    bank_app = build_sandbox_app(
        settings, SandboxCredentials.load_or_create(tmp_path / "sandbox-client.json"), clock=clock
    )
    bank = bank_app.state.bank
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bank_app), base_url="http://bank"
    ) as to_bank:
        app = build_standalone_shop_app(
            settings, bank_url="http://bank", shop_url="http://shop", clock=clock, http=to_bank
        )
        shop = app.state.shop
        shop.config.events_url = None  # no platform here: the events are kept in `sent`
        card = next(
            c for c in bank.cards_of("alice") if bank.ledger.accounts[c.account_id].type == "credit_card"
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shop"
        ) as browser:
            signin = await browser.get("/shop/signin")
            await browser.post(
                "/shop/signin", data={"customer": "alice", "password": "sandbox", "csrf": _csrf(signin.text)}
            )
            csrf = _csrf((await browser.get("/shop")).text)
            await browser.post("/shop/cart", data={"csrf": csrf, "sku": "BOTTLE-1", "quantity": "2"})
            form = {
                "csrf": csrf,
                "processor": "direct",
                "parcels": "2",
                "currency": "USD",
                "card_number": card.pan,
                "card_expiry": card.expiry,
                "card_cvc": card.cvc,
            }
            wrong = await browser.post("/shop/checkout", data={**form, "card_expiry": "01/20"})
            assert wrong.status_code == 402 and "The expiry date does not match the card." in wrong.text
            assert card.pan not in wrong.text
            done = await browser.post("/shop/checkout", data=form)
            assert done.status_code == 303, done.text
        order = next(iter(shop.orders.values()))
        charges = [bank.ledger.txn(t) for t in order.parcels]
        assert [c.account_id for c in charges] == [card.account_id] * 2  # split: charged per parcel
        assert sum(-c.amount for c in charges) == order.total == Decimal("48.17")
        for _ in range(2):
            await shop.advance(order.order_ref)  # picked up: captured at the bank
        assert all(bank.ledger.txn(t).status == "posted" for t in order.parcels)
