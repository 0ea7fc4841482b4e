"""The platforms' own messaging rules, as pure functions (docs/platforms.md).

Messenger: standard messaging within 24 hours of the person's last message (`RESPONSE` to
what they asked, `UPDATE` otherwise); outside it only a message tag that fits the content:
`ACCOUNT_UPDATE` (fraud prompts, account alerts), `POST_PURCHASE_UPDATE` (receipts, shipping),
`CONFIRMED_EVENT_UPDATE` (none of ours yet), `HUMAN_AGENT` (a bank agent's reply, within 7
days of the person's last message). WhatsApp: free-form messages (text, reply buttons) only
inside the 24-hour customer-service window; outside it only a pre-approved template.
Everything else outside the window is not sent there: it waits in the thread and the digest,
and the next time the person writes they are told how many updates waited.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "HUMAN_AGENT_WINDOW",
    "TEMPLATES",
    "WINDOW",
    "Category",
    "Decision",
    "categorize",
    "messenger_decision",
    "whatsapp_decision",
    "window_open",
]

WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


class Category(enum.StrEnum):
    FRAUD_PROMPT = "fraud_prompt"  # "Was this you?" and its reminder
    ACCOUNT_ALERT = "account_alert"  # alert rules, declines, link status, the bank's fraud outcome
    LOW_BALANCE = "low_balance"
    CONSENT_EXPIRING = "consent_expiring"
    CUSTOMER_SERVICE = "customer_service"  # a bank agent's reply to the person
    RECEIPT = "receipt"  # issue 11: a receipt template (a receipt new on its card, or its items changed)
    SHIPPING = "shipping"  # issue 11: parcel steps and refunds of a receipt card, out for delivery, delivered
    REPLY = "reply"  # ledgerlink's answer to what the person asked
    UPDATE = "update"  # transaction and balance cards, digests, anything else
    OWN = "own"  # the person's own words: never echoed


# WhatsApp: the template that may carry each category outside the window (the definitions we
# submit are in adapters/channels/whatsapp_templates/).
TEMPLATES = {
    Category.FRAUD_PROMPT: "ledgerlink_fraud_alert",
    Category.LOW_BALANCE: "ledgerlink_low_balance",
    Category.CONSENT_EXPIRING: "ledgerlink_consent_expiring",
    Category.SHIPPING: "ledgerlink_delivery_update",
}

_MESSENGER_TAGS = {
    Category.FRAUD_PROMPT: "ACCOUNT_UPDATE",
    Category.ACCOUNT_ALERT: "ACCOUNT_UPDATE",
    Category.LOW_BALANCE: "ACCOUNT_UPDATE",
    Category.CONSENT_EXPIRING: "ACCOUNT_UPDATE",
    Category.RECEIPT: "POST_PURCHASE_UPDATE",
    Category.SHIPPING: "POST_PURCHASE_UPDATE",
    Category.CUSTOMER_SERVICE: "HUMAN_AGENT",
}


def categorize(*, kind: str, subject_key: str | None, author: str, bank_kind: str | None = None) -> Category:
    """Which rule a message falls under, from what is stored in the clear (its kind and subject)
    and who wrote it; `bank_kind` (service | fraud_outcome | notice) for a bank's own message."""
    subject = subject_key or ""
    if author == "person":
        return Category.OWN
    if subject.startswith(("fraud:", "fraud-reminder:")):
        return Category.FRAUD_PROMPT
    if subject.startswith("alert:low:"):
        return Category.LOW_BALANCE
    if subject.startswith("alert:"):
        return Category.ACCOUNT_ALERT
    if subject.startswith("link:expiring:"):
        return Category.CONSENT_EXPIRING
    if subject.startswith("link:"):
        return Category.ACCOUNT_ALERT
    if subject.startswith("receipt:"):
        return Category.RECEIPT
    if subject.startswith(("shipment:", "order:")):
        return Category.SHIPPING
    if author == "bank":
        return (
            Category.ACCOUNT_ALERT if bank_kind in ("fraud_outcome", "notice") else Category.CUSTOMER_SERVICE
        )
    if subject.startswith(("txn:", "balance:", "digest:")) or kind != "text" or subject:
        return Category.UPDATE
    return Category.REPLY


def window_open(last_inbound_at: datetime | None, now: datetime, span: timedelta = WINDOW) -> bool:
    return last_inbound_at is not None and timedelta(0) <= now - last_inbound_at < span


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether and how a message goes out. `reason` is stable words for the delivery row."""

    send: bool
    reason: str
    messaging_type: str | None = None  # Messenger: RESPONSE | UPDATE | MESSAGE_TAG
    tag: str | None = None  # Messenger: the message tag outside the window
    template: str | None = None  # WhatsApp: the template outside the window

    @classmethod
    def hold(cls, reason: str = "outside_window") -> Decision:
        return cls(False, reason)


def messenger_decision(category: Category, *, last_inbound_at: datetime | None, now: datetime) -> Decision:
    if category is Category.OWN:
        return Decision.hold("own_message")
    if window_open(last_inbound_at, now):
        kind = "RESPONSE" if category in (Category.REPLY, Category.CUSTOMER_SERVICE) else "UPDATE"
        return Decision(True, "in_window", messaging_type=kind)
    tag = _MESSENGER_TAGS.get(category)
    if tag == "HUMAN_AGENT" and not window_open(last_inbound_at, now, HUMAN_AGENT_WINDOW):
        return Decision.hold("outside_human_agent_window")
    if tag is None:
        return Decision.hold()
    return Decision(True, f"tag:{tag}", messaging_type="MESSAGE_TAG", tag=tag)


def whatsapp_decision(
    category: Category, *, last_inbound_at: datetime | None, now: datetime, follow_up: bool = False
) -> Decision:
    """`follow_up`: an update to a message already shown (no template says "update to the
    message above", so outside the window it waits)."""
    if category is Category.OWN:
        return Decision.hold("own_message")
    if window_open(last_inbound_at, now):
        return Decision(True, "in_window")
    template = None if follow_up else TEMPLATES.get(category)
    if template is None:
        return Decision.hold()
    return Decision(True, f"template:{template}", template=template)
