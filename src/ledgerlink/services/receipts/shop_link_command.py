""""link a shop" in chat (issue 11, ADR 0031): what linking a shop does and shares, with the
button into the web flow (`/link/shop`: choose the shop, approve at the shop, come back). The
consent itself is given at the shop, never in chat."""

from __future__ import annotations

import re

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.ports import ThreadRecord

__all__ = ["COMMAND", "EXAMPLE", "PATTERN", "reply"]

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
