"""How the bank words money and cards in what it writes to the person (the service agent's
replies and the fraud desk's alerts and outcomes)."""

from __future__ import annotations

from decimal import Decimal

from ledgerlink.sandbox._model import CENT, Account


def money(amount: Decimal, currency: str) -> str:
    return f"{abs(amount).quantize(CENT)} {currency}"


def card_label(account: Account) -> str:
    if account.type == "credit_card":
        return f"{account.name} ending {account.mask}"
    return f"{account.name} debit card ending {account.mask}"
