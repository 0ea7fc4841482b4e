""""link a shop" in chat (issue 11, ADR 0031): what linking a shop does and shares, with the
button into the web flow (`/link/shop`: choose the shop, approve at the shop, come back). The
consent itself is given at the shop, never in chat."""

from __future__ import annotations

import re

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.ports import ThreadRecord

__all__ = ["COMMAND", "EXAMPLE", "PATTERN", "UNLINK", "reply", "unlink"]

EXAMPLE = "link a shop"
# Matched against the lower-cased text (question marks already gone): "link a shop", "connect my
# store", "add another shop account", "how do i link a shop".
PATTERN = re.compile(r"(?:i want to |please |can i |how do i )?(?:link|connect|add)"
                     r"(?: a| my| an| another| new)* (?:shop|shops|store|stores|online shop|merchant)"
                     r"(?: account)?(?: please)?")
TEXT = ("Link a shop you buy from, like Acme Outfitters: you sign in at the shop and approve, and its "
        "receipts and parcels attach to the card payment in your bank's thread. It shares your orders and "
        "your parcels only, never for advertising, profiling or sale; revoke it any time on the same page.")


async def reply(deps: Deps, grant: Grant, thread: ThreadRecord,
                match: re.Match[str]) -> tuple[str, list[dict[str, str]]]:
    return TEXT, [{"label": "Link a shop", "href": "/link/shop"}]


COMMAND = (EXAMPLE, PATTERN, reply)  # registered in services/questions/commands.py, after help


UNLINK_EXAMPLE = "unlink my shop"
# "unlink my shop", "revoke the acme shop link", "disconnect shop acme outfitters": the word shop
# (or store) is needed, so "unlink my bank" or a budget are never taken for it.
UNLINK_PATTERN = re.compile(r"(?:please )?(?:unlink|revoke|disconnect)(?: my| the)?"
                            r"(?: (?P<before>[a-z0-9' ]{2,40}?))? (?:shop|store)(?: link| account)?"
                            r"(?: (?P<after>[a-z0-9' ]{2,40}?))?(?: please)?")


async def unlink(deps: Deps, grant: Grant, thread: ThreadRecord,
                 match: re.Match[str]) -> tuple[str, list[dict[str, str]]]:
    """Revoke the active shop link the words name (or the only one): the shop is told and the
    link ends here (`MerchantLinks.revoke`)."""
    if deps.shop_links is None:
        return "Shop links are not available on this server.", []
    what = (match.group("before") or match.group("after") or "").strip()
    active = [c for c in await deps.shop_links.consents(grant) if c["status"] == "active"]
    named = [c for c in active if not what or what in str(c["shop"]).lower()]
    if not named:
        if not active:
            return "You have no shop linked.", [{"label": "Link a shop", "href": "/link/shop"}]
        return "No linked shop is called that. Your linked shops: " + _names(active) + ".", []
    if len(named) > 1:
        return "Which one? Say its name: " + _names(named) + ".", []
    await deps.shop_links.revoke(grant, str(named[0]["id"]))
    return (f"{named[0]['shop']} is unlinked: it no longer sends orders or parcels here, and its access at "
            "the shop is revoked."), [{"label": "Shop links", "href": "/link/shop"}]


def _names(consents: list[dict[str, object]]) -> str:
    return ", ".join(str(c["shop"]) for c in consents)


UNLINK = (UNLINK_EXAMPLE, UNLINK_PATTERN, unlink)
