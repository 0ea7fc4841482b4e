"""The authenticator app's key (RFC 6238): a credential, sealed to its row with the person's key,
opened only to check a code the person typed (ADR 0021).

Opening it writes no access-log entry: it is not the person's financial data but the key of
their own sign-in, used only for their own sign-in steps, and each use is in their security log
(`services/auth/factors.py`). Erasure shreds it with every other sealed value.
"""

from __future__ import annotations

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.access._gate import _mine
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.auth.ports import TotpRecord

__all__ = ["open_totp_secret", "seal_totp_secret"]

_TABLE = "totp_factors"


async def seal_totp_secret(vault: Vault, *, person_id: str, factor_id: str, secret: str) -> bytes:
    return await vault.seal(person_id, {"secret": secret}, table=_TABLE, row_id=factor_id)


async def open_totp_secret(vault: Vault, grant: Grant, record: TotpRecord) -> str:
    """The key of the grant's own authenticator app (someone else's: not found)."""
    _mine(grant, record.person_id, "authenticator app")
    opened = await vault.open(record.person_id, record.sealed_secret, table=_TABLE, row_id=record.id)
    secret = opened.get("secret")
    assert isinstance(secret, str)
    return secret
