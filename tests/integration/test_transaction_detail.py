"""A transaction's detail and the search across threads (issue 13), over real HTTP against the
real database (SQLite and PostgreSQL) and the sandbox bank."""

from __future__ import annotations

import re

import httpx
from tests.conftest import Stack
from tests.integration.test_charts import _person, _shop
from tests.integration.test_web_messenger import csrf

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access


async def _txn_ids(stack: Stack, grant: Grant, merchant: str) -> list[str]:
    today = stack.deps.clock.now().date()
    async with stack.deps.uow() as uow:
        ids = [a.id for a in await uow.accounts.for_person(grant.person_id)]
        txns = await access.read_transactions_between(
            stack.deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, account_ids=ids,
            start=today.replace(year=today.year - 1), end=today, at=stack.deps.clock.now())
        await uow.commit()
    ordered = sorted(txns, key=lambda t: t.created_at)
    return [t.id for t in ordered if (t.merchant or t.descriptor) == merchant]


def _text(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', html)
    assert found is not None, f"no {testid} on the page"
    return found.group(1).strip()


async def test_a_transaction_opens_with_its_category_reason_bank_and_pending_to_posted_history(
        stack: Stack) -> None:
    async with stack.client() as client:
        grant, thread_id = await _person(stack, client, "pat")
        # Safeway: a grocer the seeded history (weekly Whole Foods or Trader Joe's) never has
        pending = await stack.bank.purchase("alice", merchant="Safeway", amount="41.20")
        await stack.container.drain()
        await stack.bank.post(pending, final_amount="43.70")
        await stack.container.drain()
        (txn_id,) = await _txn_ids(stack, grant, "Safeway")

        thread = await client.get(f"/threads/{thread_id}")
        assert f'href="/transactions/{txn_id}?thread={thread_id}"' in thread.text  # the card opens it

        page = await client.get(f"/transactions/{txn_id}?thread={thread_id}")
        assert page.status_code == 200, page.text
        assert _text(page.text, "detail-merchant") == "Safeway"
        assert _text(page.text, "detail-category") == "Groceries"
        assert _text(page.text, "detail-reason").startswith("Groceries: ")
        assert _text(page.text, "detail-bank") == "Sandbox Bank"
        assert "••" in _text(page.text, "detail-account")
        assert _text(page.text, "detail-amount") == "\u2212$43.70"
        steps = re.findall(r'<span class="step-label">([^<]+)</span>', page.text)
        assert steps == ["Pending", "Posted", "Amount changed from $41.20 to $43.70"]
        assert f'href="/threads/{thread_id}"' in page.text  # back to the thread it came from
        assert 'include "_receipt_section.html"' not in page.text

        token = await csrf(client, f"/transactions/{txn_id}")
        saved = await client.post(f"/transactions/{txn_id}/note",
                                  data={"csrf": token, "note": "Dinner party"})
        assert saved.status_code == 303
        again = await client.get(saved.headers["location"])
        assert "Dinner party" in again.text and "Note saved." in again.text
        too_long = await client.post(f"/transactions/{txn_id}/note", data={"csrf": token, "note": "x" * 501})
        assert too_long.status_code == 422
        assert "at most 500 characters; this one has 501" in too_long.text
        assert "Dinner party" in (await client.get(f"/transactions/{txn_id}")).text  # nothing half-written

    async with stack.client() as other:
        await _person(stack, other, "sam")
        assert (await other.get(f"/transactions/{txn_id}")).status_code == 404
        token = await csrf(other, "/")
        stolen = await other.post(f"/transactions/{txn_id}/note", data={"csrf": token, "note": "mine now"})
        assert stolen.status_code == 404
        assert (await other.get("/transactions/txn_nope")).status_code == 404


async def test_changing_a_category_in_place_moves_past_purchases_and_new_ones_follow(stack: Stack) -> None:
    async with stack.client() as client:
        grant, thread_id = await _person(stack, client, "pat")
        await _shop(stack, "alice", ("Chipotle", "11.40"), ("Chipotle", "12.85"), ("Starbucks", "4.75"))
        chipotle = await _txn_ids(stack, grant, "Chipotle")  # the two, and any the link brought
        first, second = chipotle[-2:]
        before = await client.get(f"/transactions/{first}")
        assert _text(before.text, "detail-category") == "Fast food"
        assert "MCC 5814" in _text(before.text, "detail-reason")

        token = await csrf(client, f"/transactions/{first}")
        bad = await client.post(f"/transactions/{first}/category",
                                data={"csrf": token, "category": "Treasure"})
        assert bad.status_code == 422 and "is not a category you can choose" in bad.text
        moved = await client.post(f"/transactions/{first}/category",
                                  data={"csrf": token, "category": "Restaurants", "thread": thread_id})
        assert moved.status_code == 303
        shown = await client.get(moved.headers["location"])
        assert f"{len(chipotle)} past purchases moved" in shown.text
        assert _text(shown.text, "detail-category") == "Restaurants"
        assert _text(shown.text, "detail-reason").startswith("Restaurants: you said so on ")

        other = await client.get(f"/transactions/{second}")  # the merchant's other purchase followed
        assert _text(other.text, "detail-category") == "Restaurants"
        await _shop(stack, "alice", ("Chipotle", "9.99"))  # and a new one
        found = await client.get("/search", params={"merchant": "chipotle", "category": "Restaurants"})
        assert found.status_code == 200
        assert found.text.count('data-testid="search-result"') == len(chipotle) + 1
        thread = await client.get(f"/threads/{thread_id}")
        assert "Fast food" not in re.sub(r"<option[^>]*>[^<]*</option>", "", thread.text)


async def test_search_filters_across_threads_and_names_every_bad_field_at_once(stack: Stack) -> None:
    async with stack.client() as client:
        await _person(stack, client, "pat")
        await _shop(stack, "alice", ("Spotify", "11.99"), ("Safeway", "63.10"),
                    ("Safeway", "8.20"))
        hits = await client.get("/search", params={"merchant": "safeway", "min": "10", "max": "$100"})
        assert hits.status_code == 200
        amounts = re.findall(r'data-testid="result-amount">([^<]+)<', hits.text)
        assert amounts == ["\u2212$63.10"]
        subscriptions = await client.get("/search", params={"category": "Subscriptions"})
        names = re.findall(r'data-testid="result-merchant">([^<]+)<', subscriptions.text)
        assert names[0] == "Spotify" and "Safeway" not in names  # newest first

        bad = await client.get("/search", params={"min": "ten", "max": "5", "category": "Treasure",
                                                  "from": "2026-13-40", "account": "acc_x"})
        assert bad.status_code == 422
        for name in ("min", "category", "from"):
            assert f'data-testid="error-{name}"' in bad.text, name
        assert "&#34;ten&#34; is not an amount" in bad.text and "Nothing was searched" in bad.text
        assert 'data-testid="search-result"' not in bad.text
        backwards = await client.get("/search", params={"min": "50", "max": "5", "from": "2026-02-01",
                                                        "to": "2026-01-01"})
        assert backwards.status_code == 422
        assert 'data-testid="error-max"' in backwards.text and 'data-testid="error-to"' in backwards.text
        foreign = await client.get("/search", params={"account": "acc_not_mine"})
        assert foreign.status_code == 422 and "not one of yours" in foreign.text
    async with httpx.AsyncClient(base_url=stack.platform_url) as anonymous:
        assert (await anonymous.get("/search")).status_code == 303
