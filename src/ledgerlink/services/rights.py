"""The person's rights over their data: erasure (export and the rest grow here)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.errors import DomainError, NotFound
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access, linking
from ledgerlink.services.deps import Deps

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ErasureReport:
    person_id: str
    links_revoked: int
    key_destroyed: bool
    rows_deleted: dict[str, int]


async def erase_person(deps: Deps, grant: Grant) -> ErasureReport:
    """Erase everything about the person who holds `grant`.

    Order matters for the promise: banks are told first (their tokens die), then the data key
    is destroyed (from that moment every copy of the sealed data, backups included, is
    unreadable), then the rows go. A crash between steps leaves unreadable rows that a retry
    removes; it never leaves readable data behind."""
    if not grant.actor.startswith("person:"):
        raise NotFound("person not found")  # only the person may erase themselves
    async with deps.uow() as uow:
        person = await uow.persons.get(grant.person_id)
        links = await uow.links.for_person(grant.person_id)
    if person is None or person.erased_at is not None:
        raise NotFound("person not found")
    revoked = 0
    for link in links:
        if link.status == LinkStatus.ACTIVE.value:
            with contextlib.suppress(DomainError):
                await linking.unlink(deps, grant, link_id=link.id)
                revoked += 1
    destroyed = await deps.vault.destroy_key(grant.person_id)
    now = deps.clock.now()
    async with deps.uow() as uow:
        deleted = await uow.persons.erase(grant.person_id, now)
        await access.audit(
            uow,
            grant,
            Purpose.PERSON_ERASURE,
            action="erase_person",
            subject=f"person:{grant.person_id}",
            at=now,
        )
        await uow.commit()
    log.info("person_erased", person_id=grant.person_id, links_revoked=revoked)
    return ErasureReport(
        person_id=grant.person_id, links_revoked=revoked, key_destroyed=destroyed, rows_deleted=deleted
    )
