"""Fraud alerts: "Was this you?" about a pending card charge, the person's answer, and the
bank's policy when nobody answers (docs/bank-dialogue.md).

An alert is pushed as the signed event `fraud.alert` to the subscriptions of every active
consent that covers the account with scope `transactions`; those consents may answer it.
While an alert is open the charge is held (the simulator neither posts nor voids it).
`denied` freezes the card and voids the charge; `confirmed` clears it; at `expires_at` an
unanswered alert closes and `on_no_answer` applies. The outcome is posted to each of those
consents' threads as a `fraud_outcome` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledgerlink.domain.clock import Clock
from ledgerlink.sandbox._ledger import Ledger
from ledgerlink.sandbox._messages import MessageOutbox
from ledgerlink.sandbox._model import (
    Account,
    CardDeclined,
    Consent,
    Decline,
    Problem,
    Txn,
    TxnKind,
    iso,
)
from ledgerlink.sandbox._wording import card_label, money
from ledgerlink.sandbox.merchants import Merchant, by_name
from ledgerlink.sandbox.simulator import Activity

log = logging.getLogger("ledgerlink.sandbox.fraud")

POLICIES = ("freeze_card", "allow")
SIMULATED_RATE = 0.01  # share of simulator steps that add an odd purchase with an alert


def _odd(name: str, descriptor: str, mcc: str, low: str, high: str, country: str) -> Merchant:
    return Merchant(name=name, descriptor=descriptor, mcc=mcc, low=Decimal(low),
                    high=Decimal(high), weight=0, country=country, online=True)


# Online shops abroad that no demo customer ever buys from: what a fraud engine flags.
ODD_MERCHANTS: tuple[Merchant, ...] = (
    _odd("LuxeTime Geneva", "LUXETIME.COM GENEVA", "5944", "890.00", "2400.00", "CH"),
    _odd("GiftCardHub", "GIFTCARDHUB.COM*{code}", "5999", "200.00", "500.00", "CY"),
    _odd("CoinFlash Exchange", "COINFLASH.COM*{code}", "6051", "250.00", "900.00", "MT"),
    _odd("Kairo Electronics", "KAIROELECTRONICS.COM", "5732", "649.00", "1899.00", "HK"),
)


def odd_merchant(name: str) -> Merchant | None:
    wanted = name.strip().lower()
    return next((m for m in ODD_MERCHANTS if m.name.lower() == wanted), None)


@dataclass(slots=True)
class FraudAlert:
    alert_id: str
    account_id: str
    transaction_id: str
    merchant_name: str
    amount: Decimal  # negative: money out
    currency: str
    at: datetime
    reason: str
    remind_after_seconds: int
    expires_at: datetime
    on_no_answer: str
    consent_ids: tuple[str, ...]  # who was asked, and so who may answer
    status: str = "open"  # open | card_frozen | cleared | expired_frozen | expired_allowed
    closed_at: datetime | None = None

    def wire(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "transaction_id": self.transaction_id,
                "merchant_name": self.merchant_name, "amount": str(self.amount),
                "currency": self.currency, "at": iso(self.at), "reason": self.reason,
                "remind_after_seconds": self.remind_after_seconds,
                "expires_at": iso(self.expires_at), "on_no_answer": self.on_no_answer}

    @property
    def charge(self) -> str:
        return f"the {money(self.amount, self.currency)} charge at {self.merchant_name}"


class FraudDesk:
    """The bank hands it its books, clock and message outbox, and its own ways to book an
    activity (`apply`), to push an event to a consent's subscriptions (`notify`) and to
    publish a booked charge or a decline: the desk does not import the bank."""

    def __init__(self, *, seed: int, ledger: Ledger, clock: Clock, messages: MessageOutbox,
                 apply: Callable[[Activity], str],
                 notify: Callable[[Consent, str, dict[str, Any]], None],
                 publish: Callable[[Txn], None],
                 publish_decline: Callable[[Decline], None]) -> None:
        self._ledger = ledger
        self._clock = clock
        self._messages = messages
        self._apply = apply
        self._notify = notify
        self._publish = publish
        self._publish_decline = publish_decline
        self._rng = random.Random(f"fraud:{seed}")  # simulated alerts only
        self._task: asyncio.Task[None] | None = None
        self.alerts: dict[str, FraudAlert] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="sandbox-fraud-due")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.run_due()
            except Exception:  # one bad alert must not stop the policy for the others
                log.exception("closing due fraud alerts failed")

    # ------------------------------------------------------------------ raising

    def holds(self, transaction_id: str | None) -> bool:
        """Whether an open alert holds this charge (the simulator leaves it alone)."""
        return transaction_id is not None and any(
            a.status == "open" and a.transaction_id == transaction_id
            for a in self.alerts.values())

    def raise_alert(self, transaction_id: str, *, reason: str, remind_after_seconds: int,
                    expires_in_seconds: int, on_no_answer: str) -> FraudAlert:
        txn = self._ledger.txn(transaction_id)
        if txn.kind is not TxnKind.PURCHASE or txn.status != "pending" or txn.removed:
            raise Problem(409, "not_pending", "fraud alerts are raised on live pending card "
                          "charges")
        if self.holds(transaction_id):
            raise Problem(409, "alert_exists", "an open fraud alert already asks about this "
                          "charge")
        if on_no_answer not in POLICIES:
            raise Problem(422, "bad_on_no_answer", f"on_no_answer is one of {', '.join(POLICIES)}")
        if not 1 <= len(reason.strip()) <= 200:
            raise Problem(422, "bad_reason", "the reason has 1-200 characters")
        if isinstance(remind_after_seconds, bool) or isinstance(expires_in_seconds, bool) \
                or not 0 <= remind_after_seconds < expires_in_seconds <= 7 * 86400:
            raise Problem(422, "bad_alert_timing", "need 0 <= remind_after_seconds < "
                          "expires_in_seconds <= 604800")
        now = self._clock.now()
        audience = tuple(c.consent_id for c in self._covering(txn.account_id, now))
        alert = FraudAlert(self._ledger.new_id("fra"), txn.account_id, txn.transaction_id,
                           txn.merchant_name or txn.descriptor, txn.amount, txn.currency,
                           txn.created_at, reason.strip(), remind_after_seconds,
                           now + timedelta(seconds=expires_in_seconds), on_no_answer, audience)
        self.alerts[alert.alert_id] = alert
        for consent_id in audience:
            consent = self._ledger.consents[consent_id]
            data = {"consent_id": consent_id, "account_id": alert.account_id,
                    "alert": alert.wire()}
            self._notify(consent, "fraud.alert", data)
        log.info("fraud alert %s raised on %s (asked %s consents)", alert.alert_id,
                 transaction_id, len(audience))
        return alert

    def _covering(self, account_id: str, now: datetime) -> list[Consent]:
        return [c for c in self._ledger.consents.values()
                if c.active(now) and account_id in c.account_ids and "transactions" in c.scopes]

    def odd_purchase(self, login: str, *, account_id: str | None, merchant: str | None,
                     amount: Decimal | None) -> Txn:
        """A card-not-present purchase at a shop the customer never uses (pending)."""
        chosen = None
        if merchant is not None:
            chosen = odd_merchant(merchant) or by_name(merchant)
            if chosen is None:
                raise Problem(422, "unknown_merchant", f"no merchant named {merchant!r}")
        if account_id is None:
            cards = [a for a in self._ledger.accounts_of(login) if a.type == "credit_card"]
            account_id = cards[0].account_id if cards else None
        chosen = chosen or self._ledger.rng.choice(ODD_MERCHANTS)
        try:  # a frozen card or one without the money declines it, as any purchase
            txn = self._ledger.purchase(login, now=self._clock.now(), account_id=account_id,
                                        merchant=chosen, amount=amount, authorise=True)
        except CardDeclined as declined:
            self._publish_decline(declined.decline)
            raise
        self._publish(txn)
        return txn

    def simulate(self) -> FraudAlert | None:
        """Now and then (SIMULATED_RATE of the steps) an odd purchase with an alert, for a
        customer who has linked the card (so someone is asked before the policy freezes it)."""
        if self._rng.random() >= SIMULATED_RATE:
            return None
        now = self._clock.now()
        usable = sorted((a for a in self._ledger.accounts.values()
                         if a.type in ("credit_card", "checking") and not a.frozen
                         and self._covering(a.account_id, now)),
                        key=lambda a: (a.login, a.type != "credit_card", a.account_id))
        if not usable:
            return None
        login = self._rng.choice(sorted({a.login for a in usable}))
        account = next(a for a in usable if a.login == login)
        merchant = self._rng.choice(ODD_MERCHANTS)
        try:
            txn = self.odd_purchase(login, account_id=account.account_id,
                                    merchant=merchant.name, amount=None)
        except CardDeclined:
            return None  # pushed as card.declined; nothing to ask about
        return self.raise_alert(txn.transaction_id, reason="unusual merchant",
                                remind_after_seconds=600, expires_in_seconds=3600,
                                on_no_answer="freeze_card")

    # ------------------------------------------------------------------ answers and policy

    def answer(self, consent: Consent, alert_id: str, answer: str) -> dict[str, str]:
        alert = self.alerts.get(alert_id)
        if alert is None or consent.consent_id not in alert.consent_ids:
            raise Problem(404, "alert_not_found", "no such fraud alert for this consent")
        now = self._clock.now()
        if alert.status == "open" and now >= alert.expires_at:
            self._expire(alert, now)
        if alert.status.startswith("expired"):
            raise Problem(409, "alert_expired", "this alert expired before it was answered; "
                          "the bank's policy has applied")
        if alert.status != "open":
            raise Problem(409, "alert_already_answered", "this alert was answered already")
        account = self._ledger.accounts[alert.account_id]
        if answer == "denied":
            undone = self._freeze_and_undo(alert, account)
            alert.status = "card_frozen"
            text = (f"We froze your {card_label(account)} and {undone}. "
                    "A new card is on its way.")
        else:
            alert.status = "cleared"
            text = f"Thanks, all clear: {alert.charge} stays on your account."
        alert.closed_at = now
        self._tell(alert, text)
        log.info("fraud alert %s answered: %s", alert_id, alert.status)
        return {"alert_id": alert_id, "status": alert.status}

    def run_due(self) -> list[str]:
        """Close every open alert past `expires_at` and apply its `on_no_answer`."""
        now = self._clock.now()
        due = [a for a in self.alerts.values() if a.status == "open" and now >= a.expires_at]
        for alert in due:
            self._expire(alert, now)
        return [a.alert_id for a in due]

    def _expire(self, alert: FraudAlert, now: datetime) -> None:
        account = self._ledger.accounts[alert.account_id]
        if alert.on_no_answer == "freeze_card":
            undone = self._freeze_and_undo(alert, account)
            alert.status = "expired_frozen"
            text = (f"We did not hear from you about {alert.charge}, so we froze your "
                    f"{card_label(account)} and {undone}. Write to us here to unfreeze it.")
        else:
            alert.status = "expired_allowed"
            text = (f"We did not hear from you about {alert.charge}, so we let the charge "
                    "through. If it was not you, write to us here and we will block the card.")
        alert.closed_at = now
        self._tell(alert, text)
        log.info("fraud alert %s expired unanswered: %s", alert.alert_id, alert.status)

    def _freeze_and_undo(self, alert: FraudAlert, account: Account) -> str:
        """Freeze the card and take the charge back; says what happened to the charge."""
        account.frozen = True
        txn = self._ledger.txns.get(alert.transaction_id)
        if txn is not None and txn.status == "pending" and not txn.removed:
            self._apply(Activity("void", transaction_id=txn.transaction_id))
            return f"cancelled {alert.charge}"
        posted = self._ledger.txns.get(txn.posted_as) if txn and txn.posted_as else None
        if posted is not None and -posted.amount - posted.refunded > 0:
            self._apply(Activity("refund", transaction_id=posted.transaction_id))
            return f"refunded {alert.charge}"
        return f"{alert.charge} was already cancelled"

    def _tell(self, alert: FraudAlert, text: str) -> None:
        now = self._clock.now()
        for consent_id in alert.consent_ids:
            consent = self._ledger.consents[consent_id]
            if consent.active(now):
                self._messages.send(consent, kind="fraud_outcome", text=text,
                                    in_reply_to={"alert_id": alert.alert_id})
