"""`/search?q=...`: the plain search words a person or a link sends (issue 13), over real HTTP
against the real database (SQLite and PostgreSQL) and the sandbox bank."""

from __future__ import annotations

import re

from tests.conftest import Stack
from tests.integration.test_charts import _person, _shop

from ledgerlink.services.insights.search import from_words


def test_a_category_name_is_the_category_and_other_words_a_merchant() -> None:
    assert from_words("  groceries ") == {"category": "Groceries"}
    assert from_words("Hollow   Pine") == {"merchant": "Hollow Pine"}
    assert from_words("   ") == {}


async def test_search_q_finds_the_merchant_and_fills_the_form(stack: Stack) -> None:
    async with stack.client() as client:
        await _person(stack, client, "pat")
        await _shop(stack, "alice", ("Trattoria da Luca", "31.00"), ("Safeway", "63.10"))
        hits = await client.get("/search", params={"q": "trattoria"})
        assert hits.status_code == 200
        names = re.findall(r'data-testid="result-merchant">([^<]+)<', hits.text)
        assert names and set(names) == {"Trattoria da Luca"}
        assert re.search(r'id="merchant" name="merchant" value="trattoria"', hits.text)
        groceries = await client.get("/search", params={"q": "Groceries"})
        grocers = set(re.findall(r'data-testid="result-merchant">([^<]+)<', groceries.text))
        assert "Safeway" in grocers and "Trattoria da Luca" not in grocers
        assert re.search(r'<option value="Groceries" selected>', groceries.text)
        typed = await client.get("/search", params={"q": "trattoria", "merchant": "safeway"})
        assert re.findall(r'data-testid="result-merchant">([^<]+)<', typed.text) == ["Safeway"]
