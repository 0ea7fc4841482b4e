"""Category corrections and budgets (issue 13): sealed per person; a merchant someone corrects
and what they budget for say what they buy. Read to answer, to deliver or to show them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ledgerlink.domain.budgets import Budget
from ledgerlink.domain.categories import Correction
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.insights.ports import BudgetRecord, CorrectionRecord
from ledgerlink.services.kernel.uow import UnitOfWork

_PURPOSES = frozenset({Purpose.ANSWER_QUESTION, Purpose.DELIVER_UPDATE, Purpose.SHOW_TO_PERSON,
                       Purpose.PERSON_EXPORT})
_CORRECTIONS = "category_corrections"
_BUDGETS = "budgets"


def _check(purpose: Purpose) -> None:
    if purpose not in _PURPOSES:
        raise ValueError(f"corrections and budgets are not read for {purpose.value}")


async def _open_corrections(
    vault: Vault, uow: UnitOfWork, grant: Grant
) -> list[tuple[CorrectionRecord, Correction]]:
    out = []
    for r in await uow.insights.corrections(grant.person_id):
        value = await vault.open(r.person_id, r.sealed, table=_CORRECTIONS, row_id=r.id)
        out.append((r, Correction(str(value["merchant_key"]), Category(value["category"]),
                                  date.fromisoformat(value["said_on"]))))
    return out


async def read_corrections(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, at: datetime
) -> dict[str, Correction]:
    """The grant's corrections by merchant key (the latest word per merchant)."""
    _check(purpose)
    opened = await _open_corrections(vault, uow, grant)
    if opened:
        await audit(uow, grant, purpose, action="read_category_corrections",
                    subject=f"category_corrections:{len(opened)}", at=at)
    return {c.merchant_key: c for _, c in opened}


async def store_correction(
    vault: Vault, uow: UnitOfWork, grant: Grant, correction: Correction, *, at: datetime
) -> None:
    """Keep the person's word about a merchant, replacing what they said before about it."""
    for record, old in await _open_corrections(vault, uow, grant):
        if old.merchant_key == correction.merchant_key:
            await uow.insights.delete_correction(grant.person_id, record.id)
    row_id = new_id("cor")
    value = {"merchant_key": correction.merchant_key, "category": correction.category.value,
             "said_on": correction.said_on.isoformat()}
    sealed = await vault.seal(grant.person_id, value, table=_CORRECTIONS, row_id=row_id)
    await uow.insights.add_correction(CorrectionRecord(row_id, grant.person_id, sealed, at))


async def read_budgets(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, at: datetime
) -> list[Budget]:
    _check(purpose)
    out = []
    for r in await uow.insights.budgets(grant.person_id):
        value = await vault.open(r.person_id, r.sealed, table=_BUDGETS, row_id=r.id)
        out.append(Budget(r.id, Category(value["category"]),
                          Money(Decimal(value["amount"]), str(value["currency"])),
                          r.warned_month, r.warned_level))
    if out:
        await audit(uow, grant, purpose, action="read_budgets", subject=f"budgets:{len(out)}", at=at)
    return out


async def store_budget(
    vault: Vault, uow: UnitOfWork, grant: Grant, *, category: Category, limit: Money, at: datetime
) -> Budget:
    """Set the monthly budget of a category (one per category: a new amount replaces the old,
    and this month's warnings are re-armed)."""
    existing = next((b for b in await read_budgets(vault, uow, grant, Purpose.SHOW_TO_PERSON, at=at)
                     if b.category is category), None)
    row_id = existing.id if existing is not None else new_id("bud")
    value = {"category": category.value, "amount": str(limit.amount), "currency": limit.currency}
    sealed = await vault.seal(grant.person_id, value, table=_BUDGETS, row_id=row_id)
    await uow.insights.put_budget(BudgetRecord(row_id, grant.person_id, sealed, None, 0, at))
    return Budget(row_id, category, limit)
