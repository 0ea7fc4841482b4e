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
from ledgerlink.domain.tracking import parse_tracking_number, shape_of
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.ports import ThreadRecord
from ledgerlink.services.receipts import parcels

__all__ = ["EXAMPLE", "PATTERN", "reply", "wanted"]

EXAMPLE = "track 1Z5R89390357567127"
# Matched against the lower-cased text: a few lead words at most, then one number (UPS `1Z`
# and 16 characters, or at least 10 digits, single spaces allowed between groups). Anything
# longer is a sentence, left to the other commands.
PATTERN = re.compile(r"(?:(?:track(?:ing)?|my|the|a|parcel|package|shipment|number|no\.?|is|:|#)\s*)*"
           r"(?P<number>1z[0-9a-z]{16}|\d(?: ?\d){9,33})")

# Taken without a word around it only when no other reading is likely: UPS's `1Z`, or a USPS
# IMpb (22 digits, `92`..`95`). A bare run of digits of another shape is a phone or reference
# number as often as a parcel: it must at least pass its carrier's check digit.
_UNAMBIGUOUS = re.compile(r"1Z[0-9A-Z]{16}|9[1-5][0-9]{20}")
_SAYS_TRACK = re.compile(r"\b(?:track(?:ing)?|parcel|package|shipment)\b")


def wanted(match: re.Match[str]) -> bool:
    """Whether the tracking command should answer: the message says "track", "tracking",
    "parcel" (or package, shipment), or the number has an unambiguous carrier prefix, or it is
    a valid number of some carrier (its check digit holds). Otherwise the text goes on to the
    other commands and, in a bank's thread, to its customer service: "5551234567" typed alone
    is the bank agent's phone number, not a parcel."""
    if _SAYS_TRACK.search(match.string):
        return True
    number = shape_of(match.group("number"))
    if number is None:
        return False
    if _UNAMBIGUOUS.fullmatch(number):
        return True
    try:
        parse_tracking_number(number)
    except InvalidInput:
        return False
    return True


async def reply(deps: Deps, grant: Grant, thread: ThreadRecord,
                match: re.Match[str]) -> tuple[str, list[dict[str, str]]]:
    """The carrier and the masked number, or why the number cannot be one (the check digit,
    or no carrier's shape), in the thread; nothing is raised."""
    try:
        parcel = parse_tracking_number(match.group("number"))
    except InvalidInput as exc:
        return str(exc) + ".", []
    if getattr(deps, "carrier", None) is not None:  # a carrier API to follow the parcel with
        return await parcels.follow(deps, grant, thread, parcel), []
    return (f"That's a {parcel.carrier.label} tracking number ({parcel.masked}). Following a parcel "
            "from a pasted number is not built yet; the parcel of an order from a linked shop is "
            "shown on its purchase.", [])
