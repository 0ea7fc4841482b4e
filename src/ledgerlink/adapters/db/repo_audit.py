"""SQL repository (see the matching Protocol in ledgerlink.services.ports)."""

from __future__ import annotations

from ledgerlink.adapters.db.repositories import _Repo


class SqlTreeHeads(_Repo):
    """Signed tree heads of the audit log."""
