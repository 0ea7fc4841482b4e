"""The one read that feeds partner aggregates: per-person spending rows, opened for the
`partner_aggregate_dp` purpose only, before differential privacy is applied (services/privacy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import audit
from ledgerlink.services.access.vault import PersonKeyMissing, Vault
from ledgerlink.services.ingest.ports import TransactionRecord
from ledgerlink.services.kernel.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class SpendingRow:
    """One posted purchase as a differentially private aggregate sees it: no merchant, no
    descriptor, no account; the amount as positive spend."""

    person_id: str
    mcc: str | None
    spend: Money


async def read_spending_for_aggregate(
    vault: Vault,
    uow: UnitOfWork,
    *,
    partner_id: str,
    currency: str,
    period_start: date,
    period_end: date,
    query: str,
    at: datetime,
) -> list[SpendingRow]:
    """Spending (posted, negative amounts in `currency`) booked in [period_start, period_end) by people
    whose link *to this partner* is active: linking the partner is the consent to be
    counted, with noise, in its statistics. Nobody else's rows are read.

    One audit entry per person whose data was opened (purpose partner_aggregate_dp). A
    person whose key is gone (erased) is skipped and not audited: nothing of theirs opened."""
    records = await uow.dp.spending_rows(
        partner_id, currency=currency, start=period_start, end=period_end, at=at
    )
    by_person: dict[str, list[TransactionRecord]] = {}
    for record in records:
        by_person.setdefault(record.person_id, []).append(record)
    rows: list[SpendingRow] = []
    for person_id, person_records in by_person.items():
        try:
            opened = [
                (r, await vault.open(person_id, r.sealed, table="transactions", row_id=r.id))
                for r in person_records
            ]
        except PersonKeyMissing:
            continue
        await audit(
            uow,
            Grant.for_component(person_id, "aggregates"),
            Purpose.PARTNER_AGGREGATE_DP,
            action="read_for_aggregate",
            subject=f"partner:{partner_id} {query[:120]} transactions:{len(opened)}",
            at=at,
        )
        for record, value in opened:
            amount = Money.from_minor(int(value["amount_minor"]), record.currency)
            if amount.is_negative():
                rows.append(SpendingRow(person_id=person_id, mcc=record.mcc, spend=-amount))
    return rows
