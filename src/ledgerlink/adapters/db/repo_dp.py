"""SQL repository (see the matching Protocol in ledgerlink.services.ports)."""

from __future__ import annotations

from ledgerlink.adapters.db.repositories import _Repo


class SqlDpLedger(_Repo):
    """Differential-privacy budgets and spend per partner."""
