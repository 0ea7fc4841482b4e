""""refresh" in a bank thread (issue 10, section 3): an attended refresh of that thread's accounts,
now. The person is present, so under PSD2 it does not use the four unattended reads a day; the
provider's own limits, a 429's Retry-After and a consent that needs renewing still apply
(`RefreshWorker.refresh_link`, docs/refresh.md). The thread says "Refreshing…" first, then how
fresh its figures are.

The composer's entry point puts the person's presence (address, browser) in `PRESENT_PSU` for
the length of one message, so a PSD2 bank is told the read is theirs.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.chat import ThreadKind
from ledgerlink.domain.errors import Conflict, NotFound, TooManyRequests
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking.provider_ports import PsuPresence
from ledgerlink.services.messaging.messenger import post_text
from ledgerlink.services.messaging.ports import ThreadRecord

__all__ = ["PATTERN", "PRESENT_PSU", "REFRESHING", "refresh"]

PATTERN = (r"(?:please )?(?:refresh|update|sync)"
           r"(?: (?:now|my accounts?|accounts?|balances?|this|it))?(?: please)?")
PRESENT_PSU: ContextVar[PsuPresence | None] = ContextVar("present_psu", default=None)
REFRESHING = "Refreshing…"

Reply = tuple[str, list[dict[str, str]]]


async def refresh(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    if thread.kind != ThreadKind.BANK.value or thread.link_id is None:
        return "Open a bank's thread and say “refresh” there to fetch its accounts now.", []
    if deps.refresher is None:
        return "Refreshing is not available on this server.", []
    async with deps.uow() as uow:
        await post_text(deps, uow, thread, REFRESHING)
        await deps.commit_and_publish(uow)
    try:
        count = await deps.refresher.refresh_link(person_id=grant.person_id, link_id=thread.link_id,
                                                  psu=PRESENT_PSU.get())
    except TooManyRequests as exc:
        return f"Not refreshed yet: {exc.detail}", []
    except Conflict as exc:  # needs_reconnect: the Reconnect card is connection health's
        return f"Not refreshed: {exc.detail}", []
    except NotFound:
        return "This thread's bank link has ended, so there is nothing to refresh.", []
    line = await deps.refresher.freshness(link_id=thread.link_id, locale=fmt.LOCALE)
    if count == 0:  # the provider said 429 or failed (recorded, with its wait), or the consent is gone
        return f"{thread.title} did not answer this time: {line or 'nothing changed'}.", []
    if line is None:  # an OAuth bank: synced at once, no planned refreshes to tell of
        line = "updated just now"
    return f"{thread.title}: {count} account{'' if count == 1 else 's'} refreshed, {line}.", []
