"""Alert phrases, thresholds and the low-balance crossing, without a database."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ledgerlink.domain import alerts
from ledgerlink.domain.alerts import AlertRule
from ledgerlink.domain.banking import AccountType, AccountView, Transaction, TransactionStatus
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money
from ledgerlink.services.questions import commands

NOW = datetime(2025, 1, 6, 12, tzinfo=UTC)


def _account(kind: AccountType = AccountType.CHECKING) -> AccountView:
    return AccountView(id="acc_1", link_id="l", partner_id="p", name="Checking", type=kind,
                       currency="USD", last4="1234", balance=None)


def _txn(amount: str, *, merchant: str = "Best Buy", mcc: str | None = "5732",
         status: TransactionStatus = TransactionStatus.PENDING,
         descriptor: str = "BEST BUY") -> Transaction:
    return Transaction(id="txn_1", account_id="acc_1", person_id="per", source_key="s",
                       pending_source_key=None, status=status, amount=Money.parse(amount, "USD"),
                       booking_date=None, value_date=None,
                       merchant=merchant, descriptor=descriptor, mcc=mcc, created_at=NOW, updated_at=NOW)


def _matching(text: str) -> str:
    said = commands.normalise(text)
    return next(c.name for c in commands.commands() if c.pattern.fullmatch(said))


@pytest.mark.parametrize(("text", "name"), [
    ("Tell me when checking goes below 100", "alert low balance"),
    ("alert me if my balance drops below 250", "alert low balance"),
    ("tell me about purchases over $300", "alert large purchase"),
    ("mute starbucks", "alert mute"),
    ("unmute starbucks", "alert mute"),
    ("my alerts", "alert list"),
    ("stop deposit alerts", "alert toggle"),
    ("turn on fee alerts", "alert toggle"),
    ("balance", "balance"),
    ("last 5 transactions", "last transactions"),
])
def test_alert_phrases_go_to_the_alert_commands_before_balance_and_spending(text: str, name: str) -> None:
    assert _matching(text) == name


def test_the_account_word_picks_the_account_type_or_every_account() -> None:
    match = re.fullmatch(commands.ALERT_LOW, "alert me if my balance drops below 250")
    assert match is not None and commands.alert_account_type(match["what"]) is None
    match = re.fullmatch(commands.ALERT_LOW, "tell me when my credit card goes below 1,000")
    assert match is not None and commands.alert_account_type(match["what"]) == "credit_card"
    assert alerts.parse_amount(match["amount"]) == Decimal("1000")


@pytest.mark.parametrize("bad", ["0", "-5", "abc", "1.0001", "1e12"])
def test_bad_amounts_are_refused_with_a_plain_message(bad: str) -> None:
    with pytest.raises(InvalidInput):
        alerts.parse_amount(bad)


def test_defaults_alert_on_checking_below_50_and_purchases_above_500() -> None:
    assert alerts.threshold([], alerts.LOW, _account()) == Decimal("50")
    assert alerts.threshold([], alerts.LOW, _account(AccountType.SAVINGS)) is None
    assert alerts.transaction_alert(_txn("-750.00"), _account(), []) is not None
    assert alerts.transaction_alert(_txn("-499.00"), _account(), []) is None


def test_an_account_threshold_wins_and_a_switched_off_kind_is_silent() -> None:
    own = AlertRule("r1", alerts.LOW, "acc_1", {"amount": "100"}, True)
    every = AlertRule("r2", alerts.LOW, None, {"amount": "250"}, True)
    assert alerts.threshold([own, every], alerts.LOW, _account()) == Decimal("100")
    assert alerts.threshold([every], alerts.LOW, _account(AccountType.SAVINGS)) == Decimal("250")
    off = AlertRule("r3", alerts.LARGE, None, {}, False)
    assert alerts.transaction_alert(_txn("-900.00"), _account(), [off]) is None


def test_muted_merchants_deposits_and_fees() -> None:
    mute = AlertRule("m", alerts.MUTE, None, {"merchant": "best buy"}, True)
    assert alerts.transaction_alert(_txn("-750.00"), _account(), [mute]) is None
    charge = _txn("-12.00", merchant="", mcc=None, descriptor="MONTHLY MAINTENANCE FEE")
    fee = alerts.transaction_alert(charge, _account(), [])
    assert fee is not None and fee.kind == alerts.FEE and fee.subject_key == "alert:fee:txn_1"
    pay = _txn("1000.00", merchant="", mcc=None, descriptor="PAYROLL DIRECT DEPOSIT",
               status=TransactionStatus.POSTED)
    deposit = alerts.transaction_alert(pay, _account(), [])
    assert deposit is not None and deposit.kind == alerts.DEPOSIT
    pending = _txn("1000.00", merchant="", mcc=None, descriptor="PAYROLL DIRECT DEPOSIT")
    assert alerts.transaction_alert(pending, _account(), []) is None  # pending: not yet


def test_a_card_refund_is_not_a_deposit() -> None:
    posted = TransactionStatus.POSTED
    at_merchant = _txn("19.99", merchant="PayPal", mcc="5999", descriptor="PAYPAL *ACME", status=posted)
    said_refund = _txn("19.99", merchant="", mcc=None, descriptor="refund Acme Outfitters", status=posted)
    linked = _txn("19.99", merchant="", mcc=None, descriptor="ACME OUTFITTERS", status=posted)
    assert alerts.transaction_alert(at_merchant, _account(), []) is None
    assert alerts.transaction_alert(said_refund, _account(), []) is None
    assert alerts.transaction_alert(linked, _account(), [], refund_of="txn_0") is None
    deposit = alerts.transaction_alert(linked, _account(), [])  # the same money, no purchase known
    assert deposit is not None
    assert deposit.text == "Deposit into Checking ••1234: +19.99 USD from ACME OUTFITTERS."


def test_low_balance_alerts_once_per_crossing_and_re_arms_above() -> None:
    assert alerts.crossing(below=True, was_below=False) is True
    assert alerts.crossing(below=True, was_below=True) is None
    assert alerts.crossing(below=False, was_below=True) is False
    assert alerts.crossing(below=False, was_below=False) is None


def test_quiet_hours_wrap_past_midnight_in_local_time() -> None:
    night = {"start": 22, "end": 7, "utc_offset": -5}
    assert alerts.in_quiet_hours(datetime(2025, 1, 6, 4, tzinfo=UTC), night)  # 23:00 local
    assert not alerts.in_quiet_hours(NOW, night)  # 07:00 local
