"""A link ends: whoever ended it (the person, the bank's revocation notice, or a sync the bank
refused for good), it is marked revoked, its tokens are dropped, its thread says so and
`LinkRevoked` goes out.

The person's own unlink (revoking at the bank first) is `links.unlink`.
"""

from __future__ import annotations

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.events import LinkRevoked
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.messenger import post_text

log = structlog.get_logger(__name__)


async def end_link(deps: Deps, *, link_id: str, by: str, text: str) -> bool:
    """Mark a link revoked, drop its tokens, and post `text` in its thread. Idempotent."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        link = await uow.links.get(link_id)
        if link is None or link.status == LinkStatus.REVOKED.value:
            return False
        link.status = LinkStatus.REVOKED.value
        link.revoked_at = now
        link.revoked_by = by
        link.sealed_secrets = None  # tokens are gone for good
        link.updated_at = now
        await uow.links.update(link)
        thread = await uow.threads.for_link(link.id)
        if thread is not None:
            await post_text(deps, uow, thread, text, tone="warning", subject_key="link:ended")
        uow.events.append(LinkRevoked(person_id=link.person_id, link_id=link.id, by=by))
        await deps.commit_and_publish(uow)
    log.info("link_ended", link_id=link_id, by=by)
    return True


async def bank_revoked(deps: Deps, *, partner_id: str, consent_id: str) -> bool:
    async with deps.uow() as uow:
        link = await uow.links.by_consent(partner_id, consent_id)
    if link is None:
        raise NotFound("no link with that consent", code="unknown_consent")
    return await end_link(
        deps,
        link_id=link.id,
        by="bank",
        text="Your bank ended this link (the consent was revoked at the bank). "
        "No more updates will arrive here. You can link again at any time.",
    )
