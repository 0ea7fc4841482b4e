"""Charts, the Spending page, spending answers as cards and the projected balance (issue 13).

Over real HTTP (uvicorn on 127.0.0.1) against the real database (SQLite and PostgreSQL) and
the sandbox bank: the SVG is parsed as XML, checked for anything active or outside, and its
figures are compared with the person's stored transactions read back through `access`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import httpx
from lxml import etree
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_web_messenger import csrf

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.answer_text import categorised
from ledgerlink.domain.banking import BankTransaction, TransactionStatus
from ledgerlink.domain.cards import plain_text
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.events import BalanceChanged
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.recurring import add_months
from ledgerlink.services import access
from ledgerlink.services.alerts import forecast
from ledgerlink.services.messaging import messenger
from ledgerlink.services.questions import commands

SVG = "{http://www.w3.org/2000/svg}"
SECRET_SHOP = "Zanzibar Secret Bakery"


async def _person(stack: Stack, client: httpx.AsyncClient, handle: str) -> tuple[Grant, str]:
    """Registered, linked to the sandbox bank (as its customer alice) and signed in on `client`."""
    grant, thread_id = await _linked(stack, handle)
    token = await csrf(client, "/login")
    signed = await client.post("/login", data={"csrf": token, "handle": handle, "password": "correct horse"})
    assert signed.status_code == 303, signed.text
    return grant, thread_id


async def _shop(stack: Stack, login: str, *buys: tuple[str, str]) -> None:
    for merchant, amount in buys:
        await stack.bank.purchase(login, merchant=merchant, amount=amount)
    await stack.container.drain()


def _svg_checked(resp: httpx.Response) -> etree._Element:
    """Well-formed, served as an image with its own CSP, nothing active and nothing outside."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("image/svg+xml")
    assert "default-src 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    root = etree.fromstring(resp.content, etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{SVG}svg"
    assert "<script" not in resp.text.lower() and "javascript:" not in resp.text.lower()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        assert etree.QName(element).localname not in ("script", "foreignObject", "image", "use")
        for name, value in element.attrib.items():
            assert not etree.QName(name).localname.lower().startswith("on"), name
            if etree.QName(name).localname == "href":
                assert value.startswith("#"), value
    assert root.find(f"{SVG}title") is not None and (root.find(f"{SVG}title").text or "").strip()
    assert root.find(f"{SVG}desc") is not None and (root.find(f"{SVG}desc").text or "").strip()
    return root


async def _stored_by_category(stack: Stack, grant: Grant) -> dict[str, Decimal]:
    """This month's money out per category, read from the store, not from the page."""
    today = stack.deps.clock.now().date()
    async with stack.deps.uow() as uow:
        ids = [a.id for a in await uow.accounts.for_person(grant.person_id)]
        txns = await access.read_transactions_between(
            stack.deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, account_ids=ids,
            start=today.replace(day=1), end=today, at=stack.deps.clock.now(), limit=5000)
        said = await access.read_corrections(stack.deps.vault, uow, grant, Purpose.SHOW_TO_PERSON,
                                             at=stack.deps.clock.now())
        await uow.commit()
    out: dict[str, Decimal] = defaultdict(Decimal)
    for t in txns:
        if t.status is not TransactionStatus.REMOVED and t.amount.is_negative() \
                and t.amount.currency == "USD":
            out[categorised(t, said).category.value] += -t.amount.amount
    return dict(out)


async def test_each_chart_is_safe_svg_with_a_text_alternative(stack: Stack) -> None:
    async with stack.client() as client:
        await _person(stack, client, "pat")
        await _shop(stack, "alice", ("Whole Foods Market", "23.10"), ("Starbucks", "4.75"))
        for name in ("categories", "months", "balance"):
            root = _svg_checked(await client.get(f"/spending/charts/{name}.svg"))
            assert root.get("role") == "img"
        small = _svg_checked(await client.get("/spending/charts/categories.svg?size=small"))
        assert small.get("viewBox") == "0 0 360 200"
        page = await client.get("/spending")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in ("categories", "months", "balance"):
        assert f'data-testid="chart-{name}-summary"' in page.text
        assert f'data-testid="chart-{name}-table"' in page.text
        assert re.search(rf'src="/spending/charts/{name}\.svg\?[^"]*" alt="[^"]+"', page.text)


