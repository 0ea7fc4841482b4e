"""Receipts in the person's JSON export (issue 11): orders with their line items, totals, match
and parcel, an email kept unread as it came, and a followed parcel with its carrier steps, all
valid against docs/export-schema.json (the project's subset check and a full JSON Schema
2020-12 validator)."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import httpx
import jsonschema  # type: ignore[import-untyped]  # (matrix-nio brings it; no stubs)
import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_person_rights import SCHEMA, _validate
from tests.integration.test_receipt_questions import PASTED, SHIPPED, order_mail
from tests.integration.test_receipt_upload import _plain_mail
from tests.integration.test_shop_receipts import _checkout, _shop

from ledgerlink.adapters.carrier_http import HttpCarrierClient
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox.merchant.carrier import CarrierConfig, create_carrier_app
from ledgerlink.services.privacy import rights
from ledgerlink.services.questions import commands
from ledgerlink.services.receipts import parcels


async def test_the_export_holds_receipts_line_items_parcels_and_their_events_per_the_schema(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    await stack.bank.post(await stack.bank.purchase("alice", account_id=acc.account_id,
                                                    merchant="Acme Outfitters", amount="53.96"))
    await stack.container.drain()
    mail = stack.container.receipt_mail
    await mail.deliver(grant.person_id, order_mail(acc.mask, stack.deps.clock.now()))
    unread = _plain_mail("Your parcel is on its way.")
    await mail.deliver(grant.person_id, unread)
    clock = FrozenClock(datetime(2024, 3, 4, 9, 0, tzinfo=UTC))
    app = create_carrier_app(CarrierConfig(clock=clock, step=timedelta(hours=8)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        stack.deps.carrier = HttpCarrierClient(client, "http://carrier.test")
        try:
            await commands.handle_text(stack.deps, grant, thread_id, f"track {PASTED}")
            clock.advance(timedelta(hours=16))
            assert await parcels.poll(stack.deps) == 1
        finally:
            stack.deps.carrier = None

    data = await rights.export_person(stack.deps, grant)
    _validate(data, SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)

    read, kept = sorted(data["shop_orders"], key=lambda o: o["state"])
    assert (read["state"], read["source"], read["order_ref"]) == ("matched", "email", "EM-1001")
    assert read["transaction_id"] in {t["id"] for t in data["transactions"] if t["amount"] == "-53.96"}
    receipt = read["receipt"]
    assert receipt["line_items"] == [
        {"name": "Trail socks", "quantity": 2, "unit_price": "12.00", "total": "24.00"},
        {"name": "Rain hat", "quantity": 1, "unit_price": "19.99", "total": "19.99"}]
    assert (receipt["subtotal"], receipt["shipping"], receipt["total"]) == ("43.99", "5.99", "53.96")
    assert receipt["card_last4"] == acc.mask and receipt["shop"] == "Acme Outfitters"
    assert receipt["parcel"] == {"carrier": "USPS", "tracking_number": SHIPPED, "status": None, "eta": None,
                                 "events": []}
    assert read["match_explanation"].startswith("matched: same amount") and read["unreadable"] is None
    assert kept["state"] == "unreadable" and kept["receipt"] is None
    assert base64.b64decode(kept["unreadable"]["email_base64"]) == unread
    assert kept["unreadable"]["reason"].startswith("it has no order markup")

    [parcel] = data["parcels"]
    assert (parcel["carrier"], parcel["tracking_number"], parcel["thread_id"]) == ("ups", PASTED, thread_id)
    assert parcel["status"] == "in_transit" and parcel["active"] is True and parcel["eta"]
    assert [e["status"] for e in parcel["events"]] == ["label_created", "picked_up", "in_transit"]

    broken = {**data, "parcels": [{**parcel, "events": [{"status": "in_transit"}]}]}
    with pytest.raises(jsonschema.ValidationError, match="'at' is a required property"):
        jsonschema.Draft202012Validator(SCHEMA).validate(broken)  # the schema does hold parcels to it


async def test_a_shop_orders_parcel_events_and_refund_are_exported_per_the_schema(stack: Stack) -> None:
    grant, _thread_id = await _linked(stack)
    await stack.container.receipts.link_merchant(grant.person_id, slug="acme", customer_ref="alice")
    order, acc = await _checkout(stack)
    for _ in range(100):  # the shop's signed order.placed comes over HTTP on its own schedule
        async with stack.deps.uow() as uow:
            held = await uow.shop_receipts.order("acme", order.order_ref)
        if held is not None and held.match_state == "matched":
            break
        await asyncio.sleep(0.1)
        await stack.container.drain()
    for _ in range(3):  # label created, picked up, in transit
        await _shop(stack).advance(order.order_ref)
    await stack.container.drain()

    data = await rights.export_person(stack.deps, grant)
    _validate(data, SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    [exported] = data["shop_orders"]
    assert (exported["source"], exported["state"]) == ("acme", "matched")
    assert exported["order_ref"] == order.order_ref
    receipt = exported["receipt"]
    assert [i["name"] for i in receipt["line_items"]] == ["Trail socks", "Canvas cap"]
    assert receipt["total"] == str(order.total) and receipt["card_last4"] == acc.mask
    parcel = receipt["parcel"]
    assert [e["status"] for e in parcel["events"]] == ["label_created", "picked_up", "in_transit"]
    assert parcel["status"] == "in_transit" and parcel["tracking_number"] and parcel["carrier"]
