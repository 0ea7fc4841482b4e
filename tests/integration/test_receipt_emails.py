"""Receipt emails (issue 11): a schema.org order email sent over real SMTP to the person's
forwarding address matches the bank's charge; other addresses are refused at RCPT; mail
without markup is kept with "couldn't read this receipt"."""

from __future__ import annotations

import asyncio
import smtplib
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.conftest import running_stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.db import schema
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger

FIXTURES = Path(__file__).parents[1] / "fixtures" / "receipt_mail"


def _mail(to: str, html: str | None, text: str = "Thanks for your order.") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "orders@shop.example", to, "Your order"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg.as_bytes(policy=policy.SMTP)  # CRLF line ends, as an MTA sends: smtplib sends bytes as given


def _send(port: int, to: str, raw: bytes) -> Any:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        return smtp.sendmail("orders@shop.example", [to], raw)


async def _texts(stack: Any, grant: Grant) -> list[str]:
    """The text cards of every thread of the person."""
    async with stack.deps.uow() as uow:
        threads = [t.id for t in await uow.threads.for_person(grant.person_id)]
    out = []
    for thread_id in threads:
        messages = await messenger.thread_messages(stack.deps, grant, thread_id)
        out += [str(m.body.get("text", "")) for m in messages if m.kind is CardKind.TEXT]
    return out


async def _orders(stack: Any) -> int:
    async with stack.container.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(schema.shop_orders))).scalar_one())


async def _person(stack: Any, handle: str) -> Grant:
    person_id = await messenger.register(stack.deps, handle=handle, display_name=handle.title(),
                                         password="correct horse")
    return Grant.for_person(person_id)


async def test_an_order_email_over_smtp_matches_the_charge(tmp_path: Path, db_url: str) -> None:
    async with running_stack(tmp_path, db_url, receipt_mail_port=0) as stack:
        grant, thread_id = await _linked(stack)
        acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
        pending = await stack.bank.purchase("alice", account_id=acc.account_id, merchant="Acme Outfitters",
                                            amount="53.96")
        await stack.bank.post(pending)
        await stack.container.drain()
        mail = stack.container.receipt_mail
        address = await mail.address(grant)
        assert address == await mail.address(grant) and address.startswith("r-")
        port = stack.container.mail_listener.port
        now = datetime.now(UTC).isoformat()
        html = (FIXTURES / "order_jsonld.html").read_text().replace("ORDER_DATE", now).replace(
            "LAST4", acc.mask)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            await asyncio.to_thread(_send, port, "r-0123456789abcdef0123456789abcdef@receipts.localhost",
                                    _mail("x", html))
        assert "550" in str(refused.value.recipients)
        await asyncio.to_thread(_send, port, address, _mail(address, html))
        await stack.container.drain()
        msgs = await messenger.thread_messages(stack.deps, grant, thread_id)
        card = next(m for m in msgs if m.kind is CardKind.TRANSACTION and m.body["amount"] == "-53.96")
        assert card.body["merchant"] == "Acme Outfitters"
        assert [i["name"] for i in card.body["receipt"]["items"]] == ["Trail socks", "Rain hat"]

        await asyncio.to_thread(_send, port, address, _mail(address, None, "Your order shipped!"))
        texts = await _texts(stack, grant)
        assert any(t.startswith("Couldn't read this receipt: it has no order markup") for t in texts)
        async with stack.deps.uow() as uow:
            order = await uow.shop_receipts.order("email", "EM-1001")
        assert order is not None and order.person_id == grant.person_id and order.match_state == "matched"


async def test_someone_elses_order_a_bad_total_and_a_huge_mail_are_refused_storing_nothing(
        tmp_path: Path, db_url: str) -> None:
    small = {"receipt_mail_port": 0, "receipt_mail_max_bytes": 64 * 1024}
    async with running_stack(tmp_path, db_url, **small) as stack:
        mail, port = stack.container.receipt_mail, stack.container.mail_listener.port
        sam, kim = await _person(stack, "sam"), await _person(stack, "kim")
        sam_at, kim_at = await mail.address(sam), await mail.address(kim)
        assert sam_at != kim_at
        html = (FIXTURES / "order_microdata.html").read_text()
        await asyncio.to_thread(_send, port, sam_at, _mail(sam_at, html))
        assert await _orders(stack) == 1
        kim_texts = await _texts(stack, kim)

        with pytest.raises(smtplib.SMTPDataError) as theirs:  # Sam's order number, sent to Kim's address
            await asyncio.to_thread(_send, port, kim_at, _mail(kim_at, html))
        assert theirs.value.smtp_code == 550 and b"unknown_order" in theirs.value.smtp_error
        total = 'itemprop="price" content="29.99"/>\n  <div'  # the order's, not its offer's
        bad_total = html.replace(total, total.replace("29.99", "9.99")).replace("EM-2002", "EM-3003")
        assert "9.99" in bad_total and "29.99" in bad_total  # the offer still says 29.99
        with pytest.raises(smtplib.SMTPDataError) as wrong:
            await asyncio.to_thread(_send, port, kim_at, _mail(kim_at, bad_total))
        assert wrong.value.smtp_code == 554 and b"receipt_does_not_add_up" in wrong.value.smtp_error
        assert b"more than the total 9.99" in wrong.value.smtp_error
        with pytest.raises(smtplib.SMTPSenderRefused) as huge:  # over the SIZE the listener announced
            await asyncio.to_thread(_send, port, kim_at, _mail(kim_at, html, "x" * 100_000))
        assert huge.value.smtp_code == 552
        assert await _orders(stack) == 1 and await _texts(stack, kim) == kim_texts
        async with stack.deps.uow() as uow:
            kept = await uow.shop_receipts.order("email", "EM-2002")
            assert kept is not None and kept.person_id == sam.person_id
            assert await uow.shop_receipts.order("email", "EM-3003") is None

        broken = '<script type="application/ld+json">{"@type": "Order", "orderNumber": </script>'
        await asyncio.to_thread(_send, port, kim_at, _mail(kim_at, broken))
        assert await _orders(stack) == 2  # kept, sealed, as unreadable
        said = [t for t in await _texts(stack, kim) if t not in kim_texts]
        assert len(said) == 1
        assert said[0].startswith("Couldn't read this receipt: the receipt markup is broken")
