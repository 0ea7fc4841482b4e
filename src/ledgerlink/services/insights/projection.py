"""An account's projected balance (issue 13), from its recurring income and bills.

Reads the account's last 400 days through `access` (so a yearly bill is in reach), finds the
recurring series (`domain/recurring.detect`) and projects today's ledger balance over the next
30 days (`domain/forecast.project`). Everyday spending is not projected: the forecast says what
the known income and bills will do, which is what a person can act on ahead of time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ledgerlink.domain.answer_text import activities
from ledgerlink.domain.banking import AccountView, Transaction, TransactionStatus
from ledgerlink.domain.categories import Correction
from ledgerlink.domain.forecast import Forecast, project
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.recurring import detect
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork

HISTORY_DAYS = 400


@dataclass(frozen=True, slots=True)
class Projection:
    forecast: Forecast
    history: list[Transaction]  # the account's transactions read for it (oldest window first)


async def account_projection(deps: Deps, uow: UnitOfWork, grant: Grant, purpose: Purpose,
                             view: AccountView, corrections: dict[str, Correction]) -> Projection | None:
    """None when the account has no balance yet."""
    if view.balance is None:
        return None
    now = deps.clock.now()
    today = now.date()
    txns = await access.read_transactions_between(
        deps.vault, uow, grant, purpose, account_ids=[view.id],
        start=today - timedelta(days=HISTORY_DAYS), end=today, at=now, limit=5000)
    kept = [t for t in txns if t.status is not TransactionStatus.REMOVED]
    found = detect(activities(kept, corrections), today=today)
    forecast = project(account_id=view.id, balance=view.balance.current, today=today, found=found)
    return Projection(forecast, kept)
