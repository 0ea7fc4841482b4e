"""One account's entries of a file, matched and stored (the rule: domain/import_matching.py).

Inside the import's unit of work: the entries' keys, the stored rows they may be (opened
once, audited), the plan, then new rows sealed and inserted in chunks, merged rows updated
through `Transaction.apply` (pending -> posted lineage), and every entry's key recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from ledgerlink.domain.banking import Transaction
from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.import_matching import (
    WINDOW_DAYS,
    FileLine,
    MatchKind,
    StoredRow,
    content_identity,
    file_update,
    id_identity,
    occurrences,
    plan,
    words,
)
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.statements import StatementEntry, StatementError, StatementFormat
from ledgerlink.services import access
from ledgerlink.services.imports.ports import FILE_SOURCE_PREFIX, StatementEntryRecord
from ledgerlink.services.imports.summary import Counts
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import AccountRecord

CHUNK = 2000  # rows sealed and inserted per batch (then the event loop gets a turn)


def _identity(entry: StatementEntry, day: date) -> str:
    if entry.entry_id:
        return id_identity(entry.entry_id)
    return content_identity(day=day, amount=entry.amount, descriptor=entry.descriptor,
                            merchant=entry.merchant)


def _lines(
    account: AccountRecord, entries: Sequence[StatementEntry], tokens: access.ImportTokens, *,
    fmt: StatementFormat, cutoff: date | None,
) -> tuple[list[FileLine], int]:
    """The entries as the rule sees them (those older than `cutoff` left out, counted). Their
    words are filled in only when there are stored rows to compare them with (`_with_words`)."""
    days: list[date] = []
    for n, entry in enumerate(entries):
        if entry.amount.currency != account.currency:
            raise StatementError(
                f"an entry in {entry.amount.currency} in an account kept in {account.currency}",
                format=fmt, where=entry.where or f"entry {n + 1}", code="currency_mismatch",
            )
        day = entry.booking_date or entry.value_date
        if day is None:
            raise StatementError("an entry without a booking or value date", format=fmt,
                                 where=entry.where or f"entry {n + 1}", code="entry_without_date")
        days.append(day)
    keys = occurrences(_identity(e, d) for e, d in zip(entries, days, strict=True))
    lines: list[FileLine] = []
    too_old = 0
    for n, (entry, day, identity) in enumerate(zip(entries, days, keys, strict=True)):
        if cutoff is not None and day < cutoff:
            too_old += 1
            continue
        pending: tuple[str, ...] = ()
        if entry.pending_entry_id:  # a posted entry naming the pending one it follows
            pending = (tokens.entry(account.id, id_identity(entry.pending_entry_id)),)
        lines.append(FileLine(
            index=n, key=tokens.entry(account.id, identity),
            ids=frozenset((entry.entry_id,)) if entry.entry_id else frozenset(),
            amount=entry.amount, day=day, words=frozenset(), known_keys=pending,
        ))  # fmt: skip
    return lines, too_old


def _with_words(lines: list[FileLine], entries: Sequence[StatementEntry]) -> list[FileLine]:
    return [replace(ln, words=words(entries[ln.index].descriptor, entries[ln.index].merchant))
            for ln in lines]


def _stored(txn: Transaction) -> StoredRow:
    ids = frozenset(k for k in (txn.source_key, txn.pending_source_key) if k)
    day = txn.booking_date or txn.value_date or txn.created_at.date()
    return StoredRow(id=txn.id, amount=txn.amount, day=day, status=txn.status, ids=ids,
                     words=words(txn.descriptor, txn.merchant))


def _new_row(account: AccountRecord, entry: StatementEntry, key: str, at: datetime) -> Transaction:
    return Transaction(
        id=new_id("txn"), account_id=account.id, person_id=account.person_id,
        source_key=FILE_SOURCE_PREFIX + key, pending_source_key=None, status=entry.status,
        amount=entry.amount, booking_date=entry.booking_date, value_date=entry.value_date,
        merchant=entry.merchant, descriptor=entry.descriptor, mcc=None, created_at=at, updated_at=at,
    )  # fmt: skip


async def store_account(
    deps: Deps,
    uow: UnitOfWork,
    grant: Grant,
    account: AccountRecord,
    entries: Sequence[StatementEntry],
    tokens: access.ImportTokens,
    *,
    fmt: StatementFormat,
    import_id: str,
    cutoff: date | None,
    at: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> Counts:
    lines, too_old = _lines(account, entries, tokens, fmt=fmt, cutoff=cutoff)
    if not lines:
        return Counts(entries=len(entries), added=0, merged=0, skipped=too_old, too_old=too_old)
    wanted = [k for ln in lines for k in (ln.key, *ln.known_keys) if k]
    known = await uow.imports.known_keys(account.id, wanted)
    window = timedelta(days=WINDOW_DAYS)
    rows = await access.read_transactions_for_matching(
        deps.vault, uow, grant, account, start=min(ln.day for ln in lines) - window,
        end=max(ln.day for ln in lines) + window, at=at,
    )  # fmt: skip
    by_id = {t.id: t for t in rows}
    for row_id in sorted(set(known.values()) - by_id.keys()):  # known rows whose dates moved away
        try:
            by_id[row_id] = await access.read_transaction(deps.vault, uow, grant, Purpose.IMPORT_STATEMENT,
                                                          row_id, at=at)
        except NotFound:
            continue
    known = {k: v for k, v in known.items() if v in by_id}
    if by_id:  # a fresh account (the first file) has nothing to compare words with
        lines = _with_words(lines, entries)
    matches = plan(lines, [_stored(t) for t in by_id.values()], known)
    line_of = {ln.index: ln for ln in lines}
    fresh: list[tuple[StatementEntry, str]] = []
    changed: dict[str, Transaction] = {}
    records: list[StatementEntryRecord] = []
    merged = skipped = 0
    for match in matches:
        line, entry = line_of[match.index], entries[match.index]
        assert line.key is not None
        if match.row_id is None:
            fresh.append((entry, line.key))
            continue
        txn = by_id[match.row_id]
        if txn.apply(file_update(txn, entry), at=at):
            changed[txn.id] = txn
        if match.kind is MatchKind.KNOWN and line.key in known:
            if txn.id in changed:
                merged += 1  # imported before, and this file moves it on (pending -> posted)
            else:
                skipped += 1
            continue
        merged += 1
        records.append(StatementEntryRecord(account_id=account.id, entry_key=line.key, transaction_id=txn.id,
                                            person_id=account.person_id, import_id=import_id))
    decided = too_old + len(matches) - len(fresh)
    for start in range(0, len(fresh), CHUNK):
        batch = [(_new_row(account, entry, key, at), key) for entry, key in fresh[start : start + CHUNK]]
        await access.store_file_rows(deps.vault, uow, grant, account, new=[t for t, _ in batch], changed=[],
                                     entries=[])
        if progress is not None:
            progress(decided + start + len(batch), len(entries))
        await asyncio.sleep(0)  # the event loop serves others between batches (the writer stays held)
    await access.store_file_rows(deps.vault, uow, grant, account, new=[], changed=list(changed.values()),
                                 entries=records)
    if progress is not None:
        progress(len(entries), len(entries))
    return Counts(entries=len(entries), added=len(fresh), merged=merged, skipped=skipped + too_old,
                  too_old=too_old)
