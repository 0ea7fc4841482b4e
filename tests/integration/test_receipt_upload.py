"""A saved order email (.eml) uploaded into a thread over the web app (issue 11): the form on the
thread page posts it with the CSRF token, it matches the bank's charge through the same parser
as the SMTP listener, an email without markup is kept with "couldn't read this receipt", and a
hostile file (too large, another type, broken MIME, someone else's order or thread) gets a
specific error with nothing stored."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage

import httpx
from sqlalchemy import func, select
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_receipt_questions import order_mail

from ledgerlink.adapters.db import schema
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.receipts.upload import MAX_EML_BYTES

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
JSON = {"accept": "application/json"}


def _web(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app), base_url=stack.platform_url)


async def _login(http: httpx.AsyncClient, handle: str) -> None:
    page = await http.get("/login")
    token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    resp = await http.post("/login", data={"csrf": token, "handle": handle, "password": "correct horse"})
    assert resp.status_code == 303, resp.text


async def _stored(stack: Stack) -> tuple[int, int]:
    """Orders and messages held, all people together."""
    async with stack.container.engine.connect() as conn:
        orders = (await conn.execute(select(func.count()).select_from(schema.shop_orders))).scalar_one()
        messages = (await conn.execute(select(func.count()).select_from(schema.messages))).scalar_one()
    return int(orders), int(messages)


def _plain_mail(text: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "orders@shop.example", "me@example.org", "Shipped"
    msg.set_content(text)
    return msg.as_bytes(policy=policy.SMTP)


async def _texts(stack: Stack, grant: Grant, thread_id: str) -> list[str]:
    return [str(m.body.get("text", "")) for m in await messenger.thread_messages(stack.deps, grant, thread_id)
            if m.kind is CardKind.TEXT]


async def test_an_uploaded_order_email_matches_its_charge_and_one_without_markup_is_kept(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    await stack.bank.post(await stack.bank.purchase("alice", account_id=acc.account_id,
                                                    merchant="Acme Outfitters", amount="53.96"))
    await stack.container.drain()
    async with _web(stack) as http:
        await _login(http, "pat")
        page = await http.get(f"/threads/{thread_id}")
        assert page.status_code == 200
        assert f'action="/threads/{thread_id}/receipt-emails" enctype="multipart/form-data"' in page.text
        assert 'data-testid="receipt-upload-file"' in page.text
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        eml = order_mail(acc.mask, stack.deps.clock.now(), parcel=False)
        resp = await http.post(f"/threads/{thread_id}/receipt-emails", data={"csrf": token},
                               files={"file": ("Your order.eml", eml, "message/rfc822")})
        assert resp.status_code == 303 and resp.headers["location"] == f"/threads/{thread_id}"
        cards = await messenger.thread_messages(stack.deps, grant, thread_id)
        charge = next(m for m in cards if m.kind is CardKind.TRANSACTION and m.body["amount"] == "-53.96")
        assert [i["name"] for i in charge.body["receipt"]["items"]] == ["Trail socks", "Rain hat"]
        assert (await _texts(stack, grant, thread_id))[-1] == (
            "Receipt email read: order EM-1001 from Acme Outfitters: attached to its charge.")
        page = await http.get(f"/threads/{thread_id}")
        assert "Trail socks" in page.text  # the receipt on the purchase card, in the page

        before = await _stored(stack)
        resp = await http.post(f"/threads/{thread_id}/receipt-emails", data={"csrf": token}, headers=JSON,
                               files={"file": ("shipped.eml", _plain_mail("It shipped!"), "message/rfc822")})
        assert resp.status_code == 200 and resp.json()["state"] == "unreadable"
        assert resp.json()["text"].startswith("Couldn't read this receipt: it has no order markup")
        assert await _stored(stack) == (before[0] + 1, before[1] + 1)  # kept, sealed; one card says so
        assert (await _texts(stack, grant, thread_id))[-1].startswith("Couldn't read this receipt")


async def test_hostile_uploads_get_a_specific_error_and_store_nothing(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    _other, other_thread = await _linked(stack, "sam", "bob")
    acc = next(a for a in stack.bank.accounts_of("bob") if a.type == "checking")
    async with _web(stack) as sam:
        await _login(sam, "sam")
        page = await sam.get(f"/threads/{other_thread}")
        sam_token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        sams = order_mail(acc.mask, stack.deps.clock.now())
        taken = await sam.post(f"/threads/{other_thread}/receipt-emails", data={"csrf": sam_token},
                               headers=JSON, files={"file": ("o.eml", sams, "")})
        assert taken.status_code == 200, taken.text  # EM-1001 is Sam's now (waiting or matched)
    async with _web(stack) as http:
        await _login(http, "pat")
        page = await http.get(f"/threads/{thread_id}")
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        before = await _stored(stack)

        async def refused(files: dict[str, tuple[str, bytes, str]], *, thread: str = thread_id,
                          csrf: str = token) -> tuple[int, dict[str, str]]:
            resp = await http.post(f"/threads/{thread}/receipt-emails", data={"csrf": csrf}, headers=JSON,
                                   files=files)
            assert await _stored(stack) == before  # nothing stored, not even a card
            return resp.status_code, resp.json()

        eml = _plain_mail("hello")
        assert await refused({"file": ("a.eml", eml, "message/rfc822")}, csrf="forged") == (
            400, {"code": "csrf_failed", "detail": "reload the page"})
        huge = eml + b"x" * (MAX_EML_BYTES + 10)
        status, body = await refused({"file": ("big.eml", huge, "message/rfc822")})
        assert (status, body["code"]) == (413, "file_too_large") and "larger than 5 MB" in body["detail"]
        status, body = await refused({"file": ("receipt.pdf", b"%PDF-1.7\n...", "application/pdf")})
        assert (status, body["code"]) == (422, "not_an_eml")
        assert body["detail"].startswith("receipt.pdf: only an email saved as .eml")
        status, body = await refused({"file": ("receipt.eml", b"%PDF-1.7\n...", "message/rfc822")})
        assert body == {"code": "not_an_eml", "detail": "receipt.eml: this is a PDF, not an email"}
        status, body = await refused({"file": ("notes.eml", b"just some words\nno headers\n", "")})
        assert body["code"] == "not_an_eml" and "does not begin with header lines" in body["detail"]
        cut = (b"From: a@shop.example\r\nContent-Type: multipart/alternative; boundary=XYZ\r\n\r\n--XYZ\r\n"
               b"Content-Type: text/html\r\n\r\n<p>Order EM-9</p>\r\n")
        status, body = await refused({"file": ("cut.eml", cut, "message/rfc822")})
        assert (status, body["code"]) == (422, "broken_mime") and "the message is cut off" in body["detail"]
        no_start = cut.replace(b"--XYZ\r\n", b"")
        status, body = await refused({"file": ("b.eml", no_start, "message/rfc822")})
        assert body["code"] == "broken_mime" and "boundary never appears" in body["detail"]
        status, body = await refused({"file": ("theirs.eml", sams, "")})
        assert (status, body["code"]) == (404, "unknown_order")  # Sam's order number: never whose
        status, body = await refused({"file": ("a.eml", eml, "message/rfc822")}, thread=other_thread)
        assert (status, body["code"]) == (404, "thread_not_found")
        status, body = await refused({})  # a plain form, no file part
        assert (status, body["code"]) == (400, "bad_upload") and "multipart/form-data" in body["detail"]
        status, body = await refused({"file": ("", b"", "application/octet-stream")})  # no file chosen
        assert (status, body["code"]) == (400, "no_file")
        form = await http.post(f"/threads/{thread_id}/receipt-emails", data={"csrf": token},
                               files={"file": ("receipt.pdf", b"%PDF-1.7", "application/pdf")})
        assert form.status_code == 422 and "This receipt email was not taken" in form.text
        assert "only an email saved as .eml" in form.text and await _stored(stack) == before
    assert grant.person_id != _other.person_id
