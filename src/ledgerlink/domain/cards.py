"""Message cards: channel-neutral bodies, plus a plain-text rendering for text channels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgerlink.domain.banking import AccountView, Transaction, TransactionStatus
from ledgerlink.domain.categories import Correction, categorise
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.countries import country_name, currency_countries
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.mcc import Category, mcc_category
from ledgerlink.domain.receipts import receipt_text
from ledgerlink.domain.text import displayable


def category(mcc: str | None) -> str:
    """The category a merchant category code alone gives (ISO 18245, `domain/mcc.py`): for
    aggregates that see only the code. A transaction's own category is `transaction_category`."""
    try:
        found = mcc_category(mcc)
    except InvalidInput:
        found = None
    return (found or Category.OTHER).value


def transaction_category(txn: Transaction, corrections: Mapping[str, Correction] | None = None) -> str:
    """The transaction's category as `categories.categorise` decides it: the person's
    correction, a merchant rule, the MCC, the direction (issue 13)."""
    return categorise(merchant=txn.merchant, descriptor=txn.descriptor, mcc=txn.mcc,
                      amount=txn.amount, corrections=corrections).category.value


def account_label(account: AccountView) -> str:
    return f"{account.name} ••{account.last4}"


def balance_card(account: AccountView, *, shared: bool = True) -> dict[str, Any]:
    """`shared=False`: the link's consent leaves balances out (transactions only), and the card
    says so instead of "not available yet"."""
    b = account.balance
    extra: dict[str, Any] = {} if shared else {"balance_shared": False}
    return {**extra,
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
        "category": transaction_category(txn),
        "mcc": txn.mcc,
        "booking_date": None if txn.booking_date is None else txn.booking_date.isoformat(),
        "history": list(txn.history),
        **card_use(txn, account),
    }


