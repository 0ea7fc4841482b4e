"""A tracking number pasted into a thread (issue 11, docs/receipts.md "Tracking numbers").

Registered as a chat command (services/questions/commands.py), tried right after help, so a
pasted number is answered here and never goes on to a bank's customer service. The number is
personal data: the person's own message is stored sealed like every message; the answer, the
errors and the logs show only the carrier and the masked number (`1Z••••••••••••7127`).
"""

from __future__ import annotations

import re

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.privacy import Grant
from ledgerlink.domain.tracking import parse_tracking_number
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.ports import ThreadRecord

__all__ = ["EXAMPLE", "PATTERN", "reply"]

EXAMPLE = "track 1Z5R89390357567127"
# Matched against the lower-cased text: a few lead words at most, then one number (UPS `1Z`
# and 16 characters, or at least 10 digits, single spaces allowed between groups). Anything
# longer is a sentence, left to the other commands.
PATTERN = re.compile(r"(?:(?:track(?:ing)?|my|the|a|parcel|package|shipment|number|no\.?|is|:|#)\s*)*"
           r"(?P<number>1z[0-9a-z]{16}|\d(?: ?\d){9,33})")


async def reply(deps: Deps, grant: Grant, thread: ThreadRecord,
                match: re.Match[str]) -> tuple[str, list[dict[str, str]]]:
    """The carrier and the masked number, or why the number cannot be one (the check digit,
    or no carrier's shape), in the thread; nothing is raised."""
    try:
        parcel = parse_tracking_number(match.group("number"))
    except InvalidInput as exc:
        return str(exc) + ".", []
    return (f"That's a {parcel.carrier.label} tracking number ({parcel.masked}). Following a parcel "
            "from a pasted number is not built yet; the parcel of an order from a linked shop is "
            "shown on its purchase.", [])