async def test_the_figures_are_the_stored_transactions(stack: Stack) -> None:
    async with stack.client() as client:
        grant, _ = await _person(stack, client, "pat")
        await _shop(stack, "alice", ("Whole Foods Market", "23.10"), ("Starbucks", "4.75"),
                    ("Starbucks", "5.25"))
        svg = await client.get("/spending/charts/categories.svg")
        page = await client.get("/spending")
    stored = await _stored_by_category(stack, grant)
    assert stored.get("Coffee", Decimal(0)) >= Decimal("10.00")
    labels = [d.text for d in _svg_checked(svg).iter(f"{SVG}desc") if d.get("class") == "label"]
    table = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td class="amount">([^<]+)</td></tr>',
                            page.text.split('data-testid="chart-categories-table"')[1].split("</table>")[0]))
    biggest = sorted(stored.items(), key=lambda kv: (-kv[1], kv[0]))[:7]  # 8 bars at most
    for category, amount in biggest:
        text = fmt.money(Money(amount, "USD"))
        assert table[category.replace("&", "&amp;")] == text
        assert text in labels
    total = fmt.money(Money(sum(stored.values(), Decimal(0)), "USD"))
    assert f'data-testid="spending-total">{total}<' in page.text


async def test_another_persons_data_is_never_in_a_chart(stack: Stack) -> None:
    async with stack.client() as pat, stack.client() as sam:
        await _person(stack, pat, "pat")
        sam_grant, sam_thread = await _person(stack, sam, "sam")
        await _shop(stack, "alice", ("Whole Foods Market", "23.10"))
        # sam's linked bank login is alice too: give sam a shop of their own, stored as theirs only
        async with stack.deps.uow() as uow:
            account = (await uow.accounts.for_person(sam_grant.person_id))[0]
            today = stack.deps.clock.now().date()
            await access.upsert_transaction(stack.deps.vault, uow, sam_grant, account, BankTransaction(
                "sam-secret-1", account.bank_account_id, TransactionStatus.POSTED,
                Money(Decimal("-777.77"), "USD"), today, today, SECRET_SHOP, SECRET_SHOP, "5462"),
                at=stack.deps.clock.now())
            await uow.commit()
        await commands.handle_text(stack.deps, sam_grant, sam_thread, "spending at zanzibar this month")
        sam_msgs = await messenger.thread_messages(stack.deps, sam_grant, sam_thread)
        chart_id = sam_msgs[-1].body["chart"]["id"]
        assert (await sam.get(f"/spending/answers/{sam_thread}/{chart_id}.svg")).status_code == 200
        for path in ("/spending/charts/categories.svg", "/spending/charts/months.svg",
                     "/spending/charts/balance.svg", "/spending?merchant=zanzibar", "/spending"):
            resp = await pat.get(path)
            assert resp.status_code == 200 and SECRET_SHOP not in resp.text and "777.77" not in resp.text
        assert (await pat.get(f"/spending/answers/{sam_thread}/{chart_id}.svg")).status_code == 404
        assert (await pat.get(f"/spending/charts/balance.svg?account={account.id}")).status_code == 404
        assert (await pat.get(f"/spending?account={account.id}")).status_code == 404
        async with httpx.AsyncClient(base_url=stack.platform_url) as nobody:
            assert (await nobody.get("/spending/charts/categories.svg")).status_code == 404
            assert (await nobody.get("/spending")).headers["location"] == "/login"


