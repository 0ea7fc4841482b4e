"""Receipt questions in chat (issue 11): "where is my parcel", "what did I buy at Acme in
<month>" and "show the receipt for the Acme purchase" are answered from the person's own
receipts and parcels, read under answer_question; an unknown shop or no parcel gets a sentence
saying so, and no answer repeats a tracking number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.carrier_http import HttpCarrierClient
from ledgerlink.adapters.db import schema
from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.domain.questions import month_start_before
from ledgerlink.sandbox.merchant.carrier import CarrierConfig, create_carrier_app
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands

FIXTURES = Path(__file__).parents[1] / "fixtures" / "receipt_mail"
PASTED = "1Z5R89390357567127"  # UPS's published example, followed from a paste
SHIPPED = "9400111899223100012345"  # the receipt email's own parcel
PARCEL = ('<script type="application/ld+json">{"@context": "http://schema.org", "@type": "ParcelDelivery", '
          '"carrier": {"@type": "Organization", "name": "USPS"}, "trackingNumber": "' + SHIPPED + '", '
          '"partOfOrder": {"@type": "Order", "orderNumber": "EM-1001"}}</script>')


def order_mail(last4: str, placed: datetime, *, parcel: bool = True) -> bytes:
    html = (FIXTURES / "order_jsonld.html").read_text().replace("ORDER_DATE", placed.isoformat())
    html = html.replace("LAST4", last4).replace("</body>", (PARCEL if parcel else "") + "</body>")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "orders@shop.example", "me@example.org", "Your order"
    msg["Date"] = "Fri, 04 Dec 2026 10:00:00 +0000"
    msg.set_content("Thanks for your order.")
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes(policy=policy.SMTP)


async def ask(stack: Stack, grant: Grant, thread_id: str, text: str) -> dict[str, Any]:
    """The body of the answer card the question got."""
    await commands.handle_text(stack.deps, grant, thread_id, text)
    messages = await messenger.thread_messages(stack.deps, grant, thread_id)
    body = [m.body for m in messages if m.kind is CardKind.TEXT][-1]
    assert body.get("from") != "person"
    return body


async def test_parcels_purchases_and_a_receipt_are_answered_from_the_persons_receipts(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    pending = await stack.bank.purchase("alice", account_id=acc.account_id, merchant="Acme Outfitters",
                                        amount="53.96")
    await stack.bank.post(pending)
    await stack.bank.post(await stack.bank.purchase("alice", account_id=acc.account_id, merchant="IKEA",
                                                    amount="129.00"))  # paid, but no receipt for it
    await stack.container.drain()
    now = stack.deps.clock.now()
    said = await stack.container.receipt_mail.deliver(grant.person_id, order_mail(acc.mask, now))
    assert said.text.startswith("Receipt email read: order EM-1001 from Acme Outfitters: attached")

    month = fmt.month(now.date())
    body = await ask(stack, grant, thread_id, f"What did I buy at Acme in {month.split()[0]}?")
    assert body["text"].startswith(f"At Acme Outfitters in {month}: 1 order, $53.96\n• ")
    assert "order EM-1001: 2× Trail socks $24.00, 1× Rain hat $19.99; total $53.96" in body["text"]
    earlier = fmt.month(month_start_before(now.date(), 1))
    body = await ask(stack, grant, thread_id, f"what did i buy at acme outfitters in {earlier.split()[0]}")
    assert body["text"].startswith(f"You bought nothing at Acme Outfitters in {earlier} that I have")
    body = await ask(stack, grant, thread_id, "what did I buy at IKEA in November")
    assert body["text"].startswith("I have no receipt from IKEA, so I can't tell what you bought there")
    body = await ask(stack, grant, thread_id, "what did I buy at Quokka Books")
    assert body["text"].startswith('I have no receipt from a shop called "quokka books", and you paid')

    body = await ask(stack, grant, thread_id, "show the receipt for the Acme purchase")
    lines = body["text"].split("\n")
    assert lines[0] == f"Receipt from Acme Outfitters, order EM-1001, {fmt.day(now.date())}:"
    assert lines[1:3] == ["• 2× Trail socks $24.00", "• 1× Rain hat $19.99"]
    assert "total $53.96" in lines[3] and "shipping $5.99" in lines[3]
    assert lines[4] == "Parcel: USPS 94••••••••••••••••2345, not shipped yet"
    async with stack.deps.uow() as uow:
        order = await uow.shop_receipts.order("email", "EM-1001")
    assert order is not None and order.transaction_id is not None
    href = f"/transactions/{order.transaction_id}"
    assert body["actions"] == [{"label": "Open the purchase", "href": href}]
    body = await ask(stack, grant, thread_id, "show me the receipt for the IKEA purchase")
    assert body["text"].startswith("I have no receipt for a purchase at IKEA: none of your payments there")
    assert not body["actions"]
    body = await ask(stack, grant, thread_id, "show the receipt for the Quokka Books order")
    assert body["text"] == ('I have no receipt for a purchase at "quokka books", and you paid no shop of '
                            "that name in the last 90 days.")

    body = await ask(stack, grant, thread_id, "where is my parcel?")
    assert body["text"] == ("Your USPS parcel 94••••••••••••••••2345 (order EM-1001 from Acme Outfitters): "
                            "no status from the carrier yet; no delivery date yet.")

    async with stack.container.engine.connect() as conn:
        rows = (await conn.execute(select(schema.audit_log.c.purpose, schema.audit_log.c.action))).all()
    assert ("answer_question", "read_receipt") in {(r.purpose, r.action) for r in rows}


async def test_where_is_my_parcel_lists_followed_parcels_with_status_and_eta_in_the_persons_zone(
        stack: Stack) -> None:
    clock = FrozenClock(datetime(2024, 3, 4, 9, 0, tzinfo=UTC))
    app = create_carrier_app(CarrierConfig(clock=clock, step=timedelta(hours=8)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        stack.deps.carrier = HttpCarrierClient(client, "http://carrier.test")
        try:
            grant, thread_id = await _linked(stack)
            body = await ask(stack, grant, thread_id, "where are my parcels")
            assert body["text"].startswith("You have no parcel on its way that I know of.")
            async with stack.deps.uow() as uow:
                await uow.persons.set_zone(grant.person_id, "Asia/Tokyo")
                await uow.commit()
            await commands.handle_text(stack.deps, grant, thread_id, f"track {PASTED}")
            acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
            await stack.container.receipt_mail.deliver(grant.person_id,
                                                       order_mail(acc.mask, stack.deps.clock.now()))
            clock.advance(timedelta(hours=16))
            status = await stack.deps.carrier.track(PASTED)
            body = await ask(stack, grant, thread_id, "Where is my package?")
        finally:
            stack.deps.carrier = None
    lines = body["text"].split("\n")
    assert lines[0] == "You have 2 parcels on their way:"
    assert status.eta is not None and status.status == "in_transit"
    reached = status.events[-1][1]
    tokyo = reached.astimezone(ZoneInfo("Asia/Tokyo"))  # the person's zone, not UTC
    eta_day = fmt.day(status.eta.astimezone(tokyo.tzinfo).date())
    when = f"{tokyo:%b} {tokyo.day}, {tokyo:%H:%M}"
    assert lines[1] == f"• UPS parcel 1Z••••••••••••7127: In transit, {when}; expected {eta_day}"
    assert lines[2].startswith("• USPS parcel 94••••••••••••••••2345 (order EM-1001 from Acme Outfitters)")
    assert PASTED not in body["text"] and SHIPPED not in body["text"]
