"""The sandbox bank's payment cards: what a customer types into a shop's checkout.

A credit card account's number is its card number already (a Luhn-valid test PAN); a checking
account gets a debit card whose number is derived from the bank's seed and the account id, so
it is the same on every start, and ends with the account's last 4 (the mask the bank's API
shows, which a shop's receipt is matched on). Expiry and security code are derived the same way. The customer
sees them on the bank's own portal page; a shop sends them to `SandboxBank.card_purchase`, which
answers with the last 4 only. A full card number never goes into a log, a URL or an error."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

from ledgerlink.sandbox._model import Account, Problem
from ledgerlink.sandbox._numbers import luhn_valid

__all__ = ["CardDetails", "card_of", "find_card"]

CARD_TYPES = ("checking", "credit_card")


@dataclass(frozen=True, slots=True)
class CardDetails:
    account_id: str
    pan: str
    exp_month: int
    exp_year: int  # four digits
    cvc: str

    @property
    def last4(self) -> str:
        return self.pan[-4:]

    @property
    def grouped(self) -> str:
        return " ".join(self.pan[i:i + 4] for i in range(0, len(self.pan), 4))

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year % 100:02d}"

    def expired(self, today: date) -> bool:
        return (self.exp_year, self.exp_month) < (today.year, today.month)


def _digest(seed: int, account_id: str, what: str) -> bytes:
    return hmac.new(f"sandbox-card:{seed}".encode(), f"{account_id}:{what}".encode(), hashlib.sha256).digest()


def card_of(account: Account, *, seed: int, issued: date) -> CardDetails | None:
    """The card of a checking or credit card account (a savings account has none). `issued`:
    the bank's start day; cards are valid 2 to 4 years from then."""
    if account.type not in CARD_TYPES:
        return None
    if account.type == "credit_card" and luhn_valid(account.number):
        pan = account.number
    else:  # a debit card: "4" (Visa-like test range), digits from the digest, a digit that makes
        # the Luhn sum hold, and the account's last 4, which the bank's API shows as its mask
        digits = str(int.from_bytes(_digest(seed, account.account_id, "pan")[:8], "big"))[-10:].zfill(10)
        pan = next(p for p in ("4" + digits + d + account.mask for d in "0123456789") if luhn_valid(p))
    more = _digest(seed, account.account_id, "exp-cvc")
    return CardDetails(account.account_id, pan, 1 + more[0] % 12, issued.year + 2 + more[1] % 3,
                       f"{int.from_bytes(more[2:4], 'big') % 1000:03d}")


def find_card(accounts: list[Account], *, seed: int, issued: date, today: date, pan: str, exp_month: int,
              exp_year: int, cvc: str) -> CardDetails:
    """The card a shop's checkout names, checked as a card network would: the number (digits
    only, Luhn), then expiry and security code. Errors never repeat the number."""
    number = "".join(ch for ch in pan if ch not in " -")
    if not number.isdigit() or not 13 <= len(number) <= 19 or not luhn_valid(number):
        raise Problem(422, "card_number_invalid", "that is not a valid card number (check the digits)")
    if exp_year < 100:
        exp_year += 2000
    if not 1 <= exp_month <= 12:
        raise Problem(422, "card_expiry_invalid", "the expiry month is 01 to 12")
    card = next((c for c in (card_of(a, seed=seed, issued=issued) for a in accounts)
                 if c is not None and hmac.compare_digest(c.pan, number)), None)
    if card is None:
        raise Problem(402, "card_unknown", "this bank has no card with that number")
    if (card.exp_month, card.exp_year) != (exp_month, exp_year):
        raise Problem(402, "card_expiry_wrong", "the expiry date does not match the card")
    if card.expired(today):
        raise Problem(402, "card_expired", "the card has expired")
    if not hmac.compare_digest(card.cvc, cvc.strip()):
        raise Problem(402, "card_cvc_wrong", "the security code (CVC) does not match the card")
    return card