async def test_a_spending_answer_is_a_card_with_total_chart_and_top_merchants(stack: Stack) -> None:
    async with stack.client() as client:
        grant, thread_id = await _person(stack, client, "pat")
        await _shop(stack, "alice", ("Starbucks", "4.75"), ("Starbucks", "5.25"),
                    ("Blue Bottle Coffee", "6.00"))
        await commands.handle_text(stack.deps, grant, thread_id, "how much on coffee today")
        answer = (await messenger.thread_messages(stack.deps, grant, thread_id))[-1]
        section = answer.body["chart"]
        assert section["total"] == "$16.00" and section["count"] == 3
        assert [m["name"] for m in section["merchants"]] == ["Starbucks", "Blue Bottle Coffee"]
        assert section["merchants"][0]["href"].startswith("/spending?from=")
        # the text every other channel gets says the same, and carries nothing of the section
        assert plain_text(CardKind.TEXT, answer.body) == answer.body["text"]
        assert "$16.00 in 3 purchases" in answer.body["text"]
        thread = await client.get(f"/threads/{thread_id}")
        assert 'data-testid="chart-card"' in thread.text and 'data-testid="chart-merchant"' in thread.text
        root = _svg_checked(await client.get(f"/spending/answers/{thread_id}/{section['id']}.svg"))
        assert "Starbucks" in etree.tostring(root, encoding="unicode")
        filtered = await client.get(section["merchants"][0]["href"])
        assert filtered.status_code == 200
        assert filtered.text.count('data-testid="purchase"') == 2 and "Blue Bottle" not in filtered.text


async def test_bad_input_is_a_clear_422(stack: Stack) -> None:
    async with stack.client() as client:
        await _person(stack, client, "pat")
        for query, words in (("month=2026-13", "YYYY-MM"), ("from=2026-01-01", "both from and to"),
                             ("from=2026-01-01&to=2027-06-01", "at most 366 days"),
                             ("category=Crypto", "no category")):
            page = await client.get(f"/spending?{query}")
            assert page.status_code == 422 and words in page.text and "Traceback" not in page.text
            svg = await client.get(f"/spending/charts/categories.svg?{query}")
            assert svg.status_code == 422 and words in svg.text
        assert (await client.get("/spending/charts/pie.svg")).status_code == 404


async def test_the_projected_low_balance_is_told_once_ahead_of_time(stack: Stack) -> None:
    async with stack.client() as client:
        grant, thread_id = await _person(stack, client, "pat")
    async with stack.deps.uow() as uow:
        views = await access.read_accounts(stack.deps.vault, uow, grant, Purpose.SHOW_TO_PERSON,
                                           at=stack.deps.clock.now())
        view = next(v for v in views if v.type.value == "checking" and v.balance is not None)
        record = await uow.accounts.get(view.id)
        assert record is not None and view.balance is not None
        due = stack.deps.clock.now().date() + timedelta(days=9)
        rent = Money(-(view.balance.current.amount - Decimal("20.00")), "USD")
        for k in range(1, 5):  # four monthly rents, the next one due in nine days
            day = add_months(due, -k)
            await access.upsert_transaction(stack.deps.vault, uow, grant, record, BankTransaction(
                f"rent-{k}", record.bank_account_id, TransactionStatus.POSTED, rent, day, day,
                "Rent Payment", "RENT PAYMENT", None), at=stack.deps.clock.now())
        await uow.commit()
    for _ in range(3):  # balance updates after three syncs: one alert
        await forecast.on_balance_changed(stack.deps, BalanceChanged(person_id=grant.person_id,
                                                                    account_id=view.id))
    await stack.container.drain()
    told = [m for m in await messenger.thread_messages(stack.deps, grant, thread_id)
            if "likely to go below" in str(m.body.get("text", ""))]
    assert len(told) == 1
    assert f"below $50.00 around {fmt.day(due, year=False)}" in told[0].body["text"]
    assert "Rent Payment" in told[0].body["text"] and told[0].body["alert"] == forecast.FORECAST
