"""The web messenger's pages through the ASGI app: sign-in, threads, cards, link and unlink."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urlparse

import httpx
import pytest
from tests.conftest import Stack

from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.web.rendering import render_message
from ledgerlink.sandbox.testing import browser_consent
from ledgerlink.services.messaging import messenger
from ledgerlink.services.messaging.ports import MessageView

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app),
                                 base_url=stack.platform_url) as c:
        yield c


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    match = _CSRF.search(page.text)
    assert match is not None, page.text
    return match.group(1)


async def sign_up(client: httpx.AsyncClient, handle: str) -> httpx.Response:
    token = await csrf(client, "/register")
    return await client.post("/register", data={
        "csrf": token, "handle": handle, "display_name": handle.title(), "password": PASSWORD,
        "password_confirm": PASSWORD})


async def person_id(stack: Stack, handle: str) -> str:
    return await messenger.authenticate(stack.deps, handle=handle, password=PASSWORD)


async def link_sandbox_bank(stack: Stack, client: httpx.AsyncClient) -> str:
    """Through the pages and the bank's consent screens; returns the bank thread's path."""
    page = await client.get("/link")
    assert 'data-testid="bank-sandbox-bank"' in page.text
    partner_id = re.search(r'name="partner_id" value="([^"]+)"', page.text)
    assert partner_id is not None
    started = await client.post("/link", data={"csrf": _CSRF.search(page.text).group(1),  # type: ignore[union-attr]
                                               "partner_id": partner_id.group(1)})
    assert started.status_code == 303
    assert started.headers["location"].startswith(stack.bank_url + "/oauth/authorize?")
    async with httpx.AsyncClient(timeout=10.0) as bank_browser:
        consent = await browser_consent(bank_browser, started.headers["location"], login="alice")
    callback = urlparse(consent.headers["location"])
    assert callback.path == "/link/callback"
    done = await client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 303
    await stack.container.drain()
    return done.headers["location"]


def messages_in(html: str) -> list[dict[str, str]]:
    out = []
    for tag in re.findall(r'<div class="msg [^>]*>', html):
        attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', tag))
        out.append(attrs)
    return out


# --------------------------------------------------------------------------- accounts


async def test_signing_up_opens_the_messenger_with_the_system_thread_first(
        stack: Stack, client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).headers["location"] == "/login"
    resp = await sign_up(client, "pat")
    # First "Protect your account" (a passkey, an app, or later: ADR 0021), then the messenger.
    assert resp.status_code == 303 and resp.headers["location"] == "/protect"
    home = await client.get("/")
    assert home.status_code == 200
    assert 'data-testid="thread-link-Ledgerlink"' in home.text
    assert "Welcome to ledgerlink" in home.text
    [welcome] = messages_in(home.text)
    assert welcome["data-seq"] == "1" and welcome["data-rev"] == "1"
    assert 'href="/link"' in home.text  # the welcome card's action button
    assert 'data-testid="composer"' in home.text


async def test_login_errors_are_inline_and_do_not_say_which_part_was_wrong(
        stack: Stack, client: httpx.AsyncClient) -> None:
    await sign_up(client, "pat")
    token = await csrf(client, "/")
    assert (await client.post("/logout", data={"csrf": token})).headers["location"] == "/login"
    token = await csrf(client, "/login")
    bad = await client.post("/login", data={"csrf": token, "handle": "pat", "password": "nope-nope"})
    assert bad.status_code == 401
    assert "do not match" in bad.text and 'value="pat"' in bad.text
    unknown = await client.post("/login", data={"csrf": token, "handle": "nobody",
                                                "password": PASSWORD})
    assert unknown.status_code == 401 and "do not match" in unknown.text
    good = await client.post("/login", data={"csrf": token, "handle": "Pat", "password": PASSWORD})
    assert good.status_code == 303 and good.headers["location"] == "/"
    assert (await client.get("/")).status_code == 200


@pytest.mark.parametrize(("handle", "password", "confirm", "field", "words", "status"), [
    ("x", PASSWORD, PASSWORD, "handle", "2 to 32 characters", 422),
    ("pat2", "short", "short", "password", "at least 12 characters", 422),
    ("pat3", PASSWORD, PASSWORD + "!", "password_confirm", "not the same", 422),
])
async def test_registration_errors_point_at_the_field(
        client: httpx.AsyncClient, handle: str, password: str, confirm: str, field: str,
        words: str, status: int) -> None:
    token = await csrf(client, "/register")
    resp = await client.post("/register", data={"csrf": token, "handle": handle, "display_name": "",
                                                "password": password, "password_confirm": confirm})
    assert resp.status_code == status
    assert f'data-testid="error-{field}"' in resp.text and words in resp.text
    assert password not in resp.text  # a password is never echoed back


async def test_a_taken_handle_is_refused(client: httpx.AsyncClient) -> None:
    await sign_up(client, "pat")
    client.cookies.clear()
    resp = await sign_up(client, "pat")
    assert resp.status_code == 409 and "That handle is taken" in resp.text


async def test_a_form_without_the_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/register")
    resp = await client.post("/register", data={"handle": "pat", "password": PASSWORD,
                                                "password_confirm": PASSWORD})
    assert resp.status_code == 400 and "expired" in resp.text
    await sign_up(client, "pat")
    assert (await client.post("/logout", data={"csrf": "forged"})).status_code == 400
    assert (await client.get("/")).status_code == 200  # still signed in


# --------------------------------------------------------------------------- threads


async def test_someone_elses_thread_is_a_404_page(stack: Stack, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    alice = await person_id(stack, "alice")
    [alice_thread] = await messenger.list_threads(stack.deps, Grant.for_person(alice))
    client.cookies.clear()
    await sign_up(client, "bob")
    for path in (f"/threads/{alice_thread.id}", "/threads/thr_does_not_exist"):
        resp = await client.get(path)
        assert resp.status_code == 404
        assert 'data-testid="error-page"' in resp.text
        assert "Welcome to ledgerlink" not in resp.text and "Traceback" not in resp.text


async def test_a_notice_is_a_friendly_banner_and_unknown_codes_are_not_echoed(
        client: httpx.AsyncClient) -> None:
    await sign_up(client, "pat")
    resp = await client.get("/?notice=consent_denied")
    assert "You declined the consent at your bank" in resp.text
    resp = await client.get("/?notice=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert 'data-testid="notice"' in resp.text
    assert "alert(1)" not in resp.text


async def test_a_forged_link_callback_lands_in_the_system_thread_with_the_explanation(
        stack: Stack, client: httpx.AsyncClient) -> None:
    await sign_up(client, "pat")
    resp = await client.get("/link/callback?state=forged&code=abc")
    assert resp.status_code == 303 and resp.headers["location"] == "/?notice=link_state_unknown"
    await stack.container.drain()
    page = await client.get(resp.headers["location"])
    assert 'data-testid="notice"' in page.text
    assert "did not come from a link you started here" in page.text
    denied = await client.get("/link/callback?state=forged&error=access_denied")
    assert denied.status_code == 303


async def test_choosing_an_unknown_bank_is_an_inline_error(client: httpx.AsyncClient) -> None:
    await sign_up(client, "pat")
    token = await csrf(client, "/link")
    resp = await client.post("/link", data={"csrf": token, "partner_id": "ptn_nope"})
    assert resp.status_code == 400 and "Please choose one of the banks" in resp.text


async def test_linking_shows_balances_transactions_edited_in_place_and_unlink(
        stack: Stack, client: httpx.AsyncClient) -> None:
    await sign_up(client, "pat")
    thread_path = await link_sandbox_bank(stack, client)
    assert thread_path.startswith("/threads/thr_")
    page = await client.get(thread_path)
    cards = messages_in(page.text)
    balances = [c for c in cards if c["data-kind"] == "balance"]
    assert len(balances) == len(stack.bank.accounts_of("alice"))
    assert 'data-testid="balance-current"' in page.text and "••" in page.text
    assert 'data-testid="thread-link-Sandbox Bank"' in page.text
    assert 'data-testid="unlink"' in page.text

    pending_id = await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
    await stack.container.drain()
    page = await client.get(thread_path)
    [txn] = [c for c in messages_in(page.text) if c["data-kind"] == "transaction"]
    assert txn["data-status"] == "pending"
    assert "Blue Bottle Coffee" in page.text and "\u2212$4.50" in page.text
    assert ">Pending<" in page.text

    await stack.bank.post(pending_id, final_amount="5.40")
    await stack.container.drain()
    page = await client.get(thread_path)
    [posted] = [c for c in messages_in(page.text) if c["data-kind"] == "transaction"]
    assert posted["data-message-id"] == txn["data-message-id"]
    assert posted["data-seq"] == txn["data-seq"] and int(posted["data-rev"]) > int(txn["data-rev"])
    assert posted["data-status"] == "posted" and "\u2212$5.40" in page.text

    link_id = re.search(r'action="/links/([^/"]+)/unlink"', page.text)
    assert link_id is not None
    token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    resp = await client.post(f"/links/{link_id.group(1)}/unlink", data={"csrf": token})
    assert resp.status_code == 303 and resp.headers["location"] == thread_path
    page = await client.get(thread_path)
    assert "You unlinked this bank" in unescape(page.text)
    assert 'data-testid="unlink"' not in page.text
    assert re.search(r'thread-link[^"]* inactive"[^>]*data-testid="thread-link-Sandbox Bank"', page.text)
    again = await client.post(f"/links/{link_id.group(1)}/unlink", data={"csrf": token})
    assert again.status_code == 303 and "notice=link_not_active" in again.headers["location"]


async def test_another_persons_link_cannot_be_unlinked(stack: Stack, client: httpx.AsyncClient) -> None:
    await sign_up(client, "pat")
    await link_sandbox_bank(stack, client)
    pat = await person_id(stack, "pat")
    link_id = next(t.link_id for t in await messenger.list_threads(stack.deps, Grant.for_person(pat))
                   if t.link_id)
    client.cookies.clear()
    await sign_up(client, "eve")
    token = await csrf(client, "/")
    resp = await client.post(f"/links/{link_id}/unlink", data={"csrf": token})
    assert resp.status_code == 404
    threads = await messenger.list_threads(stack.deps, Grant.for_person(pat))
    assert all(t.active for t in threads)


# --------------------------------------------------------------------------- cards


def _view(kind: CardKind, body: dict[str, object], *, edited: bool = False) -> MessageView:
    at = datetime(2024, 5, 3, 14, 5, tzinfo=UTC)
    return MessageView(id="msg_1", thread_id="thr_1", seq=3, rev=7, kind=kind, subject_key=None,
                       body=body, created_at=at, edited_at=at if edited else None)


def _txn(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "transaction_id": "txn_1", "account": "Checking ••1234", "status": "pending",
        "amount": "-1234.5", "currency": "EUR", "direction": "out", "merchant": "Café <Zoë>",
        "descriptor": "CAFE ZOE", "category": "Restaurants", "mcc": "5812",
        "booking_date": "2024-05-02", "history": []}
    body.update(changes)
    return body


@pytest.mark.parametrize(("status", "label"), [("pending", "Pending"), ("posted", "Posted"),
                                               ("removed", "Cancelled")])
def test_a_transaction_card_shows_status_amount_and_escapes_text(status: str, label: str) -> None:
    html = render_message(_view(CardKind.TRANSACTION, _txn(status=status)))
    assert f'data-status="{status}"' in html and f">{label}<" in html
    assert "\u2212€1,234.50" in html and "amount-out" in html
    assert "Café &lt;Zoë&gt;" in html and "<Zoë>" not in html
    assert "Restaurants" in html and "Checking ••1234" in html and "May 2, 2024" in html
    assert 'data-testid="message-msg_1"' in html and 'data-seq="3"' in html and 'data-rev="7"' in html


def test_money_in_is_signed_and_green_and_zero_decimal_currencies_have_no_cents() -> None:
    html = render_message(_view(CardKind.TRANSACTION, _txn(amount="2500", currency="JPY",
                                                           direction="in")))
    assert "+¥2,500" in html and "amount-in" in html


def test_a_balance_card_shows_current_and_available() -> None:
    html = render_message(_view(CardKind.BALANCE, {
        "account_id": "acc_1", "account": "Savings ••9876", "account_type": "savings",
        "currency": "USD", "current": "10250.00", "available": "10000.00",
        "as_of": "2024-05-03T14:00:00+00:00"}, edited=True))
    assert "$10,250.00" in html and "$10,000.00" in html and "Savings ••9876" in html
    assert "updated" in html
    empty = render_message(_view(CardKind.BALANCE, {
        "account_id": "acc_1", "account": "Savings ••9876", "account_type": "savings",
        "currency": "USD", "current": None, "available": None, "as_of": None}))
    assert "not available yet" in empty


def test_a_text_card_keeps_only_in_app_action_links() -> None:
    html = render_message(_view(CardKind.TEXT, {"text": "Hi <b>there</b>", "tone": "warning",
                                                "actions": [{"label": "Link a bank", "href": "/link"},
                                                            {"label": "x", "href": "javascript:alert(1)"},
                                                            {"label": "y", "href": "//evil.example"}]}))
    assert 'href="/link"' in html and "javascript:" not in html and "evil.example" not in html
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in html and "tone-warning" in html
    link_status = render_message(_view(CardKind.LINK_STATUS, {"text": "Consent expires soon"}))
    assert "Consent expires soon" in link_status
