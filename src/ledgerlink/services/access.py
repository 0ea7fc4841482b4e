"""The data-access layer: the only module that opens or seals personal financial data.

Every function takes the grant (on whose behalf) and the purpose (why); every read writes
an audit entry. A record that belongs to someone else is reported exactly like a record
that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ledgerlink.domain.banking import (
    AccountType,
    Balance,
    BankTransaction,
    Transaction,
    TransactionStatus,
)
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.ports import (
    AccountRecord,
    BankAccountInfo,
    BankBalance,
    BankOutboxRecord,
    InboxRecord,
    LinkRecord,
    MessageRecord,
    MessageView,
    PromptRecord,
    ThreadRecord,
    TransactionRecord,
    UnitOfWork,
)
from ledgerlink.services.vault import PersonKeyMissing, Vault


async def audit(
    uow: UnitOfWork, grant: Grant, purpose: Purpose, *, action: str, subject: str, at: datetime
) -> None:
    if not isinstance(purpose, Purpose):
        raise TypeError("purpose must be a ledgerlink.domain.privacy.Purpose")
    await uow.audit.append(
        at=at,
        actor=grant.actor,
        person_id=grant.person_id,
        purpose=purpose.value,
        action=action,
        subject=subject,
    )


def _mine(grant: Grant, person_id: str, what: str) -> None:
    if grant.person_id != person_id:
        raise NotFound(f"{what} not found")


# --------------------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True)
class AccountView:
    id: str
    link_id: str
    partner_id: str
    name: str
    type: AccountType
    currency: str
    last4: str
    balance: Balance | None


async def create_account(
    vault: Vault,
    uow: UnitOfWork,
    *,
    person_id: str,
    link_id: str,
    partner_id: str,
    info: BankAccountInfo,
    at: datetime,
) -> AccountRecord:
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
        number_token=new_id("num"),
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


# --------------------------------------------------------------------------- transactions


def _txn_secret(txn: Transaction) -> dict[str, Any]:
    return {
        "amount_minor": txn.amount.minor,
        "merchant": txn.merchant,
        "descriptor": txn.descriptor,
        "history": txn.history,
        # Where and how the card was used say where the person was: sealed like the merchant.
        "merchant_country": txn.merchant_country,
        "card_present": txn.card_present,
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
    changed = txn.apply(report, at=at)
    if changed:
        await _write_txn(vault, uow, txn, new=False)
    return TransactionChange(txn, created=False, changed=changed)


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


# --------------------------------------------------------------------------- messages


async def _open_message(vault: Vault, uow: UnitOfWork, m: MessageRecord) -> MessageView:
    body = await vault.open(m.person_id, m.sealed, table="messages", row_id=m.id)
    return written_view(m, body)


def written_view(m: MessageRecord, body: dict[str, Any]) -> MessageView:
    """The view of a message from its record and its plain body (opened, or just written)."""
    return MessageView(
        id=m.id,
        thread_id=m.thread_id,
        seq=m.seq,
        rev=m.rev,
        kind=CardKind(m.kind),
        subject_key=m.subject_key,
        body=body,
        created_at=m.created_at,
        edited_at=m.edited_at,
    )


async def put_message(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    thread: ThreadRecord,
    *,
    kind: CardKind,
    body: dict[str, Any],
    at: datetime,
    subject_key: str | None = None,
    new_subject: bool = False,
) -> MessageRecord | None:
    """Add a message, or edit in place the thread's message about the same subject.
    `new_subject`: the subject was created in this unit of work, so no message about it can
    exist yet (the lookup is skipped).

    Returns the stored record, or None when an edit would change nothing."""
    _mine(grant, thread.person_id, "thread")
    existing = None
    if subject_key is not None and not new_subject:
        existing = await uow.threads.message_by_subject(thread.id, subject_key)
    if existing is not None:
        old = await vault.open(existing.person_id, existing.sealed, table="messages", row_id=existing.id)
        if old == body:
            return None
        _, rev = await uow.threads.bump(thread.id, new_message=False)
        existing.rev = rev
        existing.kind = kind.value
        existing.sealed = await vault.seal(thread.person_id, body, table="messages", row_id=existing.id)
        existing.edited_at = at
        await uow.threads.update_message(existing)
        return existing
    seq, rev = await uow.threads.bump(thread.id, new_message=True)
    message_id = new_id("msg")
    record = MessageRecord(
        id=message_id,
        thread_id=thread.id,
        person_id=thread.person_id,
        seq=seq,
        rev=rev,
        kind=kind.value,
        subject_key=subject_key,
        sealed=await vault.seal(thread.person_id, body, table="messages", row_id=message_id),
        created_at=at,
        edited_at=None,
    )
    await uow.threads.add_message(record)
    return record


async def read_thread(uow: UnitOfWork, grant: Grant, thread_id: str) -> ThreadRecord:
    thread = await uow.threads.get(thread_id)
    if thread is None:
        raise NotFound("thread not found")
    _mine(grant, thread.person_id, "thread")
    return thread


async def read_messages(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    purpose: Purpose,
    thread_id: str,
    *,
    at: datetime,
    after_rev: int | None = None,
    limit: int = 100,
) -> list[MessageView]:
    """Messages of a thread: the latest `limit` by sequence, or every change after `after_rev`
    in revision order (the resume path)."""
    await read_thread(uow, grant, thread_id)
    if after_rev is None:
        records = await uow.threads.latest_messages(thread_id, limit=limit)
    else:
        records = await uow.threads.messages_since(thread_id, after_rev, limit=limit)
    views = [await _open_message(vault, uow, r) for r in records]
    if views:
        await audit(
            uow,
            grant,
            purpose,
            action="read_messages",
            subject=f"thread:{thread_id} messages:{len(views)}",
            at=at,
        )
    return views


# --------------------------------------------------------------------------- link secrets, inbox


async def seal_link_secrets(vault: Vault, uow: UnitOfWork, link: LinkRecord, secrets: dict[str, Any]) -> None:
    link.sealed_secrets = await vault.seal(link.person_id, secrets, table="links", row_id=link.id)


async def store_bank_tokens(
    vault: Vault,
    uow: UnitOfWork,
    link: LinkRecord,
    *,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime | None,
) -> None:
    """Seal a link's bank tokens (replacing the consent-flow secrets) and keep their expiry."""
    await seal_link_secrets(vault, uow, link, {"access_token": access_token, "refresh_token": refresh_token})
    link.token_expires_at = expires_at


