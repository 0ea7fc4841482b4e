"""The sandbox shop's parcels move on the simulator's clock (issue 11): label created -> picked
up -> in transit -> (delayed) -> out for delivery -> delivered, or an exception now and then,
chosen by the order number; each step is sent when the clock passes it, pick-up captures the
charge at the bank, and the admin hook still moves a parcel at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from ledgerlink.bootstrap.sandbox import build_shop_app
from ledgerlink.config import Settings
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.sandbox import SandboxConfig
from ledgerlink.sandbox.bank import SandboxBank
from ledgerlink.sandbox.merchant import SandboxShop

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
STEP = timedelta(hours=8)


def _shop() -> tuple[SandboxShop, SandboxBank, FrozenClock]:
    shop, bank, clock, _ = _shop_app()
    return shop, bank, clock


def _shop_app() -> tuple[SandboxShop, SandboxBank, FrozenClock, Any]:
    clock = FrozenClock(START)
    bank = SandboxBank(SandboxConfig(seed=42, simulate=False, clock=clock))
    app = build_shop_app(
        Settings(public_url="http://127.0.0.1:9", sandbox_speed=1.0),
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        bank=bank,
        clock=clock,
    )
    shop: SandboxShop = app.state.shop
    shop.config.events_url = None  # the events are kept in `sent`
    return shop, bank, clock, app


async def _order(shop: SandboxShop, bank: SandboxBank) -> str:
    acc = next(a for a in bank.accounts_of("alice") if a.type == "checking")
    shop.add_to_cart("alice", "CAP-1")
    return (await shop.checkout("alice", account_id=acc.account_id, card_last4=acc.mask)).order_ref


def _kinds(shop: SandboxShop, ref: str) -> list[tuple[str, str]]:
    return [
        (e["type"], e["data"]["shipment"]["events"][-1]["status"])
        for e in shop.sent
        if e["data"]["order_id"] == ref and e["type"] != "order.placed"
    ]


async def test_a_parcel_moves_by_itself_when_the_clock_passes_each_step() -> None:
    shop, bank, clock = _shop()
    ref = await _order(shop, bank)  # ACME-1001: the plain journey
    assert await shop.tick() == 0
    clock.advance(STEP)
    assert await shop.tick() == 1 and _kinds(shop, ref) == [("shipment.updated", "label_created")]
    order = shop.orders[ref]
    assert bank.ledger.txn(order.transaction_id).status == "pending"
    clock.advance(STEP)
    assert await shop.tick() == 1
    assert order.captured and bank.ledger.txn(order.transaction_id).status == "posted"  # pick-up captures
    clock.advance(STEP * 10)
    assert await shop.tick() == 3 and await shop.tick() == 0
    assert _kinds(shop, ref) == [
        ("shipment.updated", "label_created"),
        ("shipment.updated", "picked_up"),
        ("shipment.updated", "in_transit"),
        ("shipment.updated", "out_for_delivery"),
        ("order.delivered", "delivered"),
    ]
    # each step carries its planned time, not the moment the clock was looked at
    assert [at for _, at in order.statuses] == [START + STEP * n for n in range(1, 6)]
    assert [e["data"]["version"] for e in shop.sent] == [1, 2, 3, 4, 5, 6]


async def test_delays_and_exceptions_come_now_and_then_chosen_by_the_order_number() -> None:
    shop, bank, clock = _shop()
    refs = [await _order(shop, bank) for _ in range(7)]  # ACME-1001 .. ACME-1007
    clock.advance(timedelta(days=10))
    await shop.tick()
    journeys = {ref: [s for s, _ in shop.orders[ref].statuses] for ref in refs}
    assert journeys["ACME-1002"] == [
        "label_created",
        "picked_up",
        "in_transit",
        "delayed",
        "out_for_delivery",
        "delivered",
    ]
    assert journeys["ACME-1007"] == ["label_created", "picked_up", "in_transit", "exception"]
    delayed = shop.orders["ACME-1002"].statuses
    assert delayed[4][1] - delayed[3][1] == timedelta(days=1)  # a delay costs a day
    assert _kinds(shop, "ACME-1007")[-1] == ("shipment.updated", "exception")  # never delivered
    again, bank2, clock2 = _shop()
    for _ in range(7):
        await _order(again, bank2)
    clock2.advance(timedelta(days=10))
    await again.tick()
    assert {r: [s for s, _ in again.orders[r].statuses] for r in refs} == journeys  # deterministic


async def test_the_admin_hook_moves_at_once_and_the_clock_goes_on_from_there() -> None:
    shop, bank, clock, app = _shop_app()
    ref = await _order(shop, bank)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop") as http:
        for want in ("label_created", "picked_up"):
            assert (await http.post(f"/admin/orders/{ref}/advance")).json() == {"status": want}
        clock.advance(STEP * 3)  # label and pick-up were planned within it: not sent twice
        await shop.tick()
        assert [s for s, _ in shop.orders[ref].statuses] == ["label_created", "picked_up", "in_transit"]
        for _ in range(2):
            await shop.advance(ref)
        resp = await http.post(f"/admin/orders/{ref}/advance")
    assert resp.status_code == 409 and resp.json()["code"] == "already_delivered"


async def test_the_clock_task_sends_the_steps_without_anyone_asking() -> None:
    shop, bank, clock = _shop()
    shop.config.tick_seconds = 0.01
    ref = await _order(shop, bank)
    task = asyncio.create_task(shop.run_clock())
    try:
        clock.advance(timedelta(days=3))
        for _ in range(1000):  # 10 s at most
            if shop.orders[ref].statuses and shop.orders[ref].statuses[-1][0] == "delivered":
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert _kinds(shop, ref)[-1] == ("order.delivered", "delivered")


async def test_a_return_of_a_split_euro_order_is_refunded_in_dollars_across_both_charges() -> None:
    shop, bank, clock = _shop()
    acc = next(a for a in bank.accounts_of("alice") if a.type == "checking")
    shop.add_to_cart("alice", "TENT-2")
    shop.add_to_cart("alice", "SOCK-2")
    order = await shop.checkout(
        "alice", account_id=acc.account_id, card_last4=acc.mask, parcels=2, currency="EUR"
    )
    assert order.total == Decimal("176.70")  # 149.00 + 9.99 + 12.72 tax + 4.99, in euros
    assert order.charges == [Decimal("116.22"), Decimal("77.48")]  # 193.70 USD at 1.0962, 60 % / 40 %
    clock.advance(timedelta(days=3))
    await shop.tick()
    refunded = await shop.return_items("alice", order.order_ref, {0: 1})  # the tent
    assert refunded == Decimal("160.92")  # 149.00 and its 8 % tax, in euros
    refunds = sorted(
        (t for t in bank.ledger.txns.values() if t.kind == "refund" and t.account_id == acc.account_id),
        key=lambda t: t.amount,
        reverse=True,
    )
    assert [t.amount for t in refunds] == [
        Decimal("116.22"),
        Decimal("60.18"),
    ]  # 176.40 USD: first charge first
    assert order.card_refunded == [Decimal("116.22"), Decimal("60.18")]
    assert shop.sent[-1]["type"] == "refund.issued" and shop.sent[-1]["data"]["refund"] == "160.92"
