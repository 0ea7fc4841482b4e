"""What every access function does first: check the grant, then write the audit entry.

Private to the access package; callers use `ledgerlink.services.access`.
"""

from __future__ import annotations

from datetime import datetime

from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.kernel.uow import UnitOfWork


async def audit(
    uow: UnitOfWork, grant: Grant, purpose: Purpose, *, action: str, subject: str, at: datetime
) -> None:
    if not isinstance(purpose, Purpose):
        raise TypeError("purpose must be a ledgerlink.domain.privacy.Purpose")
    await uow.audit.append(
        at=at,
        actor=grant.actor,
        person_id=grant.person_id,
        purpose=purpose.value,
        action=action,
        subject=subject,
    )


def _mine(grant: Grant, person_id: str, what: str) -> None:
    if grant.person_id != person_id:
        raise NotFound(f"{what} not found")
