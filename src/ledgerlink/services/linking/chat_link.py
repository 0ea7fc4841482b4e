"""Linking from a thread (docs/providers.md "From chat"): "link a bank" answers with the banks and
providers to choose from, as buttons into the link page flow, and a SimpleFIN setup token pasted
into the chat is claimed there.

A setup token is a bearer secret (whoever claims it first reads the accounts), so a message
holding one is never stored as written: the thread keeps `REDACTED` instead, and neither the
token nor the message is logged. It is recognised by what it is, the base64 of an http(s)
claim URL, not by where it was pasted.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import urlsplit

from ledgerlink.domain.chat import ThreadKind
from ledgerlink.domain.errors import DomainError
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking import provider_links
from ledgerlink.services.linking.provider_ports import LinkKind, provider_of
from ledgerlink.services.messaging import messenger
from ledgerlink.services.messaging.ports import ThreadRecord

__all__ = ["LINK_PATTERN", "REDACTED", "claim_pasted_token", "link_choices", "link_command", "setup_token_in"]

# "link a bank", "link my bank", "connect an account", "add a bank account", "link bank"...
LINK_PATTERN = (r"(?:i want to |please |can i |how do i )?(?:link|connect|add)(?: a| my| an| another| new)*"
                r" (?:bank|banks|bank account|account|accounts)(?: please)?")
REDACTED = "🔒 A SimpleFIN setup token (hidden: it is a secret, so it is not kept in the thread)"
_MIN_TOKEN, _MAX_TOKEN = 24, 4096
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")

Reply = tuple[str, list[dict[str, str]]]


def setup_token_in(text: str) -> str | None:
    """The SimpleFIN setup token in a message, if one of its words is one: base64 (standard or
    URL-safe) of an http(s) URL whose path has a claim step."""
    for word in text.split():
        if not _MIN_TOKEN <= len(word) <= _MAX_TOKEN or not _B64.issuperset(word):
            continue
        padded = word.replace("-", "+").replace("_", "/").rstrip("=")
        try:
            url = base64.b64decode(padded + "=" * (-len(padded) % 4), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname and "/claim" in parts.path:
            return word
    return None


async def link_choices(deps: Deps) -> Reply:
    """The banks (their link page, one choice) and the providers (their own page), as buttons."""
    banks: list[dict[str, str]] = []
    providers: list[dict[str, str]] = []
    for partner in await messenger.bank_partners(deps):
        try:
            provider = provider_of(deps.banks.connector(partner.id))
        except KeyError:  # registered by an earlier start, not configured now
            continue
        name = partner.name.removesuffix(" (simulator)")
        label = name + (" (simulator)" if partner.name.endswith("(simulator)") else "")
        if provider is None:
            banks.append({"label": label, "href": f"/link?bank={partner.slug}"})
        else:
            providers.append({"label": label, "href": f"/link/provider/{partner.slug}"})
    if not banks and not providers:
        return "No bank is available to link yet.", []
    lines = ["Choose where your money is:"]
    if banks:
        lines.append("• a bank: " + ", ".join(b["label"] for b in banks))
    if providers:
        names = ", ".join(p["label"] for p in providers)
        lines.append(f"• a bank-data provider that reaches your bank: {names}")
    if await _setup_token_partner(deps) is not None:
        lines.append("With SimpleFIN you can also paste your setup token here; it is claimed once and "
                     "never kept in the thread.")
    return "\n".join(lines), [*banks, *providers]


async def link_command(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    """The "link a bank" chat command."""
    return await link_choices(deps)


async def _setup_token_partner(deps: Deps) -> str | None:
    for partner in await messenger.bank_partners(deps):
        try:
            provider = provider_of(deps.banks.connector(partner.id))
        except KeyError:
            continue
        if provider is not None and provider.link_kind is LinkKind.SETUP_TOKEN:
            return partner.id
    return None


async def claim_pasted_token(deps: Deps, grant: Grant, thread: ThreadRecord, token: str) -> Reply:
    """Claim a pasted setup token and link what it shares (balances, transactions, alerts)."""
    partner_id = await _setup_token_partner(deps)
    if partner_id is None:
        return ("That looks like a SimpleFIN setup token, but SimpleFIN is not set up here, so it "
                "was not used. Nothing was linked."), [{"label": "Link a bank", "href": "/link"}]
    scopes = provider_links.CHOOSABLE_SCOPES
    try:
        thread_id = await provider_links.link_setup_token(deps, grant, partner_id=partner_id, token=token,
                                                          scopes=scopes)
    except DomainError as exc:
        # The reason is already in the system thread (links._fail); elsewhere it is said here too.
        if thread.kind == ThreadKind.SYSTEM.value:
            return "Nothing was linked: the reason is just above.", []
        return exc.detail, [{"label": "Try again", "href": "/link"}]
    return ("Linked through SimpleFIN. Your accounts' balances and transactions arrive in their "
            "own thread."), [{"label": "Open the bank's thread", "href": f"/threads/{thread_id}"}]