async def open_link_secrets(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, link: LinkRecord, *, at: datetime
) -> dict[str, Any]:
    _mine(grant, link.person_id, "link")
    if link.sealed_secrets is None:
        return {}
    await audit(uow, grant, purpose, action="use_bank_credentials", subject=f"link:{link.id}", at=at)
    return await vault.open(link.person_id, link.sealed_secrets, table="links", row_id=link.id)


async def seal_inbox_payload(
    vault: Vault, *, person_id: str, inbox_id: str, payload: dict[str, Any]
) -> bytes:
    return await vault.seal(person_id, payload, table="inbox", row_id=inbox_id)


async def open_inbox_payload(
    vault: Vault, uow: UnitOfWork, grant: Grant, record: InboxRecord, *, at: datetime
) -> dict[str, Any]:
    if record.person_id is None or record.sealed is None:
        return {}
    _mine(grant, record.person_id, "event")
    await audit(
        uow, grant, Purpose.SYNC_WITH_BANK, action="read_bank_event", subject=f"event:{record.id}", at=at
    )
    return await vault.open(record.person_id, record.sealed, table="inbox", row_id=record.id)


# --------------------------------------------------------------------------- export (person's rights)

_EVERYTHING = 2**31 - 1  # an export is complete: no page limit


@dataclass(frozen=True, slots=True)
class ExportedAlertRule:
    """An alert rule with its parameters opened, as the person set them (plus the `state`
    row the platform keeps for them: accounts below their threshold, "Not helpful" counts)."""

    id: str
    kind: str
    account_id: str | None
    params: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedDigest:
    settings: dict[str, Any]  # frequency, hour, weekday, utc_offset (digests.Schedule.params)
    next_due_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedChannel:
    """A channel as the settings page shows it. Its sealed config also holds the webhook
    signing secret, which is why only the target is taken out of it here."""

    id: str
    kind: str
    target: str
    status: str
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportData:
    """What an export opened or read. Everything after `messages` is empty (None) when one
    account is exported."""

    accounts: list[AccountView]
    transactions: list[Transaction]
    messages: list[MessageView]
    alert_rules: list[ExportedAlertRule]
    digest: ExportedDigest | None
    channels: list[ExportedChannel]
    prompts: list[PromptRecord]  # ids and states only: nothing sealed
    bank_requests: list[BankOutboxRecord]  # ids and states only: the signed body is never stored


