"""Accounts, balances and transactions: sealed on write, opened (and audited) on read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ledgerlink.domain.banking import (
    AccountType,
    AccountView,
    Balance,
    BankTransaction,
    Transaction,
    TransactionStatus,
)
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.ingest.ports import TransactionRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import AccountRecord, BankAccountInfo, BankBalance


async def create_account(
    vault: Vault,
    uow: UnitOfWork,
    *,
    person_id: str,
    link_id: str,
    partner_id: str,
    info: BankAccountInfo,
    at: datetime,
    number_token: str | None = None,
) -> AccountRecord:
    """`number_token`: the keyed token of the account's number (`access.imports`), when the
    number is known (statement files; providers that report it); else a random id."""
    account_id = new_id("acc")
    record = AccountRecord(
        id=account_id,
        person_id=person_id,
        link_id=link_id,
        partner_id=partner_id,
        bank_account_id=info.bank_account_id,
        type=info.type.value,
        currency=info.currency,
        last4=info.last4,
        number_token=number_token or new_id("num"),
        sealed=await vault.seal(person_id, {"name": info.name}, table="accounts", row_id=account_id),
        sync_cursor=None,
        created_at=at,
    )
    await uow.accounts.add(record)
    return record


async def store_balance(vault: Vault, uow: UnitOfWork, account: AccountRecord, balance: BankBalance) -> bool:
    """Keep the newest balance; an older report never overwrites a newer one. True if stored."""
    if account.balance_as_of is not None and balance.as_of < account.balance_as_of:
        return False
    value = {
        "current_minor": balance.current.minor,
        "available_minor": None if balance.available is None else balance.available.minor,
        "currency": balance.current.currency,
    }
    account.balance_sealed = await vault.seal(account.person_id, value, table="balances", row_id=account.id)
    account.balance_as_of = balance.as_of
    await uow.accounts.update(account)
    return True


async def _account_view(vault: Vault, uow: UnitOfWork, record: AccountRecord) -> AccountView:
    opened = await vault.open(record.person_id, record.sealed, table="accounts", row_id=record.id)
    balance = None
    if record.balance_sealed is not None and record.balance_as_of is not None:
        b = await vault.open(record.person_id, record.balance_sealed, table="balances", row_id=record.id)
        available = b["available_minor"]
        balance = Balance(
            account_id=record.id,
            current=Money.from_minor(b["current_minor"], b["currency"]),
            available=None if available is None else Money.from_minor(available, b["currency"]),
            as_of=record.balance_as_of,
        )
    return AccountView(
        id=record.id,
        link_id=record.link_id,
        partner_id=record.partner_id,
        name=opened["name"],
        type=AccountType(record.type),
        currency=record.currency,
        last4=record.last4,
        balance=balance,
    )


async def read_accounts(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, at: datetime, link_id: str | None = None
) -> list[AccountView]:
    records = await uow.accounts.for_person(grant.person_id)
    if link_id is not None:
        records = [r for r in records if r.link_id == link_id]
    views = [await _account_view(vault, uow, r) for r in records]
    await audit(
        uow,
        grant,
        purpose,
        action="read_accounts",
        subject=f"accounts:{len(views)}" + (f" link:{link_id}" if link_id else ""),
        at=at,
    )
    return views


async def read_account(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, account_id: str, *, at: datetime
) -> AccountView:
    record = await uow.accounts.get(account_id)
    if record is None:
        raise NotFound("account not found")
    _mine(grant, record.person_id, "account")
    view = await _account_view(vault, uow, record)
    await audit(uow, grant, purpose, action="read_account", subject=f"account:{account_id}", at=at)
    return view


def _txn_secret(txn: Transaction) -> dict[str, Any]:
    return {
        "amount_minor": txn.amount.minor,
        "merchant": txn.merchant,
        "descriptor": txn.descriptor,
        "history": txn.history,
        # Where and how the card was used say where the person was: sealed like the merchant.
        "merchant_country": txn.merchant_country,
        "card_present": txn.card_present,
        **({"note": txn.note} if txn.note else {}),  # the person's note, sealed with the row
    }


async def _open_txn(vault: Vault, uow: UnitOfWork, record: TransactionRecord) -> Transaction:
    v = await vault.open(record.person_id, record.sealed, table="transactions", row_id=record.id)
    return Transaction(
        id=record.id,
        account_id=record.account_id,
        person_id=record.person_id,
        source_key=record.source_key,
        pending_source_key=record.pending_source_key,
        status=TransactionStatus(record.status),
        amount=Money.from_minor(v["amount_minor"], record.currency),
        booking_date=record.booking_date,
        value_date=record.value_date,
        merchant=v["merchant"],
        descriptor=v["descriptor"],
        mcc=record.mcc,
        created_at=record.created_at,
        updated_at=record.updated_at,
        history=list(v["history"]),
        merchant_country=v.get("merchant_country"),  # rows sealed before these fields have none
        card_present=v.get("card_present"),
        note=v.get("note"),
    )


async def _write_txn(vault: Vault, uow: UnitOfWork, txn: Transaction, *, new: bool) -> None:
    record = TransactionRecord(
        id=txn.id,
        account_id=txn.account_id,
        person_id=txn.person_id,
        source_key=txn.source_key,
        pending_source_key=txn.pending_source_key,
        status=txn.status.value,
        currency=txn.amount.currency,
        booking_date=txn.booking_date,
        value_date=txn.value_date,
        mcc=txn.mcc,
        sealed=await vault.seal(txn.person_id, _txn_secret(txn), table="transactions", row_id=txn.id),
        created_at=txn.created_at,
        updated_at=txn.updated_at,
    )
    if new:
        await uow.transactions.add(record)
    else:
        await uow.transactions.update(record)


# A bank report that names no stored row may be a row first seen in a statement file: the
# matcher registers here (access/imports.py, ADR 0022), so this module does not import it.
FileRowAdopter = Callable[
    [Vault, UnitOfWork, Grant, AccountRecord, BankTransaction, datetime], Awaitable[TransactionRecord | None]
]
_file_rows: list[FileRowAdopter] = []


def adopt_file_rows_with(adopter: FileRowAdopter) -> None:
    _file_rows[:] = [adopter]


@dataclass(frozen=True, slots=True)
class TransactionChange:
    transaction: Transaction
    created: bool
    changed: bool


async def upsert_transaction(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    account: AccountRecord,
    report: BankTransaction,
    *,
    at: datetime,
) -> TransactionChange:
    """Fold a bank's report into the single row for that purchase (pending -> posted lineage).

    Reports from webhooks, sync pages and files all land here, so a purchase is one row and
    one message whatever the path and however often it arrives."""
    _mine(grant, account.person_id, "account")
    keys = [report.bank_transaction_id]
    if report.pending_transaction_id:
        keys.append(report.pending_transaction_id)
    existing = await uow.transactions.find(account.id, keys)
    adopted = False  # a file's row, first reported by the bank now: new to the thread
    if existing is None and _file_rows:
        existing = await _file_rows[0](vault, uow, grant, account, report, at)
        adopted = existing is not None
    if existing is None:
        txn = Transaction(
            id=new_id("txn"),
            account_id=account.id,
            person_id=account.person_id,
            source_key=report.bank_transaction_id,
            pending_source_key=report.pending_transaction_id,
            status=report.status,
            amount=report.amount,
            booking_date=report.booking_date,
            value_date=report.value_date,
            merchant=report.merchant,
            descriptor=report.descriptor,
            mcc=report.mcc,
            created_at=at,
            updated_at=at,
            merchant_country=report.merchant_country,
            card_present=report.card_present,
        )
        await _write_txn(vault, uow, txn, new=True)
        return TransactionChange(txn, created=True, changed=True)
    txn = await _open_txn(vault, uow, existing)
    await audit(
        uow, grant, Purpose.SYNC_WITH_BANK, action="merge_transaction", subject=f"transaction:{txn.id}", at=at
    )
    changed = txn.apply(report, at=at) or adopted
    if changed:
        await _write_txn(vault, uow, txn, new=False)
    return TransactionChange(txn, created=adopted, changed=changed)


async def remove_transaction(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    account: AccountRecord,
    bank_transaction_id: str,
    *,
    at: datetime,
) -> TransactionChange | None:
    """A pending charge the bank dropped. A pending that posted is not 'removed': its row
    already carries the posted id, so the removal is a no-op."""
    _mine(grant, account.person_id, "account")
    existing = await uow.transactions.find(account.id, [bank_transaction_id])
    if existing is None or existing.source_key != bank_transaction_id:
        return None
    if existing.status != TransactionStatus.PENDING.value:
        return None
    txn = await _open_txn(vault, uow, existing)
    await audit(
        uow,
        grant,
        Purpose.SYNC_WITH_BANK,
        action="remove_transaction",
        subject=f"transaction:{txn.id}",
        at=at,
    )
    txn.history.append("pending->removed")
    txn.status = TransactionStatus.REMOVED
    txn.updated_at = at
    await _write_txn(vault, uow, txn, new=False)
    return TransactionChange(txn, created=False, changed=True)


async def read_transaction(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, txn_id: str, *, at: datetime
) -> Transaction:
    record = await uow.transactions.get(txn_id)
    if record is None:
        raise NotFound("transaction not found")
    _mine(grant, record.person_id, "transaction")
    txn = await _open_txn(vault, uow, record)
    await audit(uow, grant, purpose, action="read_transaction", subject=f"transaction:{txn_id}", at=at)
    return txn


async def store_transaction_note(
    vault: Vault, uow: UnitOfWork, grant: Grant, txn_id: str, note: str | None, *, at: datetime
) -> Transaction:
    """The person's note on one of their transactions (None clears it), sealed in the row. A
    transaction that is not the grant's is "not found", like one that does not exist."""
    record = await uow.transactions.get(txn_id)
    if record is None:
        raise NotFound("transaction not found")
    _mine(grant, record.person_id, "transaction")
    txn = await _open_txn(vault, uow, record)
    txn.note = note or None
    await _write_txn(vault, uow, txn, new=False)
    await audit(uow, grant, Purpose.SHOW_TO_PERSON, action="note_transaction",
                subject=f"transaction:{txn_id}", at=at)
    return txn


