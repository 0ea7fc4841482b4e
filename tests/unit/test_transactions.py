from __future__ import annotations

from datetime import UTC, date, datetime

from ledgerlink.domain.banking import BankTransaction, Transaction, TransactionStatus
from ledgerlink.domain.money import Money

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _pending() -> Transaction:
    return Transaction(
        id="txn_1",
        account_id="acc_1",
        person_id="per_1",
        source_key="p1",
        pending_source_key=None,
        status=TransactionStatus.PENDING,
        amount=Money.parse("-20.00", "EUR"),
        booking_date=None,
        value_date=None,
        merchant="Olive Garden",
        descriptor="OLIVE GARDEN 12",
        mcc="5812",
        created_at=T0,
        updated_at=T0,
    )


def _report(**kw: object) -> BankTransaction:
    base: dict[str, object] = dict(
        bank_transaction_id="p1",
        bank_account_id="b1",
        status=TransactionStatus.PENDING,
        amount=Money.parse("-20.00", "EUR"),
        booking_date=None,
        value_date=None,
        merchant="Olive Garden",
        descriptor="OLIVE GARDEN 12",
        mcc="5812",
    )
    base.update(kw)
    return BankTransaction(**base)  # type: ignore[arg-type]


def test_posting_with_a_tip_keeps_one_row_and_records_the_lineage() -> None:
    txn = _pending()
    changed = txn.apply(
        _report(
            bank_transaction_id="x9",
            status=TransactionStatus.POSTED,
            amount=Money.parse("-24.00", "EUR"),
            pending_transaction_id="p1",
            booking_date=date(2026, 11, 2),
        ),
        at=T0,
    )
    assert changed
    assert (txn.status, txn.source_key, txn.pending_source_key) == (TransactionStatus.POSTED, "x9", "p1")
    assert txn.amount == Money.parse("-24.00", "EUR")
    assert txn.history == ["pending->posted", "amount -20.00 EUR->-24.00 EUR"]


def test_a_repeated_report_changes_nothing() -> None:
    txn = _pending()
    assert not txn.apply(_report(), at=T0)


def test_a_late_pending_report_never_undoes_a_posting() -> None:
    txn = _pending()
    txn.apply(
        _report(bank_transaction_id="x9", status=TransactionStatus.POSTED, pending_transaction_id="p1"), at=T0
    )
    assert not txn.apply(_report(), at=T0)
    assert txn.status is TransactionStatus.POSTED
