"""Connection health: when a link's syncs fail in a way the person has to fix, one "needs your
attention" card with a Reconnect button per episode; "Connection restored" when a sync works
again.

An episode opens at once when the bank refuses our refresh token (`invalid_grant`) without
having told us the consent was revoked, or after syncs have failed for `ATTENTION_AFTER`
(at least `MIN_FAILURES` in a row, every success in between starts over). Reconnect is the
renewal flow (services/linking/activation.py): the same link, thread, accounts and history. The link
stays active meanwhile, so bank events still arrive and every sync tries again. These are
notices about the link, like the consent-expiry warning: never held by quiet hours, never
turned off. State per link: table `link_health` (codes and times, no personal data).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking.consent_expiry import renew_href
from ledgerlink.services.linking.ports import LinkHealthRecord
from ledgerlink.services.messaging.messenger import post_text

__all__ = [
    "ATTENTION_AFTER",
    "MIN_FAILURES",
    "RECONNECT_NOW",
    "after_failure",
    "after_success",
    "sync_failed",
    "sync_succeeded",
]

log = structlog.get_logger(__name__)

ATTENTION_AFTER = timedelta(minutes=30)
MIN_FAILURES = 3
# The bank refused our refresh token, or a provider's consent ended (Enable Banking session,
# GoCardless agreement, SimpleFIN access disabled): only the person can give a new consent.
RECONNECT_NOW = frozenset({"oauth_invalid_grant", "provider_consent_expired", "account_suspended"})


def after_failure(
    health: LinkHealthRecord | None, *, link_id: str, person_id: str, code: str, now: datetime
) -> tuple[LinkHealthRecord, bool]:
    """The link's health after a failed sync, and whether its attention card is due now."""
    h = health or LinkHealthRecord(
        link_id=link_id,
        person_id=person_id,
        failing_since=None,
        failures=0,
        last_error=None,
        attention_at=None,
        episodes=0,
        updated_at=now,
    )
    h = replace(
        h, failing_since=h.failing_since or now, failures=h.failures + 1, last_error=code[:64], updated_at=now
    )
    assert h.failing_since is not None
    due = h.attention_at is None and (
        code in RECONNECT_NOW or (h.failures >= MIN_FAILURES and now - h.failing_since >= ATTENTION_AFTER)
    )
    if due:
        h = replace(h, attention_at=now, episodes=h.episodes + 1)
    return h, due


def after_success(health: LinkHealthRecord, *, now: datetime) -> tuple[LinkHealthRecord, bool]:
    """The link's health after a sync that worked, and whether to say it is restored."""
    restored = health.attention_at is not None
    return replace(
        health, failing_since=None, failures=0, last_error=None, attention_at=None, updated_at=now
    ), restored


def _attention_text(bank: str, code: str, since: datetime, now: datetime) -> str:
    keep = "Your thread, accounts and history stay as they are."
    if code in RECONNECT_NOW:
        return (
            f"{bank} needs your attention: it no longer accepts Ledgerlink's access to your "
            f"accounts, so new activity may stop arriving here. Reconnect to continue. {keep}"
        )
    minutes = int((now - since).total_seconds() // 60)
    return (
        f"{bank} needs your attention: your accounts could not be updated since "
        f"{since:%H:%M} UTC ({minutes} minutes), so new activity may be missing here. We keep "
        f"trying; if it goes on, reconnect. {keep}"
    )


async def sync_failed(deps: Deps, *, link_id: str, code: str) -> bool:
    """Count a failed sync of the link; post its attention card when due (once per episode).
    Returns whether a card was posted."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        link = await uow.links.get(link_id)
        thread = await uow.threads.for_link(link_id)
        if link is None or link.status != LinkStatus.ACTIVE.value or thread is None:
            return False
        thread = await uow.threads.lock(thread.id) or thread  # one verdict per link at a time
        health, due = after_failure(
            await uow.link_health.get(link_id), link_id=link_id, person_id=link.person_id, code=code, now=now
        )
        await uow.link_health.put(health)
        if due:
            assert health.failing_since is not None
            await post_text(
                deps,
                uow,
                thread,
                _attention_text(thread.title, code, health.failing_since, now),
                tone="warning",
                actions=[{"label": "Reconnect", "href": renew_href(link_id)}],
                subject_key=f"link:attention:{health.episodes}",
            )
        await deps.commit_and_publish(uow)
    if due:
        log.info("connection_needs_attention", link_id=link_id, code=code, episode=health.episodes)
    return due


async def sync_succeeded(deps: Deps, *, link_id: str) -> bool:
    """A sync of the link worked: end its failure run, and its episode with a "Connection
    restored" notice. Returns whether the notice was posted."""
    async with deps.uow(readonly=True) as uow:  # the common case: healthy, nothing to write
        health = await uow.link_health.get(link_id)
    if health is None or (health.failures == 0 and health.attention_at is None):
        return False
    now = deps.clock.now()
    async with deps.uow() as uow:
        thread = await uow.threads.for_link(link_id)
        if thread is None:
            return False
        thread = await uow.threads.lock(thread.id) or thread
        current = await uow.link_health.get(link_id)
        if current is None:
            return False
        health, restored = after_success(current, now=now)
        await uow.link_health.put(health)
        if restored:
            await post_text(
                deps,
                uow,
                thread,
                f"Connection to {thread.title} restored: updates arrive here again.",
                tone="success",
                subject_key=f"link:restored:{health.episodes}",
            )
        await deps.commit_and_publish(uow)
    if restored:
        log.info("connection_restored", link_id=link_id, episode=health.episodes)
    return restored
