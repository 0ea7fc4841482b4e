"""Message cards: channel-neutral bodies, plus a plain-text rendering for text channels."""

from __future__ import annotations

from typing import Any

from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.chat import CardKind
from ledgerlink.services.access import AccountView

# A small MCC -> category table; a fuller taxonomy arrives with spending questions.
_MCC_CATEGORIES: dict[str, str] = {
    "5411": "Groceries", "5412": "Groceries", "5499": "Groceries", "5300": "Groceries",
    "5812": "Restaurants", "5813": "Bars", "5814": "Fast food & coffee",
    "5541": "Fuel", "5542": "Fuel", "4121": "Taxi & rideshare", "4111": "Transit",
    "4899": "Subscriptions", "5815": "Subscriptions", "5818": "Digital goods",
    "5942": "Books & online", "5999": "Shopping", "5311": "Shopping", "5310": "Shopping",
    "5200": "Home & garden", "5712": "Home & garden", "5732": "Electronics",
    "5912": "Pharmacy", "5977": "Beauty", "4900": "Utilities", "6011": "Cash",
    "3058": "Travel", "3509": "Travel", "4511": "Travel", "7011": "Travel",
    "5651": "Clothing", "5691": "Clothing", "7832": "Entertainment", "5945": "Shopping",
    "8011": "Health", "6300": "Insurance",
}  # fmt: skip


def category(mcc: str | None) -> str:
    return _MCC_CATEGORIES.get(mcc or "", "Other")


def account_label(account: AccountView) -> str:
    return f"{account.name} ••{account.last4}"


def balance_card(account: AccountView) -> dict[str, Any]:
    b = account.balance
    return {
        "account_id": account.id,
        "account": account_label(account),
        "account_type": account.type.value,
        "currency": account.currency,
        "current": None if b is None else str(b.current.amount),
        "available": None if b is None or b.available is None else str(b.available.amount),
        "as_of": None if b is None else b.as_of.isoformat(),
    }


def transaction_card(txn: Transaction, account: AccountView) -> dict[str, Any]:
    return {
        "transaction_id": txn.id,
        "account": account_label(account),
        "status": txn.status.value,
        "amount": str(txn.amount.amount),
        "currency": txn.amount.currency,
        "direction": "out" if txn.amount.is_negative() else "in",
        "merchant": txn.merchant or txn.descriptor,
        "descriptor": txn.descriptor,
        "category": category(txn.mcc),
        "mcc": txn.mcc,
        "booking_date": None if txn.booking_date is None else txn.booking_date.isoformat(),
        "history": list(txn.history),
    }


def text_card(
    text: str, *, tone: str = "info", actions: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"text": text, "tone": tone, "actions": actions or []}


_STATUS_WORDS = {
    TransactionStatus.PENDING.value: "Pending",
    TransactionStatus.POSTED.value: "Posted",
    TransactionStatus.REMOVED.value: "Cancelled",
}


def plain_text(kind: CardKind, body: dict[str, Any]) -> str:
    """The fallback rendering for text-only channels (and screen readers)."""
    if kind is CardKind.TRANSACTION:
        status = _STATUS_WORDS.get(body["status"], body["status"])
        return f"{status}: {body['merchant']} {body['amount']} {body['currency']} ({body['account']})"
    if kind is CardKind.BALANCE:
        if body["current"] is None:
            return f"{body['account']}: balance not available yet"
        line = f"{body['account']}: balance {body['current']} {body['currency']}"
        if body.get("available") is not None:
            line += f", available {body['available']} {body['currency']}"
        return line
    return str(body.get("text", ""))


# --------------------------------------------------------------------------- notification previews

DISCLOSURE_LEVELS = ("full", "amount_hidden", "merchant_hidden", "minimal")
MINIMAL_PREVIEW = "You have an account update"
MESSAGE_PREVIEW = "You have a new message"


def preview_text(kind: CardKind, body: dict[str, Any], level: str) -> str:
    """The preview of a message outside the open thread (notification, live frame `text`),
    cut down to what the person chose to show there. An unknown level shows the least."""
    if level == "full":
        return plain_text(kind, body)
    if kind is CardKind.TRANSACTION and level in ("amount_hidden", "merchant_hidden"):
        status = _STATUS_WORDS.get(body["status"], body["status"])
        if level == "amount_hidden":
            return f"{status}: {body['merchant']} ({body['account']})"
        return f"{status}: {body['amount']} {body['currency']} ({body['account']})"
    if kind is CardKind.BALANCE and level == "merchant_hidden":
        return plain_text(kind, body)  # a balance names no merchant
    if kind is CardKind.BALANCE and level == "amount_hidden":
        return f"{body['account']}: balance updated"
    if kind in (CardKind.TRANSACTION, CardKind.BALANCE):
        return MINIMAL_PREVIEW
    # Free text (answers to questions, notices) may quote amounts or merchants: never previewed.
    return MESSAGE_PREVIEW