def card_use(txn: Transaction, account: AccountView) -> dict[str, Any]:
    """Where and how the card was used, as the transaction card shows it (message templates):
    the merchant's country is named when the account's currency is not legal tender there."""
    country = txn.merchant_country
    day = txn.booking_date or txn.created_at.date()
    abroad = country is not None and country not in currency_countries(account.currency, day)
    return {
        "merchant_country": country,
        "country_name": country_name(country) if abroad and country else None,
        "card_present": txn.card_present,
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
    """The fallback rendering for text-only channels (and screen readers). Total: whatever a
    stored body holds, the text can be encoded and shown (`text.displayable`)."""
    return displayable(_plain_text(kind, body))


def _plain_text(kind: CardKind, body: dict[str, Any]) -> str:
    if kind is CardKind.TRANSACTION:
        status = _STATUS_WORDS.get(body["status"], body["status"])
        line = f"{status}: {body['merchant']} {body['amount']} {body['currency']} ({body['account']})"
        extra = receipt_text(body)  # the receipt, parcel and refund on it (issue 11)
        return line + _card_use_text(body) + (f"\n{extra}" if extra else "")
    if kind is CardKind.BALANCE:
        if body.get("balance_shared") is False:
            return f"{body['account']}: balance not shared (you linked its transactions only)"
        if body["current"] is None:
            return f"{body['account']}: balance not available yet"
        line = f"{body['account']}: balance {body['current']} {body['currency']}"
        if body.get("available") is not None:
            line += f", available {body['available']} {body['currency']}"
        return line
    if kind is CardKind.DIGEST:
        return digest_text(body)
    if kind is CardKind.FRAUD and "merchant" in body:  # Matrix channel: the prompt in words
        return (f"{body.get('title', 'Was this you?')} {body['merchant']} {body['amount']} "
                f"{body['currency']} ({body['account']}): {body.get('reason', 'unusual activity')}")
    return str(body.get("text", ""))


def _card_use_text(body: dict[str, Any]) -> str:
    where = [f"in {body['country_name']}"] if body.get("country_name") else []
    if body.get("card_present") is False:
        where.append("online")
    return f", {' '.join(where)}" if where else ""


# --------------------------------------------------------------------------- notification previews

DISCLOSURE_LEVELS = ("full", "amount_hidden", "merchant_hidden", "minimal")
MINIMAL_PREVIEW = "You have an account update"
MESSAGE_PREVIEW = "You have a new message"


def preview_text(kind: CardKind, body: dict[str, Any], level: str) -> str:
    """The preview of a message outside the open thread (notification, live frame `text`),
    cut down to what the person chose to show there. An unknown level shows the least.
    Total, as `plain_text`."""
    return displayable(_preview_text(kind, body, level))


def _preview_text(kind: CardKind, body: dict[str, Any], level: str) -> str:
    if level == "full":
        return plain_text(kind, body)
    if kind is CardKind.DIGEST:  # names amounts and merchants: only what it is, below full
        what = DIGEST_PREVIEWS.get(str(body.get("digest", "")), MINIMAL_PREVIEW)
        return MINIMAL_PREVIEW if level == "minimal" else what
    if kind is CardKind.TRANSACTION and level in ("amount_hidden", "merchant_hidden"):
        status = _STATUS_WORDS.get(body["status"], body["status"])
        if level == "amount_hidden":
            return f"{status}: {body['merchant']} ({body['account']})"
        return f"{status}: {body['amount']} {body['currency']} ({body['account']})"
    if kind is CardKind.BALANCE and level == "merchant_hidden":
        return plain_text(kind, body)  # a balance names no merchant
    if kind is CardKind.BALANCE and level == "amount_hidden":
        return f"{body['account']}: balance updated"
    if kind is CardKind.DECLINED and level in ("amount_hidden", "merchant_hidden"):  # message templates
        what = body["merchant"] if level == "amount_hidden" else f"{body['amount']} {body['currency']}"
        return f"Card declined: {what} ({body['account']})"
    if kind in (CardKind.TRANSACTION, CardKind.BALANCE, CardKind.DECLINED):
        return MINIMAL_PREVIEW
    # Free text (answers to questions, notices) may quote amounts or merchants: never previewed.
    return MESSAGE_PREVIEW


# --------------------------------------------------------------------------- digests

DIGEST_PREVIEWS = {
    "daily": "Your daily digest is ready",
    "weekly": "Your weekly digest is ready",
    "away": "Alerts held during your quiet hours are ready",
}


def _purchases(n: int) -> str:
    return f"{n} purchase{'' if n == 1 else 's'}"


def digest_text(body: dict[str, Any]) -> str:
    """A digest (domain/digest_body.py) as plain text, one fact per line."""
    lines = [f"{body.get('title', 'Digest')}, {body.get('period', {}).get('label', '')}"]
    for c in body.get("currencies") or []:
        cur = c["currency"]
        if c["purchases"]:
            cats = ", ".join(f"{x['name']} {x['amount']}" for x in c["categories"])
            lines.append(f"Spent {c['spent']} {cur} in {_purchases(c['purchases'])}: {cats}")
            largest = ", ".join(f"{x['merchant']} {x['amount']} {cur}" for x in c["largest"])
            lines.append(f"Largest: {largest}")
        if c["deposit_count"]:
            lines.append(f"Deposits: +{c['deposited']} {cur} in {c['deposit_count']}: "
                         + ", ".join(f"{x['merchant']} {x['amount']}" for x in c["deposits"]))
        if c.get("refunds"):
            lines.append(f"Refunds: +{c['refunds']} {cur} (not subtracted from spending)")
    if body.get("digest") != "away" and not body.get("currencies"):
        lines.append("No purchases or deposits.")
    balances = body.get("balances") or []
    if balances:
        shown = [
            f"{b['account']} not available" if b["current"] is None
            else f"{b['account']} {b['current']} {b['currency']}"
            for b in balances
        ]
        lines.append("Balances: " + "; ".join(shown))
    if body.get("budgets"):  # issue 13: monthly budget progress
        lines.append("Budgets this month: " + "; ".join(str(b) for b in body["budgets"]))
    held = body.get("held") or []
    if held:
        lines.append(f"Held during quiet hours ({len(held)}):")
        lines.extend(f"• {h['bank']}: {h['text']}" if h.get("bank") else f"• {h['text']}" for h in held)
    elif body.get("digest") != "away":
        lines.append("No alerts were held.")
    return "\n".join(lines)
