"""Consents end: warned 7 days ahead with one-tap renewal, and ended when they expire."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.events import LinkRevoked
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.messenger import post_text

log = structlog.get_logger(__name__)

WARN_AHEAD = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    warned: int
    expired: int


def renew_href(link_id: str) -> str:
    return f"/links/{link_id}/renew"


async def check(deps: Deps) -> ExpiryReport:
    """Warn about consents ending within 7 days (once per expiry date) and end the expired."""
    now = deps.clock.now()
    warned = expired = 0
    async with deps.uow() as uow:
        links = await uow.links.expiring(now + WARN_AHEAD)
    for link in links:
        assert link.expires_at is not None
        day = link.expires_at.date().isoformat()
        async with deps.uow() as uow:
            fresh = await uow.links.get(link.id)
            thread = await uow.threads.for_link(link.id)
            if fresh is None or fresh.status != LinkStatus.ACTIVE.value or thread is None:
                continue
            renew = [{"label": "Renew for 90 days", "href": renew_href(link.id)}]
            if link.expires_at <= now:
                fresh.status = LinkStatus.EXPIRED.value
                fresh.sealed_secrets = None  # the bank's tokens are useless now: drop them
                fresh.updated_at = now
                await uow.links.update(fresh)
                await post_text(
                    deps,
                    uow,
                    thread,
                    f"Your consent for {thread.title} expired on {day}, so no more updates "
                    "arrive here. Renew it to continue with the same accounts and history.",
                    tone="warning",
                    actions=renew,
                    subject_key=f"link:expired:{day}",
                )
                uow.events.append(LinkRevoked(person_id=fresh.person_id, link_id=fresh.id, by="expiry"))
                expired += 1
            else:
                await post_text(
                    deps,
                    uow,
                    thread,
                    f"Your consent for {thread.title} ends on {day}. Renew it in one tap to "
                    "keep your updates; your accounts and history stay as they are.",
                    tone="warning",
                    actions=renew,
                    subject_key=f"link:expiring:{day}",
                )
                warned += 1
            await deps.commit_and_publish(uow)
    if warned or expired:
        log.info("consent_expiry_checked", warned=warned, expired=expired)
    return ExpiryReport(warned=warned, expired=expired)


async def run_checker(deps: Deps, interval_seconds: float) -> None:
    while True:
        try:
            await check(deps)
        except Exception:
            log.exception("consent_expiry_check_failed")
        await asyncio.sleep(interval_seconds)
