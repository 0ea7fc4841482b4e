"""What a digest says, computed from the person's opened data (pure: no reads, no clock).

Per currency (never added across currencies): money spent on purchases (posted and pending;
cancelled ones never count; refunds are listed apart, not subtracted) by category with the
total, the largest purchases, and deposits (money in that is not a card refund). Then the
current balances per bank and the alerts held during quiet hours. Amounts are decimal strings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ledgerlink.domain.alerts import HeldAlertView
from ledgerlink.domain.banking import AccountView, Transaction, TransactionStatus
from ledgerlink.domain.cards import account_label, transaction_category
from ledgerlink.domain.money import Money

LARGEST = 3
MAX_DEPOSITS = 10
SETTINGS_ACTION = {"label": "Digest settings", "href": "/settings/alerts#digest"}
TITLES = {"daily": "Your daily digest", "weekly": "Your weekly digest", "away": "While you were away"}


@dataclass(frozen=True, slots=True)
class Covered:
    """The local calendar days a digest covers, both included."""

    start: date
    end: date
    zone: str = "UTC"  # the person's IANA zone (issue 13; was a fixed UTC offset)

    def label(self) -> str:
        if self.start == self.end:
            return f"{self.start:%a}, {self.start:%b} {self.start.day}, {self.start.year}"
        first = f"{self.start:%b} {self.start.day}"
        if self.start.year != self.end.year:
            first += f", {self.start.year}"
        return f"{first} – {self.end:%b} {self.end.day}, {self.end.year}"


def local_day(txn: Transaction, zone: str) -> date:
    """The day a transaction belongs to: booked or first seen, whichever came first, so a
    purchase seen pending one day and posted the next is in one digest only (and history
    imported at linking stays on its own booking days)."""
    seen = txn.created_at.astimezone(ZoneInfo(zone)).date()
    return seen if txn.booking_date is None else min(txn.booking_date, seen)


def _add(totals: dict[str, Money], money: Money) -> None:
    cur = money.currency
    totals[cur] = totals[cur] + money if cur in totals else money


def _item(txn: Transaction, accounts: dict[str, AccountView], zone: str) -> dict[str, Any]:
    account = accounts.get(txn.account_id)
    return {
        "merchant": txn.merchant or txn.descriptor,
        "amount": str(abs(txn.amount.amount)),
        "account": "" if account is None else account_label(account),
        "day": local_day(txn, zone).isoformat(),
        "status": txn.status.value,
    }


def spending(txns: list[Transaction], accounts: list[AccountView], covered: Covered) -> list[dict[str, Any]]:
    """One block per currency with any purchase, deposit or refund in the covered days."""
    by_id = {a.id: a for a in accounts}
    chosen = [
        t for t in txns
        if t.status is not TransactionStatus.REMOVED
        and covered.start <= local_day(t, covered.zone) <= covered.end
    ]  # fmt: skip
    spent: dict[str, Money] = {}
    per_category: dict[str, dict[str, Money]] = defaultdict(dict)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    purchases: dict[str, list[Transaction]] = defaultdict(list)
    deposits: dict[str, list[Transaction]] = defaultdict(list)
    deposited: dict[str, Money] = {}
    refunds: dict[str, Money] = {}
    for t in chosen:
        cur = t.amount.currency
        if t.amount.is_negative():
            _add(spent, -t.amount)
            name = transaction_category(t)  # issue 13: merchant rules, not the MCC alone
            bucket = per_category[cur]
            bucket[name] = bucket[name] + (-t.amount) if name in bucket else -t.amount
            counts[(cur, name)] += 1
            purchases[cur].append(t)
        elif t.amount.amount > 0 and t.mcc is not None:  # a card refund, not income
            _add(refunds, t.amount)
        elif t.amount.amount > 0:
            _add(deposited, t.amount)
            deposits[cur].append(t)
    blocks = []
    for cur in sorted(set(spent) | set(deposited) | set(refunds)):
        categories = sorted(per_category[cur].items(), key=lambda kv: (-kv[1].amount, kv[0]))
        largest = sorted(purchases[cur], key=lambda t: (t.amount.amount, t.created_at, t.id))[:LARGEST]
        money_in = sorted(deposits[cur], key=lambda t: (-t.amount.amount, t.created_at, t.id))
        blocks.append(
            {
                "currency": cur,
                "spent": str(spent[cur].amount) if cur in spent else "0",
                "purchases": len(purchases[cur]),
                "categories": [
                    {"name": name, "amount": str(money.amount), "count": counts[(cur, name)]}
                    for name, money in categories
                ],
                "largest": [_item(t, by_id, covered.zone) for t in largest],
                "deposited": str(deposited[cur].amount) if cur in deposited else "0",
                "deposits": [_item(t, by_id, covered.zone) for t in money_in[:MAX_DEPOSITS]],
                "deposit_count": len(money_in),
                "refunds": str(refunds[cur].amount) if cur in refunds else None,
            }
        )
    return blocks


def balances(accounts: list[AccountView], banks: dict[str, str]) -> list[dict[str, Any]]:
    """Current balances of the accounts, with their bank's name (`banks`: link id -> name)."""
    out = []
    for a in accounts:
        b = a.balance
        out.append(
            {
                "bank": banks.get(a.link_id, ""),
                "account": account_label(a),
                "currency": a.currency,
                "current": None if b is None else str(b.current.amount),
                "available": None if b is None or b.available is None else str(b.available.amount),
            }
        )
    return out


def held(alerts: list[HeldAlertView], banks: dict[str, str]) -> list[dict[str, Any]]:
    """Alerts held during quiet hours, oldest first (`banks`: thread id -> name)."""
    return [
        {
            "bank": banks.get(h.thread_id, ""),
            "kind": h.kind,
            "text": h.text,
            "at": h.held_at.astimezone(UTC).isoformat(),
        }
        for h in sorted(alerts, key=lambda h: (h.held_at, h.id))
    ]


def digest_body(
    frequency: str,
    covered: Covered,
    *,
    currencies: list[dict[str, Any]],
    balance_list: list[dict[str, Any]],
    held_list: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "digest": frequency,
        "title": TITLES[frequency],
        "period": {
            "start": covered.start.isoformat(),
            "end": covered.end.isoformat(),
            "zone": covered.zone,
            "label": covered.label(),
        },
        "currencies": currencies,
        "balances": balance_list,
        "held": held_list,
        "actions": [SETTINGS_ACTION],
    }


def away_body(
    since: datetime, until: datetime, zone: str, held_list: list[dict[str, Any]]
) -> dict[str, Any]:
    start, end = since.astimezone(ZoneInfo(zone)), until.astimezone(ZoneInfo(zone))
    label = f"{start:%b} {start.day}, {start:%H:%M} – {end:%H:%M} ({start.tzname()})"
    return {
        "digest": "away",
        "title": TITLES["away"],
        "period": {
            "start": since.astimezone(UTC).isoformat(),
            "end": until.astimezone(UTC).isoformat(),
            "zone": zone,
            "label": label,
        },
        "currencies": [],
        "balances": [],
        "held": held_list,
        "actions": [SETTINGS_ACTION],
    }
