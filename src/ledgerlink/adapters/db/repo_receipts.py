"""SQL repository (see the matching Protocol in ledgerlink.services.ports)."""

from __future__ import annotations

from ledgerlink.adapters.db.repositories import _Repo


class SqlReceipts(_Repo):
    """Consent receipts (sealed compact JWS)."""