async def _alert_rules_for_export(vault: Vault, uow: UnitOfWork, person_id: str) -> list[ExportedAlertRule]:
    return [
        ExportedAlertRule(
            id=r.id, kind=r.kind, account_id=r.account_id,
            params=await vault.open(r.person_id, r.sealed, table="alert_rules", row_id=r.id),
            enabled=bool(r.enabled), created_at=r.created_at, updated_at=r.updated_at,
        )
        for r in await uow.alert_rules.for_person(person_id)
    ]  # fmt: skip


async def _digest_for_export(vault: Vault, uow: UnitOfWork, person_id: str) -> ExportedDigest | None:
    record = await uow.digests.settings(person_id)
    if record is None:
        return None  # digests are off: no row is kept
    settings = await vault.open(person_id, record.sealed, table="digest_settings", row_id=person_id)
    return ExportedDigest(settings=settings, next_due_at=record.next_due_at, updated_at=record.updated_at)


def channel_target(config: dict[str, Any]) -> str:
    """What the person sees of a channel (settings page, export): its URL, address or Matrix
    ID; the rest of the config, such as a webhook's signing secret, is not part of it."""
    return str(config.get("url") or config.get("address") or config.get("mxid") or "")


async def _channels_for_export(vault: Vault, uow: UnitOfWork, person_id: str) -> list[ExportedChannel]:
    channels = []
    for c in await uow.channels.for_person(person_id):
        config = await vault.open(c.person_id, c.sealed, table="person_channels", row_id=c.id)
        channels.append(ExportedChannel(
            id=c.id, kind=c.kind, target=channel_target(config), status=c.status,
            disabled_reason=c.disabled_reason, created_at=c.created_at, updated_at=c.updated_at,
        ))  # fmt: skip
    return channels


async def _messages_for_export(vault: Vault, uow: UnitOfWork, person_id: str) -> list[MessageView]:
    messages: list[MessageView] = []
    for thread in await uow.threads.for_person(person_id):
        rows = await uow.threads.latest_messages(thread.id, limit=max(thread.last_seq, 1))
        messages.extend([await _open_message(vault, uow, m) for m in rows])
    return messages


def _export_subject(data: ExportData, account_id: str | None) -> str:
    """Counts (and the one account's id) for the audit entry: never a value."""
    counts = {"accounts": len(data.accounts), "transactions": len(data.transactions),
              "messages": len(data.messages)}  # fmt: skip
    if account_id is None:
        counts |= {"alert_rules": len(data.alert_rules), "digest": int(data.digest is not None),
                   "channels": len(data.channels), "prompts": len(data.prompts),
                   "bank_requests": len(data.bank_requests)}  # fmt: skip
    subject = " ".join(f"{name}:{count}" for name, count in counts.items())
    return subject if account_id is None else f"{subject} account:{account_id}"


async def read_for_export(
    vault: Vault, uow: UnitOfWork, grant: Grant, *, at: datetime, account_id: str | None = None
) -> ExportData:
    """Everything held about the person (or one of their accounts), opened for an export
    they asked for. Only the person may export; one audit entry counts what left."""
    if grant.actor != f"person:{grant.person_id}":
        raise NotFound("person not found")
    person_id = grant.person_id
    records = await uow.accounts.for_person(person_id)
    if account_id is not None:
        records = [r for r in records if r.id == account_id]
        if not records:
            raise NotFound("account not found")
    accounts = [await _account_view(vault, uow, r) for r in records]
    transactions: list[Transaction] = []
    for r in records:
        rows = await uow.transactions.for_account(r.id, limit=_EVERYTHING)
        transactions.extend([await _open_txn(vault, uow, t) for t in reversed(rows)])
    if account_id is not None:
        data = ExportData(
            accounts=accounts, transactions=transactions, messages=[],
            alert_rules=[], digest=None, channels=[], prompts=[], bank_requests=[],
        )  # fmt: skip
    else:
        data = ExportData(
            accounts=accounts, transactions=transactions,
            messages=await _messages_for_export(vault, uow, person_id),
            alert_rules=await _alert_rules_for_export(vault, uow, person_id),
            digest=await _digest_for_export(vault, uow, person_id),
            channels=await _channels_for_export(vault, uow, person_id),
            prompts=await uow.prompts.for_person(person_id),
            bank_requests=await uow.bank_outbox.for_person(person_id),
        )  # fmt: skip
    subject = _export_subject(data, account_id)
    await audit(uow, grant, Purpose.PERSON_EXPORT, action="export_person", subject=subject, at=at)
    return data


