""""my receipt address" in chat (issue 11, docs/receipts.md "Receipt emails"): the person's private
forwarding address (`ReceiptMail.address`, made on first ask and the same after), with what it
is for. The address is the person's: it goes into their own (sealed) thread, never into a log."""

from __future__ import annotations

import re

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.ports import ThreadRecord

__all__ = ["COMMAND", "EXAMPLE", "PATTERN", "PURPOSE", "reply"]

EXAMPLE = "my receipt address"
# Matched against the lower-cased text (question marks already gone).
PATTERN = re.compile(r"(?:(?:what(?:'s| is)|show(?: me)?|give me|send me)\s+)?(?:my\s+)?"
                     r"(?:receipts?|forwarding)(?:\s+(?:e-?mail|forwarding))?\s+(?:e-?mail\s+)?address")
PURPOSE = ("Forward order and shipping emails from shops to it, or give it as your email at checkout: "
           "I attach each receipt to its card payment. It is yours alone; only mail sent to it is read.")


async def reply(deps: Deps, grant: Grant, thread: ThreadRecord,
                match: re.Match[str]) -> tuple[str, list[dict[str, str]]]:
    if deps.receipt_address is None:
        return "Receipt emails are not available on this server.", []
    return f"Your receipt address is {await deps.receipt_address(grant)}\n{PURPOSE}", []


COMMAND = (EXAMPLE, PATTERN, reply)  # registered in services/questions/commands.py, after help
