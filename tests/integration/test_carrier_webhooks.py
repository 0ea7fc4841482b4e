"""A carrier pushes tracking updates instead of only being polled (issue 11): with
`carrier_push_seconds` on, the embedded sandbox carrier is subscribed to when a number is
pasted, and its Standard Webhooks signed `tracking.updated` events (over real HTTP, on the
injected clock) edit the parcel's card as a poll would. The endpoint refuses a bad signature
(401), an unknown parcel (404), a malformed event (422, naming the field), and takes a resent
webhook-id once (200 already_received)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_parcel_tracking import NUMBER

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands

START = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
URL = "/partners/carriers/sandbox/events"


async def _shipment(stack: Stack, grant: Grant, thread_id: str) -> dict[str, Any]:
    found = [m.body["shipment"] for m in await messenger.thread_messages(stack.deps, grant, thread_id)
             if "shipment" in m.body]
    assert len(found) == 1  # one card, edited in place
    return dict(found[0])


def _signed(secret: str, body: bytes, at: datetime, msg_id: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
            "content-type": "application/json"}


async def test_pushed_updates_move_the_card_and_bad_events_are_refused_with_nothing_stored(
        tmp_path: Path, db_url: str) -> None:
    clock = FrozenClock(START)
    async with running_stack(tmp_path, db_url, clock=clock, parcel_poll_seconds=0,
                             carrier_push_seconds=3600) as stack:
        carrier = stack.container.carrier_app.state.carrier
        grant, thread_id = await _linked(stack)
        await commands.handle_text(stack.deps, grant, thread_id, f"track {NUMBER}")
        assert (await _shipment(stack, grant, thread_id))["status"] == "label_created"
        [sub] = carrier.subscriptions.values()  # subscribed when the number was pasted
        [(reference, number)] = sub.shipments.items()
        assert reference.startswith("pcl_") and number == NUMBER

        clock.advance(timedelta(hours=16))  # picked up, in transit: pushed, no poll at all
        assert await carrier.pump() == 1
        await stack.container.drain()
        shown = await _shipment(stack, grant, thread_id)
        assert shown["status"] == "in_transit"
        assert [e["status"] for e in shown["timeline"]] == ["label_created", "picked_up", "in_transit"]
        assert sub.sent[-1]["answer"] == 202 and NUMBER not in json.dumps(sub.sent)
        assert await carrier.pump() == 0  # nothing new on the clock: nothing pushed

        # The endpoint itself, as a carrier (or someone pretending to be one) would call it.
        secret = sub.secret
        now = clock.now()
        event = {"type": "tracking.updated", "timestamp": now.isoformat(),
                 "data": {"reference": reference, "carrier": "ups", "status": "delayed", "eta": None,
                          "events": [*shown["timeline"], {"status": "delayed", "at": now.isoformat()}]}}
        body = json.dumps(event).encode()
        async with stack.client() as http:
            forged = await http.post(URL, content=body,
                                     headers=_signed("whsec_" + "QUJD" * 8, body, now, "msg_forged"))
            assert (forged.status_code, forged.json()["code"]) == (401, "bad_signature")
            unsigned = await http.post(URL, content=body, headers={"content-type": "application/json"})
            assert (unsigned.status_code, unsigned.json()["code"]) == (401, "missing_signature_headers")

            other = json.dumps({**event, "data": {**event["data"], "reference": "pcl_0123abcd"}}).encode()
            unknown = await http.post(URL, content=other, headers=_signed(secret, other, now, "msg_unknown"))
            assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_shipment")

            broken = json.dumps({**event, "data": {**event["data"], "events": [
                {"status": "delayed", "at": "yesterday"}]}}).encode()
            bad = await http.post(URL, content=broken, headers=_signed(secret, broken, now, "msg_broken"))
            assert (bad.status_code, bad.json()["code"]) == (422, "malformed_payload")
            assert bad.json()["detail"].startswith("data.events[0].at: ")
            assert (await _shipment(stack, grant, thread_id))["status"] == "in_transit"  # nothing stored

            # The refused ids were not kept: the same id with a good body is taken, then only once.
            good = await http.post(URL, content=body, headers=_signed(secret, body, now, "msg_broken"))
            assert (good.status_code, good.json()["status"]) == (202, "accepted")
            again = await http.post(URL, content=body, headers=_signed(secret, body, now, "msg_broken"))
            assert (again.status_code, again.json()["status"]) == (200, "already_received")
        assert (await _shipment(stack, grant, thread_id))["status"] == "delayed"
        messages = await messenger.thread_messages(stack.deps, grant, thread_id)
        texts = [str(m.body.get("text", "")) for m in messages]
        assert sum("is delayed" in t for t in texts) == 1  # the alert once, though sent twice


async def test_without_pushes_configured_no_carrier_events_are_taken(tmp_path: Path, db_url: str) -> None:
    async with running_stack(tmp_path, db_url, parcel_poll_seconds=0) as stack:
        assert stack.container.carrier_events is None
        async with httpx.AsyncClient(base_url=stack.platform_url) as http:
            resp = await http.post(URL, content=b"{}", headers={"content-type": "application/json"})
        assert (resp.status_code, resp.json()["code"]) == (404, "unknown_partner")