# --------------------------------------------------------------------------- aggregates (DP)


@dataclass(frozen=True, slots=True)
class SpendingRow:
    """One posted purchase as a differentially private aggregate sees it: no merchant, no
    descriptor, no account; the amount as positive spend."""

    person_id: str
    mcc: str | None
    spend: Money


async def read_spending_for_aggregate(
    vault: Vault,
    uow: UnitOfWork,
    *,
    partner_id: str,
    currency: str,
    period_start: date,
    period_end: date,
    query: str,
    at: datetime,
) -> list[SpendingRow]:
    """Spending (posted, negative amounts in `currency`) booked in [period_start, period_end) by people
    whose link *to this partner* is active: linking the partner is the consent to be
    counted, with noise, in its statistics. Nobody else's rows are read.

    One audit entry per person whose data was opened (purpose partner_aggregate_dp). A
    person whose key is gone (erased) is skipped and not audited: nothing of theirs opened."""
    records = await uow.dp.spending_rows(
        partner_id, currency=currency, start=period_start, end=period_end, at=at
    )
    by_person: dict[str, list[TransactionRecord]] = {}
    for record in records:
        by_person.setdefault(record.person_id, []).append(record)
    rows: list[SpendingRow] = []
    for person_id, person_records in by_person.items():
        try:
            opened = [
                (r, await vault.open(person_id, r.sealed, table="transactions", row_id=r.id))
                for r in person_records
            ]
        except PersonKeyMissing:
            continue
        await audit(
            uow,
            Grant.for_component(person_id, "aggregates"),
            Purpose.PARTNER_AGGREGATE_DP,
            action="read_for_aggregate",
            subject=f"partner:{partner_id} {query[:120]} transactions:{len(opened)}",
            at=at,
        )
        for record, value in opened:
            amount = Money.from_minor(int(value["amount_minor"]), record.currency)
            if amount.is_negative():
                rows.append(SpendingRow(person_id=person_id, mcc=record.mcc, spend=-amount))
    return rows


# --------------------------------------------------------------------------- consent receipts


@dataclass(frozen=True, slots=True)
class ReceiptView:
    id: str
    link_id: str
    issued_at: datetime
    expires_at: datetime
    jws: str  # the compact JWS, exactly as signed


async def store_receipt(
    vault: Vault,
    uow: UnitOfWork,
    *,
    receipt_id: str,
    person_id: str,
    link_id: str,
    issued_at: datetime,
    expires_at: datetime,
    jws: str,
) -> None:
    """Keep a signed consent receipt, sealed with its person's key (it names their accounts)."""
    from ledgerlink.services.ports import ReceiptRecord  # the import block above is shared

    sealed = await vault.seal(person_id, {"jws": jws}, table="consent_receipts", row_id=receipt_id)
    await uow.receipts.add(
        ReceiptRecord(
            id=receipt_id,
            person_id=person_id,
            link_id=link_id,
            issued_at=issued_at,
            expires_at=expires_at,
            sealed=sealed,
        )
    )


async def read_receipt(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, receipt_id: str, *, at: datetime
) -> ReceiptView:
    record = await uow.receipts.get(receipt_id)
    if record is None:
        raise NotFound("receipt not found")
    _mine(grant, record.person_id, "receipt")
    opened = await vault.open(record.person_id, record.sealed, table="consent_receipts", row_id=record.id)
    await audit(uow, grant, purpose, action="read_receipt", subject=f"receipt:{receipt_id}", at=at)
    return ReceiptView(
        id=record.id,
        link_id=record.link_id,
        issued_at=record.issued_at,
        expires_at=record.expires_at,
        jws=str(opened["jws"]),
    )


