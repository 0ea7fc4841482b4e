"""Money: a Decimal amount and an ISO 4217 code, stored as integer minor units."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from ledgerlink.domain.errors import CurrencyMismatch, InvalidInput

# ISO 4217 minor-unit exponents that differ from 2. Everything else listed in
# CURRENCIES uses 2. The list is deliberately explicit: an unknown code is refused
# rather than guessed.
_EXPONENT_0 = frozenset("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split())
_EXPONENT_3 = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_EXPONENT_2 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR
    KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN
    MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD
    SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD
    TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWL""".split()
)
CURRENCIES = _EXPONENT_0 | _EXPONENT_2 | _EXPONENT_3


def exponent(currency: str) -> int:
    """The number of minor-unit digits of an ISO 4217 currency."""
    if currency in _EXPONENT_0:
        return 0
    if currency in _EXPONENT_3:
        return 3
    if currency in _EXPONENT_2:
        return 2
    raise InvalidInput(f"unknown currency code {currency!r}: expected ISO 4217", code="bad_currency")


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal, never a float")
        exp = exponent(self.currency)
        if not self.amount.is_finite():
            raise InvalidInput("amount must be a finite number", code="bad_amount")
        quantum = Decimal(1).scaleb(-exp)
        try:
            exact = self.amount.quantize(quantum, rounding=ROUND_HALF_EVEN)
        except InvalidOperation:  # more digits than the decimal context holds (28)
            raise InvalidInput(f"amount {self.amount:.6} has too many digits", code="bad_amount") from None
        if self.amount != exact:
            raise InvalidInput(
                f"amount {self.amount} has more than {exp} decimal places for {self.currency}",
                code="bad_amount",
            )
        object.__setattr__(self, "amount", self.amount.quantize(quantum))

    @classmethod
    def parse(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Build from untrusted text such as "-12.30"; floats are refused."""
        if isinstance(amount, float):  # type: ignore[unreachable]
            raise TypeError("floats are not money")
        try:
            value = Decimal(str(amount).strip())
        except InvalidOperation:
            raise InvalidInput(f"amount {amount!r} is not a decimal number", code="bad_amount") from None
        return cls(value, currency.strip().upper())

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls(Decimal(minor).scaleb(-exponent(currency)), currency)

    @property
    def minor(self) -> int:
        return int(self.amount.scaleb(exponent(self.currency)))

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._check(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._check(other)
        return self.amount <= other.amount

    def is_negative(self) -> bool:
        return self.amount < 0

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
