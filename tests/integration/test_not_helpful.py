""""Not helpful" from an alert card knows every kind of alert, the insights too (issue 13): it
names the alert in words and offers that kind's switch right there."""

from __future__ import annotations

import re

from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_settings_rebuilt import _login, _new

from ledgerlink.domain.insight_rules import INSIGHT_SWITCHES, INSIGHT_WORDS


def _switch(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}" data-state="(on|off)">', html)
    assert found is not None, testid
    return found.group(1)


def test_every_insight_kind_has_words() -> None:
    assert set(INSIGHT_WORDS) == set(INSIGHT_SWITCHES)


async def test_not_helpful_on_a_price_increase_names_it_and_turns_that_kind_off(stack: Stack) -> None:
    await _linked(stack)
    async with _new(stack) as http:
        token = await _login(http)
        page = await http.get("/alerts/feedback", params={"kind": "price_increase"})
        assert page.status_code == 200
        assert "Was this subscription price increase alert not helpful?" in page.text
        assert _switch(page.text, "feedback-toggle") == "on"
        assert 'aria-label="Subscription price increases: on. Turn off"' in page.text
        counted = await http.post("/alerts/feedback", data={"csrf": token, "kind": "price_increase"})
        assert counted.status_code == 303 and counted.headers["location"].endswith("notice=feedback")
        off = await http.post("/settings/alerts", data={"csrf": token, "action": "toggle",
                                                        "kind": "price_increase", "on": "0"})
        assert off.status_code == 303
        again = await http.get("/alerts/feedback", params={"kind": "price_increase"})
        assert _switch(again.text, "feedback-toggle") == "off"
        assert _switch(again.text, "toggle-price_increase") == "off"  # the same switch further down


async def test_not_helpful_on_a_classic_alert_still_works_and_an_unknown_kind_is_said_on_the_page(
        stack: Stack) -> None:
    await _linked(stack)
    async with _new(stack) as http:
        token = await _login(http)
        page = await http.get("/alerts/feedback", params={"kind": "large_purchase"})
        assert "Was this large purchase alert not helpful?" in page.text
        assert 'aria-label="Large purchase alerts: on. Turn off"' in page.text
        refused = await http.post("/alerts/feedback", data={"csrf": token, "kind": "horoscope"})
        assert refused.status_code == 422
        assert 'data-testid="error-feedback"' in refused.text
        assert "&#39;horoscope&#39; is not a kind of alert." in refused.text