# --------------------------------------------------------------------------- spending questions


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


# --------------------------------------------------------------------------- alert rules

_ALERT_PURPOSES = frozenset({Purpose.DELIVER_UPDATE, Purpose.SHOW_TO_PERSON})


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert rule with its opened parameters (see services/alerts.py for the kinds)."""

    id: str
    kind: str
    account_id: str | None
    params: dict[str, Any]
    enabled: bool


async def store_alert_rule(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    *,
    kind: str,
    params: dict[str, Any],
    at: datetime,
    account_id: str | None = None,
    enabled: bool = True,
    rule_id: str | None = None,
) -> AlertRule:
    """Add a rule, or replace one of the grant's rules (`rule_id`). Parameters are sealed:
    merchant names and thresholds say a lot about a person."""
    from ledgerlink.services.ports import AlertRuleRecord  # the import block above is shared

    if account_id is not None:
        account = await uow.accounts.get(account_id)
        if account is None:
            raise NotFound("account not found")
        _mine(grant, account.person_id, "account")
    existing = None
    if rule_id is not None:
        mine = await uow.alert_rules.for_person(grant.person_id)
        existing = next((r for r in mine if r.id == rule_id), None)
        if existing is None:
            raise NotFound("alert rule not found")
    new_rule_id = rule_id or new_id("alr")
    record = AlertRuleRecord(
        id=new_rule_id,
        person_id=grant.person_id,
        kind=kind,
        account_id=account_id,
        sealed=await vault.seal(grant.person_id, params, table="alert_rules", row_id=new_rule_id),
        enabled=int(enabled),
        created_at=at if existing is None else existing.created_at,
        updated_at=at,
    )
    if existing is None:
        await uow.alert_rules.add(record)
    else:
        await uow.alert_rules.update(record)
    return AlertRule(id=record.id, kind=kind, account_id=account_id, params=params, enabled=enabled)


async def read_alert_rules(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, at: datetime
) -> list[AlertRule]:
    """The grant's own alert rules, opened. Only to deliver an alert or show them to the person."""
    if purpose not in _ALERT_PURPOSES:
        raise ValueError(f"alert rules are not read for {purpose.value}")
    records = await uow.alert_rules.for_person(grant.person_id)
    rules = [
        AlertRule(
            id=r.id,
            kind=r.kind,
            account_id=r.account_id,
            params=await vault.open(r.person_id, r.sealed, table="alert_rules", row_id=r.id),
            enabled=bool(r.enabled),
        )
        for r in records
    ]
    if rules:
        subject = f"alert_rules:{len(rules)}"
        await audit(uow, grant, purpose, action="read_alert_rules", subject=subject, at=at)
    return rules


# --------------------------------------------------------------------------- outside channels

# Imported here, not in the shared block at the top: each feature appends its own section.
from ledgerlink.services.ports import ChannelRecord  # noqa: E402


async def seal_channel_config(
    vault: Vault, *, person_id: str, channel_id: str, config: dict[str, Any]
) -> bytes:
    """A channel's config (webhook URL and secret, or email address), sealed to its row."""
    return await vault.seal(person_id, config, table="person_channels", row_id=channel_id)


async def open_channel_configs(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    purpose: Purpose,
    channels: list[ChannelRecord],
    *,
    at: datetime,
) -> dict[str, dict[str, Any]]:
    """The configs of the grant's channels (`ChannelRecord`s) by channel id; channels that
    are not the grant's are skipped. One audit entry for the lot."""
    mine = [c for c in channels if c.person_id == grant.person_id]
    opened = {
        c.id: await vault.open(c.person_id, c.sealed, table="person_channels", row_id=c.id) for c in mine
    }
    if opened:
        await audit(uow, grant, purpose, action="read_channel_config",
                    subject="channels:" + ",".join(opened), at=at)
    return opened


# --------------------------------------------------------------------------- digests, held alerts

# Imported here, not in the shared block at the top: each feature appends its own section.
from ledgerlink.services.ports import DigestSettingsRecord, HeldAlertRecord  # noqa: E402

