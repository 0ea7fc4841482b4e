"""SQL repository of alert rules (see `AlertRuleRepository` in ledgerlink.services.ports)."""

from __future__ import annotations

from ledgerlink.adapters.db.repositories import _Repo


class SqlAlertRules(_Repo):
    """Alert rules per person."""
