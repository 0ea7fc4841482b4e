"""A link gives its person a signed consent receipt they can download and anyone can verify."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from tests.conftest import Stack
from typer.testing import CliRunner

from ledgerlink.adapters.crypto.jws import verify_receipt
from ledgerlink.bootstrap import SANDBOX_PARTNER_ID
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.cli import app as cli
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.linking import links
from ledgerlink.services.messaging import messenger

PASSWORD = "correct horse"
runner = CliRunner()


async def _linked(stack: Stack, handle: str = "pat") -> tuple[Grant, str]:
    person_id = await messenger.register(stack.deps, handle=handle, display_name="Pat", password=PASSWORD)
    grant = Grant.for_person(person_id)
    url = await links.start_link(stack.deps, grant, partner_id=SANDBOX_PARTNER_ID)
    async with httpx.AsyncClient(timeout=10.0) as browser:
        resp = await browser_consent(browser, url, login="alice")
    query = parse_qs(urlparse(resp.headers["location"]).query)
    thread_id = await links.complete_link(stack.deps, grant, state=query["state"][0], code=query["code"][0])
    await stack.container.drain()
    return grant, thread_id


async def _receipt_href(stack: Stack, grant: Grant, thread_id: str) -> str:
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    (card,) = [m for m in messages if m.kind is CardKind.TEXT and "consent receipt" in m.body["text"]]
    assert "never used for advertising, profiling or scoring you, or selling your data" in card.body["text"]
    assert "balances, transactions" not in card.body["text"]
    hrefs = [a["href"] for a in card.body["actions"]]
    assert hrefs[0].startswith("/receipts/rcp_") and hrefs[1] == f"{hrefs[0]}.jws"
    return hrefs[0]


async def _login(http: httpx.AsyncClient, handle: str) -> None:
    page = await http.get("/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    signed = await http.post("/login", data={"csrf": token, "handle": handle, "password": PASSWORD})
    assert signed.status_code == 303, signed.text


async def _download(stack: Stack, handle: str, href: str) -> httpx.Response:
    async with stack.client() as http:
        await _login(http, handle)
        return await http.get(f"{href}.jws")


async def test_linking_posts_a_receipt_the_owner_downloads_and_the_jwks_verifies(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    href = await _receipt_href(stack, grant, thread_id)

    resp = await _download(stack, "pat", href)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/jose"
    async with stack.client() as http:
        jwks = (await http.get("/.well-known/jwks.json")).json()
        anonymous = await http.get(f"{href}.jws")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"

    claims = verify_receipt(resp.text, jwks, now=stack.deps.clock.now())
    assert claims["sub"] == grant.person_id
    assert claims["jti"] == href.rsplit("/", 1)[1]
    assert claims["uses_prohibited"] == ["advertising", "profiling", "sale"]
    assert "advertising" not in claims["purposes_allowed"]
    assert claims["iss"] == stack.platform_url.rstrip("/")
    accounts = stack.bank.accounts_of("alice")
    assert len(claims["accounts"]) == len(accounts)
    assert all(len(a["last4"]) == 4 for a in claims["accounts"])


async def test_the_receipt_page_shows_the_claims_in_plain_words_to_its_owner_only(stack: Stack) -> None:
    _grant, thread_id = await _linked(stack)
    href = await _receipt_href(stack, _grant, thread_id)
    async with stack.client() as http:
        await _login(http, "pat")
        page = await http.get(href)
    assert page.status_code == 200
    assert "signature checked" in page.text
    assert "advertising, profiling, sale" in page.text

    await messenger.register(stack.deps, handle="sam", display_name="Sam", password=PASSWORD)
    async with stack.client() as http:
        await _login(http, "sam")
        assert (await http.get(href)).status_code == 404
        assert (await http.get(f"{href}.jws")).status_code == 404
        assert (await http.get("/receipts/rcp_nope.jws")).status_code == 404


async def test_the_cli_verifies_the_downloaded_receipt_offline(stack: Stack, tmp_path: Path) -> None:
    grant, thread_id = await _linked(stack)
    href = await _receipt_href(stack, grant, thread_id)
    receipt = tmp_path / "receipt.jws"
    receipt.write_text((await _download(stack, "pat", href)).text)
    jwks = tmp_path / "jwks.json"
    async with stack.client() as http:
        jwks.write_text((await http.get("/.well-known/jwks.json")).text)

    ok = runner.invoke(
        cli, ["receipt", "verify", str(receipt), "--jwks", str(jwks), "--person", grant.person_id]
    )
    assert ok.exit_code == 0, ok.output
    assert "Valid" in ok.output
    assert "advertising, profiling, sale" in ok.output
    assert "Sandbox" in ok.output

    header, payload, signature = receipt.read_text().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["purposes_allowed"].append("advertising")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = tmp_path / "tampered.jws"
    tampered.write_text(f"{header}.{forged}.{signature}")
    bad = runner.invoke(cli, ["receipt", "verify", str(tampered), "--jwks", str(jwks)])
    assert bad.exit_code == 1
    assert "receipt_bad_signature" in bad.output
    assert "Traceback" not in bad.output

    other = runner.invoke(cli, ["receipt", "verify", str(receipt), "--jwks", str(jwks), "--person", "other"])
    assert other.exit_code == 1
    assert "belongs to someone else" in other.output

    garbage = tmp_path / "garbage.jws"
    garbage.write_text("this is not a receipt")
    unreadable = runner.invoke(cli, ["receipt", "verify", str(garbage), "--jwks", str(jwks)])
    assert unreadable.exit_code == 2
    assert "receipt_malformed" in unreadable.output
    missing = runner.invoke(cli, ["receipt", "verify", str(tmp_path / "nope.jws"), "--jwks", str(jwks)])
    assert missing.exit_code == 2
    assert "unreadable_receipt" in missing.output


async def test_without_jwks_the_cli_fetches_the_issuers_published_keys(stack: Stack, tmp_path: Path) -> None:
    grant, thread_id = await _linked(stack)
    href = await _receipt_href(stack, grant, thread_id)
    receipt = tmp_path / "receipt.jws"
    receipt.write_text((await _download(stack, "pat", href)).text)
    # In a thread: the CLI's blocking HTTP call must not stall the loop serving the platform.
    result = await asyncio.to_thread(runner.invoke, cli, ["receipt", "verify", str(receipt)])
    assert result.exit_code == 0, result.output
    assert f"{stack.platform_url.rstrip('/')}/.well-known/jwks.json" in result.output


async def test_the_receipt_page_reads_like_a_consent_screen_with_ids_only_in_technical_details(
    stack: Stack,
) -> None:
    grant, thread_id = await _linked(stack)
    href = await _receipt_href(stack, grant, thread_id)
    async with stack.client() as http:
        await _login(http, "pat")
        page = (await http.get(href)).text
        jws = (await http.get(f"{href}.jws")).text
    before, technical = page.split('data-testid="receipt-technical"', 1)
    for account in stack.bank.accounts_of("alice"):
        assert f"Sandbox Bank {account.name} <span class=\"muted\">••{account.number[-4:]}</span>" in before
        assert account.number not in page
    assert "Your transactions, pending and posted" in before and "to answer a question you asked" in before
    assert "Selling your data" in before and "Valid until" in before
    visible = re.sub(r"<[^>]+>", " ", before)  # ids and codes only in the technical details
    for code in ("rcp_", "lnk_", grant.person_id, "deliver_update", "answer_question", "ptn_"):
        assert code not in visible, code
    assert href.rsplit("/", 1)[1] in technical and "deliver_update" in technical

    # The verify button posts the receipt to the public verification page, which checks it.
    async with stack.client() as anyone:
        ok = await anyone.post("/receipts/verify", data={"jws": jws})
        assert ok.status_code == 200 and "Genuine" in ok.text and 'data-valid="true"' in ok.text
        header, payload, signature = jws.split(".")
        forged = await anyone.post("/receipts/verify", data={"jws": f"{header}.{payload}x.{signature}"})
        assert 'data-valid="false"' in forged.text and "Traceback" not in forged.text
        empty = await anyone.post("/receipts/verify", data={"jws": "  "})
        assert empty.status_code == 422 and "Paste the receipt" in empty.text
