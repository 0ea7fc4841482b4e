"""The bank's books: customers, accounts, transactions with a per-account change log, consents.

Synchronous and in memory: every operation is a few dictionary updates, so the OAuth
callbacks (which Authlib calls synchronously) and the async routes can share it on one event
loop without locks. Operations return `Effect`s; the async `SandboxBank` turns them into pushes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledgerlink.sandbox._model import (
    CENT,
    DECLINE_REASONS,
    Account,
    CardDeclined,
    Change,
    Consent,
    Customer,
    Decline,
    Effect,
    Problem,
    Subscription,
    Txn,
    TxnKind,
    iso,
)
from ledgerlink.sandbox._seed import seed_bank
from ledgerlink.sandbox.merchants import CITIES, MERCHANTS, Merchant, country_of


class Ledger:
    def __init__(self, *, seed: int, now: datetime) -> None:
        self.seed = seed
        self.rng = random.Random(seed * 7919 + 1)  # descriptors and hook defaults
        self._counter = itertools.count(1)
        self._seq = itertools.count(1)
        self.customers: dict[str, Customer] = {}
        self.accounts: dict[str, Account] = {}
        self.txns: dict[str, Txn] = {}
        self.log: dict[str, list[Change]] = {}
        self.consents: dict[str, Consent] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.declines: dict[str, Decline] = {}  # declined authorisations (not transactions)
        self._salt = str(seed)
        seed_bank(self, random.Random(seed), now)
        # Demo customers, accounts and their history keep their ids across restarts; what
        # happens from now on gets ids salted with the start instant, so a restarted sandbox
        # never reuses the id of a different transaction or consent (same clock = same ids).
        self._salt = f"{seed}:{now.isoformat()}"

    # ------------------------------------------------------------------ ids and lookups

    def new_id(self, prefix: str) -> str:
        n = next(self._counter)
        digest = hashlib.sha256(f"{self._salt}:{prefix}:{n}".encode()).hexdigest()
        return f"{prefix}_{digest[:24]}"

    def customer(self, login: str) -> Customer:
        found = self.customers.get(login)
        if found is None:
            raise Problem(404, "customer_not_found", f"no customer with login {login!r}")
        return found

    def accounts_of(self, login: str) -> list[Account]:
        return [a for a in self.accounts.values() if a.login == login]

    def txn(self, transaction_id: str) -> Txn:
        found = self.txns.get(transaction_id)
        if found is None:
            raise Problem(404, "transaction_not_found", "no such transaction")
        return found

    def _account_for(self, login: str, account_id: str | None, types: tuple[str, ...]) -> Account:
        self.customer(login)
        if account_id is not None:
            acc = self.accounts.get(account_id)
            if acc is None or acc.login != login:
                raise Problem(404, "account_not_found", "no such account for this customer")
            return acc
        for kind in types:
            for acc in self.accounts_of(login):
                if acc.type == kind:
                    return acc
        raise Problem(422, "no_suitable_account", f"customer has no {'/'.join(types)} account")

    # ------------------------------------------------------------------ bookkeeping

    def add_txn(self, txn: Txn) -> None:
        self.txns[txn.transaction_id] = txn
        self._log(txn.account_id, "added", txn.transaction_id)

    def _log(self, account_id: str, op: str, transaction_id: str) -> None:
        self.log.setdefault(account_id, []).append(Change(next(self._seq), op, transaction_id))

    def descriptor(self, merchant: Merchant, currency: str) -> str:
        text = merchant.descriptor.format(
            store=self.rng.randrange(100, 9999),
            code="".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6)),
        )
        if ".COM" in text or merchant.country is not None:  # online, or abroad: city in the name
            return text
        return f"{text} {self.rng.choice(CITIES.get(currency, CITIES['USD']))}"

    def merchant_amount(self, merchant: Merchant) -> Decimal:
        low, high = int(merchant.low * 100), int(merchant.high * 100)
        return Decimal(self.rng.randint(low, high)) / 100

    # ------------------------------------------------------------------ money movements

    def purchase(self, login: str, *, now: datetime, account_id: str | None = None,
                 merchant: Merchant | None = None, amount: Decimal | None = None,
                 authorise: bool = False) -> Txn:
        """A card purchase, pending. With `authorise`, one the card cannot pay for (frozen,
        over the balance or the credit limit) is declined instead: CardDeclined."""
        acc = self._account_for(login, account_id, ("checking", "credit_card"))
        if acc.type == "savings":
            raise Problem(422, "card_not_allowed", "purchases are made from checking or card")
        merchant = merchant or self.rng.choice(MERCHANTS)
        preauth = merchant.preauth and amount is None
        if preauth:
            value = Decimal("1.00")
        else:
            value = abs(amount) if amount is not None else self.merchant_amount(merchant)
        reason = self.decline_reason(acc, value.quantize(CENT)) if authorise else None
        if reason is not None:
            raise CardDeclined(self.decline(login, now=now, account_id=acc.account_id,
                                            merchant=merchant, amount=value, reason=reason))
        txn = Txn(self.new_id("txn"), acc.account_id, TxnKind.PURCHASE, "pending",
                  -value.quantize(CENT), acc.currency, None, now.date(), merchant.name,
                  self.descriptor(merchant, acc.currency), merchant.mcc, now, preauth=preauth,
                  merchant_country=country_of(merchant, acc.currency),
                  card_present=not merchant.online)
        self.add_txn(txn)
        return txn

    def _pending(self, transaction_id: str) -> Txn:
        txn = self.txn(transaction_id)
        if txn.status != "pending" or txn.removed:
            raise Problem(409, "not_pending", "the transaction is not a live pending charge")
        return txn

    def adjust(self, transaction_id: str, *, amount: Decimal) -> Txn:
        """A pending charge changes amount (fuel pre-authorisation settles): `modified`."""
        txn = self._pending(transaction_id)
        txn.amount = -abs(amount).quantize(CENT)
        txn.preauth = False
        self._log(txn.account_id, "modified", txn.transaction_id)
        return txn

    def post(self, transaction_id: str, *, now: datetime,
             final_amount: Decimal | None = None) -> Txn:
        """The pending charge settles: a new posted transaction names it; the pending is removed."""
        pending = self._pending(transaction_id)
        amount = pending.amount if final_amount is None else -abs(final_amount).quantize(CENT)
        posted = Txn(self.new_id("txn"), pending.account_id, pending.kind, "posted", amount,
                     pending.currency, now.date(), pending.value_date, pending.merchant_name,
                     pending.descriptor, pending.mcc, now,
                     pending_transaction_id=pending.transaction_id,
                     merchant_country=pending.merchant_country, card_present=pending.card_present)
        pending.removed = True
        pending.posted_as = posted.transaction_id
        self.add_txn(posted)
        self._log(pending.account_id, "removed", pending.transaction_id)
        return posted

    def void(self, transaction_id: str) -> Txn:
        """The merchant releases the authorisation: the pending charge disappears."""
        pending = self._pending(transaction_id)
        pending.removed = True
        self._log(pending.account_id, "removed", pending.transaction_id)
        return pending

    def _posted(self, login: str, account_id: str | None, types: tuple[str, ...], *,
                kind: TxnKind, amount: Decimal, descriptor: str, now: datetime,
                merchant: str | None = None, mcc: str | None = None) -> Txn:
        acc = self._account_for(login, account_id, types)
        txn = Txn(self.new_id("txn"), acc.account_id, kind, "posted", amount.quantize(CENT),
                  acc.currency, now.date(), now.date(), merchant, descriptor, mcc, now)
        self.add_txn(txn)
        return txn

    def deposit(self, login: str, *, now: datetime, account_id: str | None = None,
                amount: Decimal | None = None, description: str | None = None) -> Txn:
        value = (abs(amount) if amount is not None
                 else Decimal(self.rng.randint(180000, 420000)) / 100)
        return self._posted(login, account_id, ("checking", "savings"), kind=TxnKind.DEPOSIT,
                            amount=value, descriptor=description or "PAYROLL DIRECT DEPOSIT",
                            now=now)

    def fee(self, login: str, *, now: datetime, account_id: str | None = None,
            amount: Decimal | None = None, description: str | None = None) -> Txn:
        value = abs(amount) if amount is not None else Decimal("12.00")
        return self._posted(login, account_id, ("checking", "credit_card", "savings"),
                            kind=TxnKind.FEE, amount=-value,
                            descriptor=description or "MONTHLY MAINTENANCE FEE", now=now)

    def refund(self, transaction_id: str, *, now: datetime, amount: Decimal | None = None) -> Txn:
        original = self.txn(transaction_id)
        if original.status != "posted" or original.kind is not TxnKind.PURCHASE:
            raise Problem(409, "not_refundable", "only posted purchases can be refunded")
        left = -original.amount - original.refunded
        value = left if amount is None else abs(amount).quantize(CENT)
        if value <= 0 or value > left:
            raise Problem(422, "refund_too_large", f"at most {left} can still be refunded")
        original.refunded += value
        acc = self.accounts[original.account_id]
        return self._posted(acc.login, acc.account_id, (acc.type,), kind=TxnKind.REFUND,
                            amount=value, descriptor=f"REFUND {original.descriptor}"[:120],
                            now=now, merchant=original.merchant_name, mcc=original.mcc)

    # ------------------------------------------------------------------ declined authorisations

    def decline_reason(self, acc: Account, value: Decimal) -> str | None:
        """Why the card cannot pay `value` now, or None when it can."""
        if acc.frozen:
            return "card_frozen"
        if value > self.available(acc.account_id):
            return "limit_exceeded" if acc.type == "credit_card" else "insufficient_funds"
        return None

    def decline(self, login: str, *, now: datetime, account_id: str | None = None,
                merchant: Merchant | None = None, amount: Decimal | None = None,
                reason: str = "insufficient_funds") -> Decline:
        """Record a declined authorisation (no transaction, no change-log entry)."""
        if reason not in DECLINE_REASONS:
            raise Problem(422, "unknown_reason", f"reason must be one of {', '.join(DECLINE_REASONS)}")
        acc = self._account_for(login, account_id, ("checking", "credit_card"))
        if acc.type == "savings":
            raise Problem(422, "card_not_allowed", "purchases are made from checking or card")
        merchant = merchant or self.rng.choice(MERCHANTS)
        value = abs(amount) if amount is not None else self.merchant_amount(merchant)
        if value == 0:
            raise Problem(422, "bad_amount", "a declined purchase has an amount above zero")
        decline = Decline(self.new_id("dcl"), acc.account_id, merchant.name, merchant.mcc,
                          value.quantize(CENT), acc.currency, reason, now,
                          country_of(merchant, acc.currency), not merchant.online)
        self.declines[decline.decline_id] = decline
        return decline

    @staticmethod
    def effects(txn: Txn) -> list[Effect]:
        voided = txn.removed and txn.posted_as is None
        kind = "transaction.removed" if voided else "transaction.updated"
        return [Effect(txn.account_id, kind, txn.transaction_id)]

    # ------------------------------------------------------------------ reads

    def balance(self, account_id: str, *, now: datetime) -> dict[str, Any]:
        acc = self.accounts[account_id]
        live = [t for t in self.txns.values() if t.account_id == account_id and not t.removed]
        current = acc.opening_balance + sum((t.amount for t in live if t.status == "posted"),
                                            Decimal(0))
        available = self.available(account_id)
        return {"account_id": account_id, "current": str(current.quantize(CENT)),
                "available": str(available.quantize(CENT)), "currency": acc.currency,
                "as_of": iso(now)}

    def available(self, account_id: str) -> Decimal:
        """What the account can still pay: current + pending (card: credit limit + current +
        pending; savings: current)."""
        acc = self.accounts[account_id]
        live = [t for t in self.txns.values() if t.account_id == account_id and not t.removed]
        current = acc.opening_balance + sum((t.amount for t in live if t.status == "posted"),
                                            Decimal(0))
        pending = sum((t.amount for t in live if t.status == "pending"), Decimal(0))
        if acc.type == "savings":
            return current
        if acc.type == "credit_card":
            return (acc.credit_limit or Decimal(0)) + current + pending
        return current + pending

    def sync(self, account_id: str, cursor: str | None, count: int) -> dict[str, Any]:
        """Replay the change log after `cursor`; within a page an id is reported once per list."""
        after = _decode_cursor(cursor, account_id)
        entries = [c for c in self.log.get(account_id, []) if c.seq > after]
        page, rest = entries[:count], entries[count:]
        added: dict[str, dict[str, Any]] = {}
        modified: dict[str, dict[str, Any]] = {}
        removed: dict[str, dict[str, str]] = {}
        for change in page:
            tid = change.transaction_id
            if change.op == "added":
                added[tid] = self.txns[tid].wire()
            elif change.op == "modified" and tid not in added:
                modified[tid] = self.txns[tid].wire()
            elif change.op == "removed":
                removed[tid] = {"transaction_id": tid}
        last = page[-1].seq if page else after
        return {"added": list(added.values()), "modified": list(modified.values()),
                "removed": list(removed.values()),
                "next_cursor": _encode_cursor(account_id, last), "has_more": bool(rest)}


def _encode_cursor(account_id: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{account_id}:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, account_id: str) -> int:
    if cursor is None or cursor == "":
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, acc, seq = raw.split(":")
        if version != "v1" or acc != account_id:
            raise ValueError(raw)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(400, "invalid_cursor", "the cursor is not one this account issued") from None


def history_start(now: datetime) -> datetime:
    return now - timedelta(days=30)
