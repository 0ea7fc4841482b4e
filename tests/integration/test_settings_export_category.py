"""The JSON and OFX exports file a transaction as the thread does (issue 13): the person's
correction first, then merchant rules, then the MCC; never the MCC alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_person_rights import SCHEMA, _validate

from ledgerlink.domain.cards import category
from ledgerlink.services.insights import transactions
from ledgerlink.services.privacy import rights


@pytest.fixture
async def stack(tmp_path: Path, db_url: str) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, db_url) as s:
        yield s


async def test_the_export_category_follows_merchant_rules_and_the_persons_corrections(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="4.50")
    for amount in ("11.20", "9.80"):
        await stack.bank.purchase("alice", merchant="Safeway", amount=amount)
    await stack.container.drain()

    before = await rights.export_person(stack.deps, grant)
    coffee = [t for t in before["transactions"] if t["merchant"] == "Blue Bottle Coffee"]
    assert coffee and {t["category"] for t in coffee} == {"Coffee"}  # the merchant rule
    assert all(category(t["mcc"]) != "Coffee" for t in coffee)  # which the MCC alone would miss
    safeway = [t for t in before["transactions"] if t["merchant"] == "Safeway"]
    assert len(safeway) == 2 and {t["category"] for t in safeway} == {"Groceries"}

    await transactions.set_category(stack.deps, grant, safeway[0]["id"], "Restaurants")
    after = await rights.export_person(stack.deps, grant)
    _validate(after, SCHEMA)
    by_id = {t["id"]: t for t in after["transactions"]}
    assert {by_id[t["id"]]["category"] for t in safeway} == {"Restaurants"}  # past ones follow too
    for t in safeway + coffee:  # the same word as the transaction's detail page
        shown = await transactions.detail(stack.deps, grant, t["id"])
        assert by_id[t["id"]]["category"] == shown.category.value
    unchanged = [t for t in after["transactions"] if t["merchant"] != "Safeway"]
    assert all(by_id[t["id"]]["category"] == t["category"]
               for t in before["transactions"] if t["merchant"] != "Safeway") and unchanged

    account_id = safeway[0]["account_id"]
    statement = await rights.export_account(stack.deps, grant, account_id)
    assert {t["category"] for t in statement["transactions"] if t["merchant"] == "Safeway"} == {"Restaurants"}


async def test_the_export_reads_corrections_under_its_own_purpose(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    await stack.bank.purchase("alice", merchant="Safeway", amount="11.20")
    await stack.container.drain()
    [txn] = [t for t in (await rights.export_person(stack.deps, grant))["transactions"]
             if t["merchant"] == "Safeway"]
    await transactions.set_category(stack.deps, grant, txn["id"], "Restaurants")
    await rights.export_person(stack.deps, grant)
    async with stack.deps.uow(readonly=True) as uow:
        rows = await uow.audit.for_person(grant.person_id, limit=10_000)
    assert any(a.action == "read_category_corrections" and a.purpose == "person_export" for a in rows)
