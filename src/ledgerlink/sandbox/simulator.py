"""The activity simulator: what the demo customers do, decided by a seeded random generator.

`Simulator.step()` only reads the books and draws from its own `random.Random(seed)`; it returns
the activities, which `SandboxBank.apply()` books. Same seed + same steps = same activity.
Every demo customer lives, whether or not they have linked an app (a bank does not pause
its customers' lives for lack of a consent). Now and then a purchase is made abroad or from a
foreign shop online, and now and then one is for more than the account holds: the bank
declines it (`card.declined`) instead of booking it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from ledgerlink.sandbox._ledger import Ledger
from ledgerlink.sandbox._model import TxnKind
from ledgerlink.sandbox.merchants import ABROAD, EMPLOYERS, MERCHANTS, by_name

ABROAD_RATE = 0.04  # share of purchases made abroad or from a foreign shop online
OVERDRAW_RATE = 0.01  # share of debit purchases for more than the account holds: declined


@dataclass(frozen=True, slots=True)
class Activity:
    kind: str  # purchase | adjust | post | void | deposit | fee | refund | decline
    login: str | None = None
    account_id: str | None = None
    transaction_id: str | None = None
    merchant: str | None = None
    amount: Decimal | None = None
    description: str | None = None
    reason: str | None = None  # decline: why the bank declines


def _cents(rng: random.Random, low: Decimal, high: Decimal) -> Decimal:
    return Decimal(rng.randint(int(low * 100), int(high * 100))) / 100


class Simulator:
    def __init__(self, *, seed: int) -> None:
        self.rng = random.Random(seed)
        self.steps = 0

    def step(self, ledger: Ledger) -> list[Activity]:
        self.steps += 1
        rng = self.rng
        out: list[Activity] = []
        pendings = sorted((t for t in ledger.txns.values()
                           if t.status == "pending" and not t.removed),
                          key=lambda t: (t.created_at, t.transaction_id))
        for txn in pendings:
            merchant = by_name(txn.merchant_name or "")
            if txn.preauth and merchant is not None:
                if rng.random() < 0.6:  # the pump reports the real amount
                    out.append(Activity("adjust", transaction_id=txn.transaction_id,
                                        amount=_cents(rng, merchant.low, merchant.high)))
            elif rng.random() < 0.02:
                out.append(Activity("void", transaction_id=txn.transaction_id))
            elif rng.random() < 0.3:
                final = None
                if merchant is not None and merchant.tips and rng.random() < 0.7:
                    rate = Decimal(rng.randint(15, 22)) / 100
                    tip = (-txn.amount * rate).quantize(Decimal("0.01"))
                    final = -txn.amount + tip
                out.append(Activity("post", transaction_id=txn.transaction_id, amount=final))

        login = rng.choice(sorted(ledger.customers))
        accounts = ledger.accounts_of(login)
        roll = rng.random()
        if roll < 0.82:
            spendable = [a for a in accounts if a.type in ("checking", "credit_card")]
            account = rng.choice(spendable)
            if rng.random() < ABROAD_RATE:
                merchant = rng.choice(ABROAD)
            else:
                merchant = rng.choices(MERCHANTS, weights=[m.weight for m in MERCHANTS])[0]
            amount = None if merchant.preauth else _cents(rng, merchant.low, merchant.high)
            if account.type == "checking" and not merchant.preauth and rng.random() < OVERDRAW_RATE:
                # more than the account holds: the bank declines it (card.declined)
                left = max(ledger.available(account.account_id), Decimal(0))
                amount = left + _cents(rng, Decimal(5), Decimal(250))
            out.append(Activity("purchase", login=login, account_id=account.account_id,
                                merchant=merchant.name, amount=amount))
        elif roll < 0.90:
            checking = next(a for a in accounts if a.type == "checking")
            out.append(Activity("deposit", login=login, account_id=checking.account_id,
                                amount=_cents(rng, Decimal(1900), Decimal(3600)),
                                description=f"PAYROLL {rng.choice(EMPLOYERS)} DIR DEP"))
        elif roll < 0.94:
            checking = next(a for a in accounts if a.type == "checking")
            out.append(Activity("fee", login=login, account_id=checking.account_id,
                                amount=Decimal("12.00"), description="MONTHLY MAINTENANCE FEE"))
        else:
            mine = {a.account_id for a in accounts}
            refundable = sorted((t for t in ledger.txns.values()
                                 if t.account_id in mine and t.kind is TxnKind.PURCHASE
                                 and t.status == "posted" and t.refunded == 0),
                                key=lambda t: t.transaction_id)
            if refundable:
                original = rng.choice(refundable)
                partial = rng.random() < 0.3
                amount = (-original.amount / 2).quantize(Decimal("0.01")) if partial else None
                out.append(Activity("refund", transaction_id=original.transaction_id,
                                    amount=amount))
        return out

    def next_delay(self, *, mean_seconds: float, speed: float, rng: random.Random) -> float:
        """Wall-clock seconds until the next step (its own generator: timing never changes
        what happens)."""
        return rng.uniform(0.5 * mean_seconds, 1.5 * mean_seconds) / max(speed, 1e-6)
