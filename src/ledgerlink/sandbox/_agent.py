"""The customer-service agent: keyword rules with specific answers from the books.

It acts only on the accounts of the consent the message came through, tells only what that
consent's scopes allow, and replies asynchronously through the bank's message outbox. The
person's text is never logged: only the message id and the rule that answered.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from decimal import Decimal

from ledgerlink.domain.clock import Clock
from ledgerlink.sandbox._ledger import Ledger
from ledgerlink.sandbox._messages import MessageOutbox, MessageRecord
from ledgerlink.sandbox._model import Account, Consent, TxnKind
from ledgerlink.sandbox._wording import card_label, money
from ledgerlink.sandbox.config import SandboxConfig

log = logging.getLogger("ledgerlink.sandbox.agent")

# Checked in this order: "I lost my card, freeze it" is about a lost card.
LOST = re.compile(r"\b(lost|stolen|stole|theft|missing)\b")
UNFREEZE = re.compile(r"\b(unfreeze|unfrozen|frozen|unblock|blocked|unlock|reactivate)\b")
FREEZE = re.compile(r"\b(freeze|block|lock)\b")
FEE = re.compile(r"\bfees?\b")
BALANCE = re.compile(r"\b(balances?|how much (money )?do i have)\b")


def topic_of(text: str, limit: int = 60) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[:limit - 1].rstrip() + "…"


class ServiceAgent:
    """The bank hands it its config (for its name), books, clock and message outbox: the
    agent does not import the bank."""

    def __init__(self, *, config: SandboxConfig, ledger: Ledger, clock: Clock,
                 messages: MessageOutbox) -> None:
        self._config = config
        self._ledger = ledger
        self._clock = clock
        self._messages = messages

    def receive(self, consent: Consent, *, message_id: str, text: str) -> MessageRecord:
        rule, reply = self.answer(consent, text)
        log.info("service message %s answered by rule %s", message_id, rule)
        return self._messages.send(consent, kind="service", text=reply,
                                   in_reply_to={"message_id": message_id})

    def answer(self, consent: Consent, text: str) -> tuple[str, str]:
        """(rule name, reply). Acts on the bank (freeze, unfreeze) as it answers."""
        said = text.lower()
        if LOST.search(said):
            return "lost_card", self._freeze(consent, said, lost=True)
        if UNFREEZE.search(said):
            return "unfreeze", self._unfreeze(consent)
        if FREEZE.search(said):
            return "freeze", self._freeze(consent, said, lost=False)
        if FEE.search(said):
            return "fee", self._fee(consent)
        if BALANCE.search(said):
            return "balance", self._balance(consent)
        return "handover", (f"Thanks, I've passed this to the {self._config.name} team; "
                            f"we answer within one business day. Your topic: "
                            f"\u201c{topic_of(text)}\u201d.")

    def _accounts(self, consent: Consent) -> list[Account]:
        return [self._ledger.accounts[a] for a in consent.account_ids]

    def _cards(self, consent: Consent) -> list[Account]:
        return [a for a in self._accounts(consent) if a.type in ("credit_card", "checking")]

    def _freeze(self, consent: Consent, said: str, *, lost: bool) -> str:
        cards = self._cards(consent)
        if not cards:
            return ("None of the accounts you connected here has a card. Call us and we will "
                    "block any card of yours right away.")
        wanted = "checking" if "debit" in said else "credit_card"
        card = min(cards, key=lambda a: (a.type != wanted, a.account_id))
        card.frozen = True
        if lost:
            return (f"I've frozen your {card_label(card)} so nobody can use it, and a new card "
                    "is on its way. If the old one turns up, write 'unfreeze my card' here.")
        return (f"I've frozen your {card_label(card)}. Write 'unfreeze my card' here when you "
                "want it back.")

    def _unfreeze(self, consent: Consent) -> str:
        frozen = [a for a in self._cards(consent) if a.frozen]
        if not frozen:
            cards = self._cards(consent)
            if not cards:
                return "None of the accounts you connected here has a card."
            return (f"Your {card_label(cards[0])} is not frozen: it works as usual. If a "
                    "payment was refused, write to us what happened and where.")
        for card in frozen:
            card.frozen = False
        names = " and ".join(f"your {card_label(c)}" for c in frozen)
        return f"I've unfrozen {names}; you can use {'it' if len(frozen) == 1 else 'them'} again right away."

    def _fee(self, consent: Consent) -> str:
        if "transactions" not in consent.scopes:
            return ("I can't show transactions here: this connection does not include them. "
                    "Online banking lists every fee.")
        mine = set(consent.account_ids)
        fees = sorted((t for t in self._ledger.txns.values()
                       if t.account_id in mine and t.kind is TxnKind.FEE and not t.removed),
                      key=lambda t: (t.created_at, t.transaction_id))
        if not fees:
            return "There are no fees on the accounts you connected here."
        latest = fees[-1]
        account = self._ledger.accounts[latest.account_id]
        booked = latest.booking_date or latest.value_date
        since = self._clock.now() - timedelta(days=30)
        recent = [t for t in fees
                  if t.currency == latest.currency and t.created_at >= since]
        total = sum((t.amount for t in recent), Decimal(0))
        return (f"The latest fee is {money(latest.amount, latest.currency)} on your "
                f"{account.name} ending {account.mask}, booked {booked}: {latest.descriptor}. "
                f"In the last 30 days you paid {len(recent)} fee"
                f"{'' if len(recent) == 1 else 's'}, {money(total, latest.currency)} in all.")

    def _balance(self, consent: Consent) -> str:
        if "balances" not in consent.scopes:
            return ("I can't show balances here: this connection does not include them. "
                    "Online banking shows them any time.")
        now = self._clock.now()
        lines = []
        for account in self._accounts(consent):
            bal = self._ledger.balance(account.account_id, now=now)
            lines.append(f"{account.name} ending {account.mask}: {bal['current']} "
                         f"{bal['currency']} (available {bal['available']} {bal['currency']})")
        return "Your balances right now: " + "; ".join(lines) + "."