_DIGEST_PURPOSES = frozenset({Purpose.DELIVER_UPDATE, Purpose.SHOW_TO_PERSON})


async def store_digest_settings(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    *,
    settings: dict[str, Any] | None,
    next_due_at: datetime | None,
    at: datetime,
) -> None:
    """Keep the person's digest choice, sealed (an hour and a UTC offset say where someone
    lives); `None` turns digests off. `next_due_at` is kept in clear for the scheduler."""
    if settings is None:
        await uow.digests.delete_settings(grant.person_id)
        return
    if next_due_at is None:
        raise ValueError("a digest that is on needs its next due instant")
    sealed = await vault.seal(grant.person_id, settings, table="digest_settings", row_id=grant.person_id)
    await uow.digests.put_settings(
        DigestSettingsRecord(person_id=grant.person_id, sealed=sealed, next_due_at=next_due_at, updated_at=at)
    )


async def read_digest_settings(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, at: datetime
) -> dict[str, Any] | None:
    """The grant's digest settings, opened; None when digests are off."""
    if purpose not in _DIGEST_PURPOSES:
        raise ValueError(f"digest settings are not read for {purpose.value}")
    record = await uow.digests.settings(grant.person_id)
    if record is None:
        return None
    value = await vault.open(grant.person_id, record.sealed, table="digest_settings", row_id=grant.person_id)
    await audit(uow, grant, purpose, action="read_digest_settings", subject="digest_settings", at=at)
    return value


@dataclass(frozen=True, slots=True)
class HeldAlertView:
    id: str
    thread_id: str
    kind: str
    text: str
    held_at: datetime


async def hold_alert(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    thread: ThreadRecord,
    *,
    subject_key: str,
    kind: str,
    text: str,
    release_after: datetime,
    at: datetime,
) -> bool:
    """Keep an alert raised during quiet hours for the next digest instead of sending it.
    False when the same fact is held already."""
    _mine(grant, thread.person_id, "thread")
    held_id = new_id("hld")
    value = {"kind": kind, "text": text}
    sealed = await vault.seal(thread.person_id, value, table="held_alerts", row_id=held_id)
    return await uow.digests.hold(
        HeldAlertRecord(
            id=held_id,
            person_id=thread.person_id,
            thread_id=thread.id,
            subject_key=subject_key,
            sealed=sealed,
            held_at=at,
            release_after=release_after,
        )
    )


async def release_held_alerts(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    *,
    held_before: datetime,
    released_in: str,
    at: datetime,
    release_due: datetime | None = None,
) -> list[HeldAlertView]:
    """Take the grant's held alerts out of holding to put them in a digest, opened (purpose
    deliver_update). Each is released once, also between processes; its sealed text is then
    dropped, as the digest message carries it."""
    rows = await uow.digests.held_pending(grant.person_id, held_before=held_before, release_due=release_due)
    released = await uow.digests.release([r.id for r in rows], at=at, released_in=released_in)
    views = []
    for r in rows:
        if r.id not in released or r.sealed is None:
            continue
        value = await vault.open(r.person_id, r.sealed, table="held_alerts", row_id=r.id)
        views.append(HeldAlertView(id=r.id, thread_id=r.thread_id, kind=str(value["kind"]),
                                   text=str(value["text"]), held_at=r.held_at))
    if views:
        await audit(uow, grant, Purpose.DELIVER_UPDATE, action="read_held_alerts",
                    subject=f"held_alerts:{len(views)} {released_in}", at=at)
    return views


# --------------------------------------------------------------------------- bank dialogue


async def read_message_by_subject(
    vault: Vault,
    uow: UnitOfWork,
    grant: Grant,
    purpose: Purpose,
    thread: ThreadRecord,
    subject_key: str,
    *,
    at: datetime,
) -> MessageView | None:
    """The thread's message about `subject_key` (e.g. a fraud prompt's card), or None."""
    _mine(grant, thread.person_id, "thread")
    record = await uow.threads.message_by_subject(thread.id, subject_key)
    if record is None:
        return None
    view = await _open_message(vault, uow, record)
    subject = f"thread:{thread.id} message:{record.id}"
    await audit(uow, grant, purpose, action="read_message", subject=subject, at=at)
    return view
