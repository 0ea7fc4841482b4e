"""Import one statement file: read it, map its statements to accounts, match its entries with
what is stored, seal and store the rest, and post one summary card, all in one unit of work
(a file is imported whole or not at all). docs/imports.md says what the person sees; ADR 0022
says why it is built so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

import structlog

from ledgerlink.domain.banking import AccountView
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.errors import DomainError, InvalidInput
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.statements import CsvPreview, ParsedFile, ReadOptions, StatementError, StatementFormat
from ledgerlink.domain.text import display_line
from ledgerlink.services import access
from ledgerlink.services.imports import matching
from ledgerlink.services.imports.accounts import files_link, resolve, statement_groups
from ledgerlink.services.imports.ports import (
    FILES_PARTNER_ID,
    CsvPreviewReader,
    StatementImportRecord,
    StatementReader,
)
from ledgerlink.services.imports.results import ImportResult, ImportStatus, Needs
from ledgerlink.services.imports.summary import BalanceLine, Counts, summary_card, summary_text
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import AccountRecord, BankBalance
from ledgerlink.services.messaging import outgoing
from ledgerlink.services.messaging.ports import ThreadRecord

log = structlog.get_logger(__name__)

MAX_FILE_BYTES = 64 * 1024 * 1024
Progress = Callable[[int, int], None]  # (entries done, entries in the file)
_BALANCE_ORDER = ("closing_booked", "closing_available", "interim_booked", "interim_available")


@dataclass(slots=True)
class _Group:
    account: AccountRecord
    statements: list[int] = field(default_factory=list)


class StatementImporter:
    """The import service. `keep_days`: the transaction retention period (0: forever); older
    entries are not stored, since the next purge would drop them."""

    def __init__(self, deps: Deps, reader: StatementReader, *, keep_days: int = 0,
                 max_bytes: int = MAX_FILE_BYTES) -> None:
        self._deps = deps
        self._reader = reader
        self._keep_days = keep_days
        self._max_bytes = max_bytes

    async def import_file(
        self,
        grant: Grant,
        data: bytes,
        *,
        filename: str | None,
        options: ReadOptions | None = None,
        account_id: str | None = None,
        choices: Mapping[int, str] | None = None,
        confirm: bool = False,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Import `data`. `account_id`: the account of a one-statement file; `choices`:
        statement index -> account id or `results.CREATE`; `confirm`: accept each proposal
        that names one answer. Never raises for a bad file: the result says what was wrong."""
        name = display_line(filename or "statement", "filename")[-120:] or "statement"
        options = options or ReadOptions()
        picked = dict(choices or {})
        if account_id is not None:
            picked.setdefault(0, account_id)
        if len(data) > self._max_bytes:
            return ImportResult.failed(name, StatementError(
                f"the file has {len(data):,} bytes; at most {self._max_bytes:,} are read",
                format=options.format, code="file_too_large"))  # fmt: skip
        try:
            options = await self._saved_mapping(grant, options, picked)
            parsed = await asyncio.to_thread(self._reader.read, data, filename=filename, options=options)
        except DomainError as exc:
            return ImportResult.failed(name, exc)
        fmt = parsed.format.value
        if parsed.needs_confirmation:
            return ImportResult(
                file=name, format=fmt, status=ImportStatus.NEEDS_CONFIRMATION, needs=Needs.DATE_ORDER,
                entries=parsed.entry_count, date_orders=tuple(o.value for o in parsed.ambiguous_date_orders),
                warnings=parsed.warnings,
            )  # fmt: skip
        if account_id is not None and len(statement_groups(parsed.statements)) > 1:
            return ImportResult.failed(name, InvalidInput(
                f"the file holds statements of {len(statement_groups(parsed.statements))} accounts; an "
                "account can be picked for a one-account file only", code="account_ambiguous"),
                format=fmt)  # fmt: skip
        try:
            return await self._store(grant, data, name, parsed, options, picked, confirm, progress)
        except DomainError as exc:  # nothing was stored: the unit of work rolled back
            return ImportResult.failed(name, exc, format=fmt)

    async def accounts(self, grant: Grant) -> list[AccountView]:
        """The person's accounts a file may be imported into (the import page's choice)."""
        deps = self._deps
        async with deps.uow() as uow:
            views = await access.read_accounts(deps.vault, uow, grant, Purpose.IMPORT_STATEMENT,
                                               at=deps.clock.now())
            await uow.commit()
        return views

    async def csv_preview(
        self, grant: Grant, data: bytes, *, options: ReadOptions | None = None, account_id: str | None = None,
        rows: int = 10,
    ) -> tuple[CsvPreview, bool]:
        """A CSV file as it would be read (nothing stored), under the mapping given in
        `options`, else the one saved for `account_id`, else the detected one; and whether the
        saved mapping was used. Raises StatementError for a file that cannot be read at all."""
        if not isinstance(self._reader, CsvPreviewReader):
            raise InvalidInput("this reader shows no CSV preview", code="preview_unavailable")
        options = replace(options or ReadOptions(), format=StatementFormat.CSV)
        if len(data) > self._max_bytes:
            raise StatementError(f"the file has {len(data):,} bytes; at most {self._max_bytes:,} are read",
                                 format=StatementFormat.CSV, code="file_too_large")
        given = options.csv_mapping
        if account_id is not None:
            options = await self._saved_mapping(grant, options, {0: account_id})
        reader = self._reader
        preview = await asyncio.to_thread(
            lambda: reader.preview_csv(data, options.csv_mapping, rows, options=options))
        return preview, given is None and options.csv_mapping is not None

    async def _saved_mapping(
        self, grant: Grant, options: ReadOptions, picked: Mapping[int, str]
    ) -> ReadOptions:
        """A CSV file for a named account is read with the mapping saved for that account."""
        account_id = picked.get(0)
        if options.csv_mapping is not None or account_id is None or len(picked) != 1:
            return options
        if options.format not in (None, StatementFormat.CSV):
            return options
        deps = self._deps
        async with deps.uow(readonly=True) as uow:
            account = await uow.accounts.get(account_id)
            if account is None or account.person_id != grant.person_id:
                return options
            saved = await access.read_csv_mapping(deps.vault, uow, grant, account, at=deps.clock.now())
            await uow.commit()
        return options if saved is None else replace(options, csv_mapping=saved)

    async def _store(
        self, grant: Grant, data: bytes, name: str, parsed: ParsedFile, options: ReadOptions,
        picked: Mapping[int, str], confirm: bool, progress: Progress | None,
    ) -> ImportResult:
        deps = self._deps
        now = deps.clock.now()
        async with deps.uow() as uow:
            system = await uow.threads.system_thread(grant.person_id)
            if system is not None:
                await uow.threads.lock(system.id)  # one import per person at a time (PostgreSQL)
            tokens = await access.import_tokens(deps.vault, uow, grant.person_id, at=now)
            assert tokens is not None
            resolution = await resolve(
                deps, uow, grant, parsed.statements, tokens, fmt=parsed.format, choices=picked,
                confirm=confirm, currency=options.currency, at=now,
            )  # fmt: skip
            if resolution.unresolved:  # leaving the block rolls back: nothing is stored
                return ImportResult(
                    file=name, format=parsed.format.value, status=ImportStatus.NEEDS_CONFIRMATION,
                    needs=Needs.ACCOUNT, entries=parsed.entry_count, proposals=resolution.proposals,
                    warnings=parsed.warnings,
                )  # fmt: skip
            file_token = tokens.file(data)
            previous = await uow.imports.import_by_file(grant.person_id, file_token)
            import_id = previous.id if previous is not None else new_id("imp")
            groups: dict[str, _Group] = {}
            for i, account in sorted(resolution.accounts.items()):
                groups.setdefault(account.id, _Group(account)).statements.append(i)
            total = Counts(entries=parsed.entry_count, added=0, merged=0, skipped=0,
                           keep_days=self._keep_days)
            done = 0
            for group in groups.values():
                entries = [e for i in group.statements for e in parsed.statements[i].entries]
                counts = await matching.store_account(
                    deps, uow, grant, group.account, entries, tokens, fmt=parsed.format, import_id=import_id,
                    cutoff=now.date() - timedelta(days=self._keep_days) if self._keep_days else None, at=now,
                    progress=None if progress is None else _offset(progress, done, parsed.entry_count),
                )  # fmt: skip
                done += len(entries)
                total = _add(total, counts)
            balances = await self._balances(uow, parsed, resolution.accounts)
            start, end = _period(parsed)
            thread = await self._thread(uow, grant.person_id, [g.account for g in groups.values()], at=now)
            text = summary_text(file=name, counts=total, start=start, end=end, balances=balances,
                                several_accounts=len(groups) > 1)
            details = {
                "file": name, "format": parsed.format.value, "entries": total.entries, "added": total.added,
                "merged": total.merged, "skipped": total.skipped, "accounts": list(groups),
                "period": None if start is None or end is None else [start.isoformat(), end.isoformat()],
            }  # fmt: skip
            await outgoing.put_message(  # one card per distinct file, edited in place when it comes again
                deps, uow, grant, thread, kind=CardKind.TEXT, body=summary_card(text, details),
                subject_key=f"import:{file_token[:32]}",
            )
            await uow.imports.put_import(StatementImportRecord(
                id=import_id, person_id=grant.person_id, file_token=file_token, format=parsed.format.value,
                entries=total.entries, added=total.added, merged=total.merged, skipped=total.skipped,
                period_start=start, period_end=end, thread_id=thread.id,
                created_at=previous.created_at if previous is not None else now, updated_at=now,
            ))  # fmt: skip
            if parsed.csv_mapping is not None:
                for group in groups.values():
                    await access.store_csv_mapping(deps.vault, uow, grant, group.account, parsed.csv_mapping,
                                                   at=now)
            counted = f"added:{total.added} merged:{total.merged} skipped:{total.skipped}"
            await access.audit(uow, grant, Purpose.IMPORT_STATEMENT, action="import_statement",
                               subject=f"import:{import_id} accounts:{len(groups)} {counted}", at=now)
            await deps.commit_and_publish(uow)
        log.info("statement_imported", import_id=import_id, format=parsed.format.value, entries=total.entries,
                 added=total.added, merged=total.merged, skipped=total.skipped)
        warnings = list(parsed.warnings)
        if total.too_old:
            warnings.append(f"{total.too_old} entries older than {self._keep_days} days were not kept")
        return ImportResult(
            file=name, format=parsed.format.value, status=ImportStatus.IMPORTED,
            accounts=tuple(groups), entries=total.entries, added=total.added, merged=total.merged,
            skipped=total.skipped, period_start=start, period_end=end, thread_id=thread.id,
            import_id=import_id, summary=text, proposals=resolution.proposals, warnings=tuple(warnings),
        )  # fmt: skip

    async def _balances(
        self, uow: UnitOfWork, parsed: ParsedFile, accounts: Mapping[int, AccountRecord]
    ) -> list[BalanceLine]:
        """Each account's closing balance, for the card; stored as the balance of file-only
        accounts (a linked bank's own balance is fresher than any file's)."""
        lines: list[BalanceLine] = []
        for i, stmt in enumerate(parsed.statements):
            account = accounts[i]
            usable = [b for b in stmt.balances if b.amount.currency == account.currency]
            if not usable:
                continue
            rank = {kind: n for n, kind in enumerate(_BALANCE_ORDER)}
            best = min(usable, key=lambda b: (-b.as_of.toordinal(), rank.get(b.kind, len(rank))))
            label = parsed.statements[i].account.name or f"••{account.last4}"
            lines.append(BalanceLine(account=display_line(label, "account name"), amount=best.amount,
                                     as_of=best.as_of))
            if account.partner_id == FILES_PARTNER_ID:
                closed = datetime.combine(best.as_of + timedelta(days=1), time.min, tzinfo=UTC)
                balance = BankBalance(bank_account_id=account.bank_account_id, current=best.amount,
                                      available=None, as_of=closed)
                await access.store_balance(self._deps.vault, uow, account, balance)
        return lines

    async def _thread(
        self, uow: UnitOfWork, person_id: str, accounts: Sequence[AccountRecord], *, at: datetime
    ) -> ThreadRecord:
        """The accounts' thread when they share one; the "Statement files" thread when they do
        not; the system thread for a file without statements."""
        threads: dict[str, ThreadRecord] = {}
        for account in accounts:
            thread = await uow.threads.for_link(account.link_id)
            if thread is not None:
                threads[thread.id] = thread
        if len(threads) == 1:
            only = next(iter(threads.values()))
            return await uow.threads.lock(only.id) or only
        if not accounts:
            system = await uow.threads.system_thread(person_id)
            if system is not None:
                return system
        _link, thread = await files_link(self._deps, uow, person_id, at=at)
        return thread


def _offset(progress: Progress, done: int, total: int) -> Progress:
    return lambda n, _t: progress(done + n, total)


def _add(total: Counts, c: Counts) -> Counts:
    return replace(total, added=total.added + c.added, merged=total.merged + c.merged,
                   skipped=total.skipped + c.skipped, too_old=total.too_old + c.too_old)


def _period(parsed: ParsedFile) -> tuple[date | None, date | None]:
    """The file's period: as its statements declare it, else its entries' dates."""
    starts = [s.period_start for s in parsed.statements if s.period_start]
    ends = [s.period_end for s in parsed.statements if s.period_end]
    days = [d for s in parsed.statements for e in s.entries for d in (e.booking_date or e.value_date,) if d]
    start = min(starts + days, default=None)
    end = max(ends + days, default=None)
    return start, end


__all__ = ["MAX_FILE_BYTES", "Progress", "StatementImporter"]