async def read_recent_transactions(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    purpose: Purpose,
    account_id: str,
    *,
    at: datetime,
    limit: int = 50,
) -> list[Transaction]:
    account = await uow.accounts.get(account_id)
    if account is None:
        raise NotFound("account not found")
    _mine(grant, account.person_id, "account")
    records = await uow.transactions.for_account(account_id, limit=limit)
    txns = [await _open_txn(vault, uow, r) for r in records]
    await audit(
        uow,
        grant,
        purpose,
        action="read_transactions",
        subject=f"account:{account_id} transactions:{len(txns)}",
        at=at,
    )
    return txns


async def read_transactions_between(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    purpose: Purpose,
    *,
    account_ids: list[str],
    start: date,
    end: date,
    at: datetime,
    limit: int = 1000,
) -> list[Transaction]:
    """The grant's own transactions on `account_ids` dated in [start, end] (booking date, or
    the day first seen while pending). Accounts that are not the grant's are skipped, never
    read; one audit entry per account read."""
    txns: list[Transaction] = []
    for account_id in account_ids:
        account = await uow.accounts.get(account_id)
        if account is None or account.person_id != grant.person_id:
            continue
        records = await uow.transactions.for_account_between(account_id, start, end, limit=limit)
        opened = [await _open_txn(vault, uow, r) for r in records]
        await audit(
            uow,
            grant,
            purpose,
            action="read_transactions",
            subject=f"account:{account_id} {start.isoformat()}..{end.isoformat()} transactions:{len(opened)}",
            at=at,
        )
        txns.extend(opened)
    return txns
