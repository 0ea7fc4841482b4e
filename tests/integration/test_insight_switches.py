"""Each kind of insight alert has its own switch on the alert settings page (issue 13): its
state is visible, and off means that kind is not sent while the others still are."""

from __future__ import annotations

import re
from typing import Any

import httpx
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_settings_rebuilt import _login, _new

from ledgerlink.domain.insight_rules import INSIGHT_SWITCHES
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.alerts import budgets, forecast, insights
from ledgerlink.services.messaging import messenger


def _state(html: str, kind: str) -> str:
    found = re.search(rf'data-testid="toggle-{kind}" data-state="(on|off)">', html)
    assert found is not None, kind
    return found.group(1)


async def _toggle(http: httpx.AsyncClient, token: str, kind: str, on: bool) -> httpx.Response:
    return await http.post("/settings/alerts", data={"csrf": token, "action": "toggle", "kind": kind,
                                                     "on": "1" if on else "0"})


async def _insight_alerts(stack: Stack, grant: Grant, thread_id: str) -> list[dict[str, Any]]:
    return [m.body for m in await messenger.thread_messages(stack.deps, grant, thread_id)
            if m.body.get("alert") in INSIGHT_SWITCHES]


async def _buy(stack: Stack, merchant: str, amount: str, *, post: str | None = None) -> None:
    txn = await stack.bank.purchase("alice", merchant=merchant, amount=amount)
    await stack.container.drain()
    if post is not None:
        await stack.bank.post(txn, final_amount=post)
        await stack.container.drain()


def test_every_insight_kind_the_services_raise_has_a_switch() -> None:
    kinds = {insights.PRICE, insights.TRIAL, insights.DUPLICATE, insights.TIP, budgets.BUDGET,
             forecast.FORECAST}
    assert set(INSIGHT_SWITCHES) == kinds


async def test_the_page_shows_each_insight_switch_on_and_a_switched_off_one_as_off(stack: Stack) -> None:
    await _linked(stack)
    async with _new(stack) as http:
        token = await _login(http)
        page = await http.get("/settings/alerts")
        assert {k: _state(page.text, k) for k in INSIGHT_SWITCHES} == dict.fromkeys(INSIGHT_SWITCHES, "on")
        assert "Subscription price increases" in page.text and "Forecast low balance" in page.text
        for kind in INSIGHT_SWITCHES:
            done = await _toggle(http, token, kind, on=False)
            assert done.status_code == 303, done.text
        page = await http.get("/settings/alerts")
        assert {k: _state(page.text, k) for k in INSIGHT_SWITCHES} == dict.fromkeys(INSIGHT_SWITCHES, "off")
        assert 'aria-label="Budget warnings: off. Turn on"' in page.text


async def test_a_kind_switched_off_is_not_sent_the_others_are_and_on_again_it_is(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    async with _new(stack) as http:
        token = await _login(http)
        assert (await _toggle(http, token, "duplicate_charge", on=False)).status_code == 303
        await _buy(stack, "Chipotle", "12.40")
        await _buy(stack, "Chipotle", "12.40")  # a duplicate, said nothing about
        await _buy(stack, "Shake Shack", "40.00", post="56.00")  # an unusual tip, still on
        kinds = [a["alert"] for a in await _insight_alerts(stack, grant, thread_id)]
        assert kinds == ["unusual_tip"]
        assert (await _toggle(http, token, "duplicate_charge", on=True)).status_code == 303
        await _buy(stack, "Blue Bottle Coffee", "6.50")
        await _buy(stack, "Blue Bottle Coffee", "6.50")
    kinds = [a["alert"] for a in await _insight_alerts(stack, grant, thread_id)]
    assert kinds == ["unusual_tip", "duplicate_charge"]


async def test_an_unknown_kind_is_refused_on_the_page_and_nothing_changes(stack: Stack) -> None:
    await _linked(stack)
    async with _new(stack) as http:
        token = await _login(http)
        before = (await http.get("/settings/alerts")).text
        refused = await _toggle(http, token, "horoscope", on=False)
        assert refused.status_code == 422
        assert 'data-testid="error-toggle"' in refused.text and "Unknown kind of alert." in refused.text
        assert {k: _state(before, k) for k in INSIGHT_SWITCHES} == {k: _state(refused.text, k)
                                                                   for k in INSIGHT_SWITCHES}
