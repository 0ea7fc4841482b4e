"""A purchase's receipt on the email and outbound webhook channels (issue 11), over real SMTP and
HTTP on 127.0.0.1: the email of the purchase shows the items in an escaped HTML part and in its
text part; the person's webhook gets the receipt section in the signed JSON."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP
from standardwebhooks import Webhook
from tests.conftest import running_stack
from tests.integration.test_channels import Mailbox, Receiver, _until
from tests.integration.test_linking_flow import _linked
from tests.integration.test_shop_receipts import _checkout

from ledgerlink.sandbox.testing import bind_loopback, serve
from ledgerlink.services.messaging import channels


def _mails(mailbox: Mailbox) -> list[EmailMessage]:
    out = []
    for envelope in mailbox.mails:
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        out.append(parsed)
    return out


def _with_receipt(mailbox: Mailbox) -> list[EmailMessage]:
    return [m for m in _mails(mailbox) if m.get_body(("html",)) is not None]


async def test_the_purchase_email_and_webhook_carry_the_receipt(tmp_path: Path, db_url: str) -> None:
    mailbox = Mailbox()
    smtp_sock, _ = bind_loopback()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(mailbox), sock=smtp_sock)
    hook_sock, hook_url = bind_loopback()
    receiver = Receiver()
    try:
        async with serve(receiver, hook_sock), running_stack(
                tmp_path, db_url, smtp_host="127.0.0.1", smtp_port=smtp_sock.getsockname()[1],
                smtp_sender="bank@ledgerlink.test", outbound_allow_loopback=True) as stack:
            grant, _ = await _linked(stack)
            await channels.add_email(stack.deps, grant, address="pat@example.test", enabled=True)
            _, secret = await channels.add_webhook(stack.deps, grant, url=hook_url + "/hook")
            await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
            order, acc = await _checkout(stack)

            def hooked() -> list[dict[str, Any]]:
                sent = [Webhook(secret).verify(body, headers) for headers, body in receiver.calls]
                return [p["data"]["receipt"] for p in sent if "receipt" in p["data"]]

            await _until(lambda: bool(_with_receipt(mailbox)) and bool(hooked()), stack, seconds=20)
    finally:
        server.close()
        await server.wait_closed()
    mail = _with_receipt(mailbox)[-1]
    text_part, html_part = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert f"order {order.order_ref}" in text and "2× Trail socks" in text
    assert f"order <code>{order.order_ref}</code>" in html
    assert "<li>2 × Trail socks — " in html and "<li>1 × Canvas cap — " in html
    assert f"<strong>Total {order.total} USD</strong>" in html

    receipt = hooked()[-1]
    assert receipt["order_number"] == order.order_ref and receipt["shop"] == "Acme Outfitters"
    assert [(i["name"], i["quantity"]) for i in receipt["items"]] == [("Trail socks", 2), ("Canvas cap", 1)]
    assert receipt["total"] == str(order.total) and receipt["payment_method"] == f"Card ••{acc.mask}"
