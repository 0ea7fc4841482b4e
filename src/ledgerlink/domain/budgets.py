"""Monthly budgets per spending category (pure): how far a month's spending has come, and which
warning it is due (80 % and 100 %, each at most once a month)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money

LEVELS = (100, 80)  # percent of the budget; the higher is checked first


@dataclass(frozen=True, slots=True)
class Budget:
    id: str
    category: Category
    limit: Money  # per calendar month, positive
    warned_month: str | None = None  # "2026-12"
    warned_level: int = 0


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def share(spent: Money, limit: Money) -> Decimal:
    """Spent / limit (0.85 = 85 %); 0 for a zero limit."""
    if limit.currency != spent.currency:
        raise ValueError("a budget and its spending must be in one currency")
    return Decimal(0) if limit.amount <= 0 else spent.amount / limit.amount


def due_level(budget: Budget, spent: Money, *, today: date) -> int | None:
    """The warning (80 or 100) this month's spending calls for and that was not sent yet."""
    reached = next((lvl for lvl in LEVELS if share(spent, budget.limit) * 100 >= lvl), None)
    if reached is None:
        return None
    sent = budget.warned_level if budget.warned_month == month_key(today) else 0
    return reached if reached > sent else None
