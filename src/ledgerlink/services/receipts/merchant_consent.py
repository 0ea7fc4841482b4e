"""A shop link's consent as the receipts service sees it (issue 11, ADR 0031): may an event or
an order of this link be used now, and ending it (either side), inside the caller's unit of
work. A link made before OAuth linking (no consent row) stays usable."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from ledgerlink.domain.errors import Forbidden
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text
from ledgerlink.services.receipts.merchant_link_ports import MerchantConsentRecord

__all__ = ["LinkEnded", "end_consent", "usable"]

_ENDED_TEXT = {
    "person": "{shop} is unlinked: you revoked it. It no longer sends orders or parcels here.",
    "shop": "{shop} revoked its link on its side. It no longer sends orders or parcels here; "
            "link it again from Link a shop.",
    "expiry": "Your link to {shop} has expired. Renew it from Settings to keep receipts coming.",
}


class LinkEnded(Forbidden):
    """An event or order for a shop link that was revoked or expired: nothing is stored."""

    code = "link_revoked"


async def usable(uow: UnitOfWork, link_id: str, *, now: datetime) -> MerchantConsentRecord | None:
    """The link's consent when it may be used; LinkEnded (`link_revoked` / `link_expired`) when
    it ended; None for a link without one."""
    consent = await uow.merchant_consents.for_link(link_id)
    if consent is None:
        return None
    if consent.status == "expired" or (consent.status == "active" and consent.expires_at is not None
                                       and now >= consent.expires_at):
        raise LinkEnded("this shop link has expired; the person has to renew it", code="link_expired")
    if consent.status != "active":
        raise LinkEnded("this shop link was revoked", code="link_revoked")
    return consent


async def end_consent(deps: Deps, uow: UnitOfWork, consent: MerchantConsentRecord, *, by: str, shop: str,
                      at: datetime) -> MerchantConsentRecord:
    """Revoked (by `person` or `shop`) or expired (`expiry`): the tokens are dropped with it and
    the person is told in their system thread."""
    status = "expired" if by == "expiry" else "revoked"
    ended = dataclasses.replace(consent, status=status, ended_by=by, sealed=None, updated_at=at)
    await uow.merchant_consents.put(ended)
    thread = await ensure_system_thread(deps, uow, consent.person_id)
    await post_text(deps, uow, thread, _ENDED_TEXT[by].format(shop=shop), tone="info")
    return ended
