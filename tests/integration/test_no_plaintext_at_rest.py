"""Sensitive values never reach the database file in clear."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_merchants_amounts_tokens_and_account_names_are_not_stored_in_clear(
    tmp_path: Path, db_url: str
) -> None:
    async with running_stack(tmp_path, db_url) as stack:
        grant, _ = await _linked(stack)
        stack.person_id = grant.person_id  # type: ignore[attr-defined]
        await stack.bank.purchase("alice", merchant="Blue Bottle Coffee", amount="7.77")
        await stack.container.drain()
        needles = await _needles(stack)
    blob = _database_bytes(tmp_path)
    for needle in needles:
        assert needle.encode() not in blob, f"found {needle!r} in clear in the database"


async def _needles(stack: Stack) -> list[str]:
    accounts = stack.bank.accounts_of("alice")
    values = ["Blue Bottle Coffee", "BLUE BOTTLE", "7.77"]
    for account in accounts:
        values.append(account.name)
        values.append(account.number)
    async with stack.deps.uow() as uow:
        (link,) = [lk for lk in await uow.links.for_person(_person(stack)) if lk.status == "active"]
        secrets = await access.open_link_secrets(
            stack.deps.vault,
            uow,
            Grant.for_person(link.person_id),
            Purpose.OPERATIONS_SUPPORT,
            link,
            at=stack.deps.clock.now(),
        )
    values.extend([secrets["access_token"], secrets["refresh_token"]])
    return values


def _person(stack: Stack) -> str:
    return str(stack.person_id)


def _database_bytes(folder: Path) -> bytes:
    files = [p for p in folder.glob("ledgerlink.db*") if p.is_file()]
    assert files
    return b"".join(p.read_bytes() for p in files)
