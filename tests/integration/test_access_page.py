"""Who accessed my data, grouped: per day and purpose, counted by the database from real audit
rows, with drill-down, filters and paging, unusual reads marked, and a short chat summary."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_web_messenger import PASSWORD, sign_up

from ledgerlink.adapters.db import schema as s
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.messaging import messenger
from ledgerlink.services.privacy import access_summary
from ledgerlink.services.privacy import audit as audit_log
from ledgerlink.services.questions import commands

NOW = datetime(2026, 11, 12, 15, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture
async def stack(tmp_path: Path, db_url: str) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, db_url, clock=FrozenClock(NOW)) as st:
        yield st


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url=stack.platform_url) as c:
        yield c


async def _log(stack: Stack, grant: Grant, purpose: Purpose, n: int, *, days_ago: int,
               action: str = "read_account") -> None:
    """`n` entries as the access functions write them, on the UTC day `days_ago` before today."""
    start = datetime.combine(TODAY - timedelta(days=days_ago), time(9), UTC)
    async with stack.deps.uow() as uow:
        for i in range(n):
            await access.audit(uow, grant, purpose, action=action, subject=f"account:acc_{i}",
                               at=start + timedelta(seconds=i))
        await uow.commit()


async def _pat(stack: Stack, client: httpx.AsyncClient) -> str:
    assert (await sign_up(client, "pat")).status_code == 303
    return await messenger.authenticate(stack.deps, handle="pat", password=PASSWORD)


def _text(page: str) -> str:
    """What a person reads: the page without tags, attributes, form values or the technical details."""
    page = re.sub(r"<(script|style|option)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


_GROUP = r'data-testid="access-group" data-purpose="([a-z_]+)" data-count="(\d+)"'


def _groups(page: str) -> dict[tuple[str, str], int]:
    days = re.split(r'data-testid="access-day" data-day="', page)[1:]
    out = {}
    for chunk in days:
        day = chunk.split('"', 1)[0]
        for purpose, count in re.findall(_GROUP, chunk):
            out[(day, purpose)] = int(count)
    return out


async def _synthetic(stack: Stack, person: str) -> None:
    """Three days: delivery and sync on the first, delivery, questions, an operator and an export today."""
    delivery = Grant.for_component(person, "delivery")
    await _log(stack, delivery, Purpose.DELIVER_UPDATE, 4, days_ago=2)
    await _log(stack, Grant.for_component(person, "sync"), Purpose.SYNC_WITH_BANK, 1, days_ago=2)
    await _log(stack, delivery, Purpose.DELIVER_UPDATE, 6, days_ago=1)
    await _log(stack, delivery, Purpose.DELIVER_UPDATE, 7, days_ago=0)
    you, support = Grant.for_person(person), Grant(person_id=person, actor="operator:ops-7")
    await _log(stack, you, Purpose.ANSWER_QUESTION, 3, days_ago=0, action="read_transactions")
    await _log(stack, support, Purpose.OPERATIONS_SUPPORT, 1, days_ago=0)
    await _log(stack, you, Purpose.PERSON_EXPORT, 1, days_ago=0, action="export_person")


async def test_the_page_counts_reads_per_day_and_purpose_in_words(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    person = await _pat(stack, client)
    await _synthetic(stack, person)
    stranger = Grant.for_component("per_someone_else", "delivery")
    await _log(stack, stranger, Purpose.DELIVER_UPDATE, 9, days_ago=0)

    page = await client.get("/privacy/accesses")
    assert page.status_code == 200
    groups = _groups(page.text)
    today, yesterday, first = TODAY.isoformat(), (TODAY - timedelta(days=1)).isoformat(), \
        (TODAY - timedelta(days=2)).isoformat()
    assert groups == {
        (today, "deliver_update"): 7, (today, "answer_question"): 3, (today, "operations_support"): 1,
        (today, "person_export"): 1, (yesterday, "deliver_update"): 6, (first, "deliver_update"): 4,
        (first, "sync_with_bank"): 1,
    }  # somebody else's nine reads are not there
    text = _text(page.text)
    assert "Today" in text and "Yesterday" in text and "Tuesday 10 November 2026" in text
    assert "7 reads to send you updates, 3 to answer your questions, 1 to export your data, as you asked, " \
           "1 by a person at Ledgerlink" in text
    assert "6 reads to send you updates, 0 by a person at Ledgerlink" in text
    assert "read read" not in text
    assert "deliver_update" not in text and "ops-7" not in text and person not in text

    # Unusual: the operator read, the export and a purpose seen for the first time; the first
    # day's purposes are not "new" (everything is new on the first day).
    unusual = re.findall(r'data-testid="unusual-item" data-purpose="([a-z_]+)"', page.text)
    assert sorted(unusual) == ["answer_question", "operations_support", "person_export"]

    # Reading the page was itself recorded, and the next view counts it.
    again = _groups((await client.get("/privacy/accesses")).text)
    assert again[(today, "show_to_person")] == 1


async def test_grouped_counts_match_the_audit_rows_of_a_real_link_and_real_questions(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    grant, thread_id = await _linked(stack, handle="quinn")
    for question in ("last 5 transactions", "how much did I spend last month", "last 2 transactions"):
        await commands.handle_text(stack.deps, grant, thread_id, question)
    async with stack.container.engine.connect() as conn:
        rows = (await conn.execute(select(s.audit_log.c.at, s.audit_log.c.purpose)
                                   .where(s.audit_log.c.person_id == grant.person_id))).all()
    expected = Counter((at.astimezone(UTC).date().isoformat(), purpose) for at, purpose in rows)
    assert expected[(TODAY.isoformat(), "answer_question")] >= 3
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url=stack.platform_url) as web:
        token = (await web.get("/login")).text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        await web.post("/login", data={"csrf": token, "handle": "quinn", "password": "correct horse"})
        page = await web.get("/privacy/accesses")
    assert _groups(page.text) == dict(expected)


async def test_a_group_opens_its_entries_paged_with_proofs(stack: Stack, client: httpx.AsyncClient) -> None:
    person = await _pat(stack, client)
    await _synthetic(stack, person)
    await _log(stack, Grant.for_component(person, "delivery"), Purpose.DELIVER_UPDATE, 53, days_ago=3)
    await audit_log.sign_tree_head(stack.deps)

    page = await client.get("/privacy/accesses")
    link = re.search(r'href="(/privacy/accesses/entries\?[^"]*purpose=answer_question[^"]*)"', page.text)
    assert link is not None
    drill = await client.get(html.unescape(link.group(1)))
    assert drill.status_code == 200
    assert drill.text.count('data-testid="access"') == 3
    assert drill.text.count('data-testid="access-proof"') == 3
    text = _text(drill.text)
    assert "You read transactions of an account" in " ".join(text.split())
    assert "Reads to answer your questions, today" in " ".join(text.split())
    assert "read read" not in text and 'data-testid="tree-head-root"' in drill.text

    day = (TODAY - timedelta(days=3)).isoformat()
    first = await client.get("/privacy/accesses/entries",
                             params={"purpose": "deliver_update", "from": day, "to": day})
    assert first.text.count('data-testid="access"') == access_summary.ENTRIES_PER_PAGE
    assert 'data-testid="page-older"' in first.text and 'data-testid="page-newer"' not in first.text
    second = await client.get("/privacy/accesses/entries",
                              params={"purpose": "deliver_update", "from": day, "to": day, "page": 2})
    assert second.text.count('data-testid="access"') == 53 - access_summary.ENTRIES_PER_PAGE
    assert 'data-testid="page-older"' not in second.text
    index = r'data-testid="access" data-index="(\d+)"'
    indexes = [int(i) for p in (first, second) for i in re.findall(index, p.text)]
    assert indexes == sorted(indexes, reverse=True) and len(set(indexes)) == 53


async def test_days_are_paged_and_filters_narrow_the_groups(stack: Stack, client: httpx.AsyncClient) -> None:
    person = await _pat(stack, client)
    delivery = Grant.for_component(person, "delivery")
    for days_ago in range(1, 10):
        await _log(stack, delivery, Purpose.DELIVER_UPDATE, days_ago, days_ago=days_ago)
    support = Grant(person_id=person, actor="operator:ops-7")
    await _log(stack, support, Purpose.OPERATIONS_SUPPORT, 2, days_ago=4)

    first = await client.get("/privacy/accesses")
    assert first.text.count('data-testid="access-day"') == access_summary.DAYS_PER_PAGE
    assert "Page 1 of 2" in first.text and 'data-testid="page-older"' in first.text
    second = await client.get("/privacy/accesses", params={"page": 2})  # the first view added today
    days = re.findall(r'data-testid="access-day" data-day="([^"]+)"', second.text)
    assert days == [(TODAY - timedelta(days=n)).isoformat() for n in (7, 8, 9)]
    assert _groups(second.text)[(days[2], "deliver_update")] == 9
    assert 'data-testid="page-newer"' in second.text and 'data-testid="page-older"' not in second.text

    staff = _groups((await client.get("/privacy/accesses", params={"who": "staff"})).text)
    assert staff == {((TODAY - timedelta(days=4)).isoformat(), "operations_support"): 2}
    automatic = _groups((await client.get("/privacy/accesses", params={"who": "ledgerlink"})).text)
    assert "operations_support" not in {p for _, p in automatic}
    ranged = await client.get("/privacy/accesses", params={
        "purpose": "deliver_update", "from": (TODAY - timedelta(days=3)).isoformat(),
        "to": (TODAY - timedelta(days=2)).isoformat()})
    assert _groups(ranged.text) == {((TODAY - timedelta(days=3)).isoformat(), "deliver_update"): 3,
                                    ((TODAY - timedelta(days=2)).isoformat(), "deliver_update"): 2}
    assert 'data-testid="filter-clear"' in ranged.text

    for params, words in ((({"from": "yesterday"}), "'from' must be a date"),
                          ({"purpose": "advertising"}, "there is no purpose 'advertising'"),
                          ({"from": "2026-11-10", "to": "2026-11-01"}, "'from' must be on or before 'to'"),
                          ({"page": "0"}, "'page' must be between")):
        bad = await client.get("/privacy/accesses", params=params)
        assert bad.status_code == 422 and words in html.unescape(bad.text).lower(), params
        assert "Traceback" not in bad.text


async def test_the_chat_answer_is_a_short_summary_of_today_with_a_link(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    person = await _pat(stack, client)
    grant = Grant.for_person(person)
    thread = (await messenger.list_threads(stack.deps, grant))[0]
    await commands.handle_text(stack.deps, grant, thread.id, "who accessed my data")
    empty = (await messenger.thread_messages(stack.deps, grant, thread.id))[-1].body["text"]
    assert empty.startswith("Nobody has read your financial data yet")

    await _synthetic(stack, person)
    await commands.handle_text(stack.deps, grant, thread.id, "Who has accessed my data?")
    answer = (await messenger.thread_messages(stack.deps, grant, thread.id))[-1]
    assert answer.body["text"] == (
        "Today: 7 reads to send you updates, 3 to answer your questions, "
        # the first question read the log, and the test read the thread: both to show you your own data
        "2 to show you your own data, 1 to export your data, as you asked; 1 by a person at Ledgerlink. "
        "See all: /privacy/accesses"
    )
    assert {"label": "See all", "href": "/privacy/accesses"} in answer.body["actions"]
