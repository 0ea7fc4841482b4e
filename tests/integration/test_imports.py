"""Statement imports (issue 10, docs/imports.md): the service's rules on a real database, with
readers that hand over `ParsedFile`s (the format readers have their own tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_no_plaintext_at_rest import _database_bytes

from ledgerlink.adapters.statements import StatementReader
from ledgerlink.domain.banking import AccountType, Transaction, TransactionStatus
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.statements import (
    CsvMapping,
    DateOrder,
    ParsedFile,
    ParsedStatement,
    ReadOptions,
    StatementAccount,
    StatementBalance,
    StatementEntry,
    StatementError,
    StatementFormat,
)
from ledgerlink.services import access
from ledgerlink.services.imports.importer import StatementImporter
from ledgerlink.services.imports.results import CREATE, ImportStatus, Needs, Proposal
from ledgerlink.services.messaging import messenger
from ledgerlink.services.privacy import rights
from ledgerlink.services.questions import commands

IBAN = "DE89 3704 0044 0532 0130 00"
TABLES = (
    "accounts",
    "links",
    "threads",
    "messages",
    "transactions",
    "statement_entries",
    "statement_imports",
    "import_keys",
    "csv_mappings",
    "partners",
)


class Reader:
    """A StatementReader that hands back what the test prepared for each file's bytes."""

    def __init__(self, files: dict[bytes, ParsedFile | Callable[[ReadOptions], ParsedFile]]) -> None:
        self.files = files
        self.seen: list[ReadOptions] = []

    def read(self, data: bytes, *, filename: str | None, options: ReadOptions) -> ParsedFile:
        self.seen.append(options)
        found = self.files.get(data)
        if found is None:
            raise StatementError(
                "no OFX structure", format=StatementFormat.OFX, where="line 1", code="not_ofx"
            )
        return found(options) if callable(found) else found


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def entry(
    amount: str,
    day: date,
    descriptor: str,
    *,
    entry_id: str | None = None,
    currency: str = "USD",
    status: TransactionStatus = TransactionStatus.POSTED,
    pending: str | None = None,
) -> StatementEntry:
    return StatementEntry(
        amount=Money.parse(amount, currency),
        booking_date=day,
        descriptor=descriptor,
        entry_id=entry_id,
        status=status,
        pending_entry_id=pending,
        where="STMTTRN[1]",
    )


def statement(
    *entries: StatementEntry,
    identifier: str = IBAN,
    currency: str | None = "USD",
    balances: tuple[StatementBalance, ...] = (),
) -> ParsedStatement:
    account = StatementAccount(identifier=identifier, currency=currency, type=AccountType.CHECKING)
    return ParsedStatement(account=account, entries=entries, balances=balances)


def ofx(*statements: ParsedStatement, fmt: StatementFormat = StatementFormat.OFX) -> ParsedFile:
    return ParsedFile(format=fmt, statements=statements)


D = date(2025, 1, 10)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, f"sqlite:///{tmp_path / 'ledgerlink.db'}") as s:
        yield s


async def _person(stack: Stack, handle: str = "pat") -> Grant:
    person_id = await messenger.register(
        stack.deps, handle=handle, display_name="Pat", password="correct horse"
    )
    return Grant.for_person(person_id)


async def _counts(stack: Stack) -> dict[str, int]:
    async with stack.container.engine.connect() as conn:
        return {t: int((await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()) for t in TABLES}


async def _rows(stack: Stack, grant: Grant, account_id: str) -> list[Transaction]:
    async with stack.deps.uow() as uow:
        return await access.read_recent_transactions(
            stack.deps.vault,
            uow,
            grant,
            Purpose.SHOW_TO_PERSON,
            account_id,
            at=stack.deps.clock.now(),
            limit=10_000,
        )


async def _thread_cards(stack: Stack, grant: Grant, thread_id: str) -> list:  # type: ignore[type-arg]
    return await messenger.thread_messages(stack.deps, grant, thread_id)


async def test_a_new_account_is_proposed_and_nothing_stored_until_confirmed(stack: Stack) -> None:
    grant = await _person(stack)
    importer = StatementImporter(stack.deps, Reader({b"a": ofx(statement(entry("-4.50", D, "Coffee")))}))
    before = await _counts(stack)
    result = await importer.import_file(grant, b"a", filename="statement.ofx")
    assert (result.status, result.needs) == (ImportStatus.NEEDS_CONFIRMATION, Needs.ACCOUNT)
    assert [p.proposal for p in result.proposals] == [Proposal.CREATE]
    assert result.proposals[0].last4 == "3000" and result.proposals[0].name == "Checking ••3000"
    assert await _counts(stack) == before
    confirmed = await importer.import_file(grant, b"a", filename="statement.ofx", choices={0: CREATE})
    assert (confirmed.status, confirmed.added) == (ImportStatus.IMPORTED, 1)
    again = await importer.import_file(grant, b"a", filename="statement.ofx")  # maps by its token now
    assert (again.status, again.added, again.skipped, again.accounts) == (
        ImportStatus.IMPORTED,
        0,
        1,
        confirmed.accounts,
    )


async def test_the_same_file_twice_adds_nothing_and_keeps_one_summary_card(stack: Stack) -> None:
    grant = await _person(stack)
    parsed = ofx(
        statement(
            entry("-4.50", D, "Blue Bottle", entry_id="F1"),
            entry("-20.00", D, "Shell", entry_id="F2"),
            entry("2500.00", D + timedelta(days=3), "PAYROLL ACME", entry_id="F3"),
            balances=(StatementBalance("closing_booked", usd("1234.56"), date(2025, 3, 31)),),
        )
    )
    importer = StatementImporter(stack.deps, Reader({b"file": parsed}))
    first = await importer.import_file(grant, b"file", filename="statement.ofx", confirm=True)
    second = await importer.import_file(grant, b"file", filename="statement.ofx", confirm=True)
    assert (first.added, first.merged, first.skipped) == (3, 0, 0)
    assert (second.added, second.merged, second.skipped) == (0, 0, 3)
    assert len(await _rows(stack, grant, first.accounts[0])) == 3
    cards = await _thread_cards(stack, grant, str(first.thread_id))
    summaries = [m for m in cards if m.subject_key and m.subject_key.startswith("import:")]
    assert len(summaries) == 1 and not [m for m in cards if m.kind is CardKind.TRANSACTION]
    assert summaries[0].edited_at is not None  # the same file's card, edited in place
    body = summaries[0].body["text"]
    assert body.startswith("3 transactions from statement.ofx, 10 Jan – 13 Jan 2025")
    assert "all of them were already here" in body and "balance on 31 Mar: $1,234.56" in body
    async with stack.deps.uow() as uow:
        view = await access.read_account(
            stack.deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, first.accounts[0], at=stack.deps.clock.now()
        )
    assert view.balance is not None and view.balance.current == usd("1234.56")  # a file-only account's


async def test_overlapping_files_add_only_what_is_new(stack: Stack) -> None:
    grant = await _person(stack)
    days = [D + timedelta(days=i) for i in range(10)]
    jan = ofx(statement(*[entry(f"-{i + 1}.00", d, f"Shop {i}") for i, d in enumerate(days[:7])]))
    feb = ofx(statement(*[entry(f"-{i + 1}.00", d, f"Shop {i}") for i, d in enumerate(days)][4:]))
    importer = StatementImporter(stack.deps, Reader({b"jan": jan, b"feb": feb}))
    a = await importer.import_file(grant, b"jan", filename="jan.csv", confirm=True)
    b = await importer.import_file(grant, b"feb", filename="feb.csv", confirm=True)
    assert (a.added, b.added, b.skipped) == (7, 3, 3)
    assert len(await _rows(stack, grant, a.accounts[0])) == 10


async def test_two_identical_purchases_in_one_file_are_two_rows(stack: Stack) -> None:
    grant = await _person(stack)
    twice = ofx(statement(entry("-3.50", D, "STARBUCKS 123"), entry("-3.50", D, "STARBUCKS 123")))
    importer = StatementImporter(stack.deps, Reader({b"x": twice}))
    first = await importer.import_file(grant, b"x", filename="x.qif", confirm=True)
    again = await importer.import_file(grant, b"x", filename="x.qif", confirm=True)
    assert (first.added, again.added, again.skipped) == (2, 0, 2)


async def test_pending_entries_follow_the_pending_to_posted_lineage(stack: Stack) -> None:
    grant = await _person(stack)
    pending = ofx(
        statement(entry("-10.00", D, "JOES DINER", entry_id="P1", status=TransactionStatus.PENDING)),
        fmt=StatementFormat.CAMT,
    )
    posted = ofx(
        statement(entry("-12.00", D + timedelta(days=2), "JOES DINER", entry_id="B1", pending="P1")),
        fmt=StatementFormat.CAMT,
    )
    importer = StatementImporter(stack.deps, Reader({b"052": pending, b"053": posted}))
    first = await importer.import_file(grant, b"052", filename="intraday.xml", confirm=True)
    second = await importer.import_file(grant, b"053", filename="day.xml", confirm=True)
    assert (first.added, second.added, second.merged) == (1, 0, 1)
    [row] = await _rows(stack, grant, first.accounts[0])
    assert (row.status, row.amount) == (TransactionStatus.POSTED, usd("-12.00"))
    assert "pending->posted" in row.history


async def test_a_failure_in_the_middle_stores_nothing(stack: Stack) -> None:
    grant = await _person(stack)
    good = statement(*[entry(f"-{i}.00", D, f"Shop {i}") for i in range(1, 50)])
    bad = statement(
        entry("-1.00", D, "ok"),
        entry("-5.00", D, "in euros", currency="EUR"),
        identifier="GB29NWBK60161331926819",
    )
    importer = StatementImporter(stack.deps, Reader({b"two": ofx(good, bad)}))
    before = await _counts(stack)
    result = await importer.import_file(grant, b"two", filename="two.ofx", confirm=True)
    assert result.status is ImportStatus.FAILED and result.error is not None
    assert result.error.code == "currency_mismatch"
    assert result.error.detail.startswith("OFX, STMTTRN[1]: an entry in EUR")
    assert await _counts(stack) == before  # the first statement's 49 rows and both accounts: gone


async def test_a_bad_file_fails_precisely_and_an_empty_one_imports_as_zero(stack: Stack) -> None:
    grant = await _person(stack)
    importer = StatementImporter(stack.deps, Reader({b"empty": ofx()}))
    bad = await importer.import_file(grant, b"garbage", filename="bad.ofx")
    assert bad.status is ImportStatus.FAILED and bad.error is not None
    assert (bad.format, bad.error.code, bad.error.detail) == (
        "ofx",
        "not_ofx",
        "OFX, line 1: no OFX structure",
    )
    empty = await importer.import_file(grant, b"empty", filename="empty.ofx")
    assert (empty.status, empty.entries, empty.added) == (ImportStatus.IMPORTED, 0, 0)
    cards = await _thread_cards(stack, grant, str(empty.thread_id))
    assert cards[-1].body["text"] == "0 transactions from empty.ofx; the file holds no transactions"


async def test_ambiguous_dates_store_nothing_until_an_order_is_given(stack: Stack) -> None:
    grant = await _person(stack)

    def read(options: ReadOptions) -> ParsedFile:
        parsed = ofx(statement(entry("-1.00", date(2025, 3, 4), "x")), fmt=StatementFormat.QIF)
        if options.date_order is None:
            return replace(parsed, ambiguous_date_orders=(DateOrder.DMY, DateOrder.MDY))
        return replace(parsed, date_order=options.date_order)

    importer = StatementImporter(stack.deps, Reader({b"q": read}))
    before = await _counts(stack)
    waiting = await importer.import_file(grant, b"q", filename="x.qif", confirm=True)
    assert (waiting.status, waiting.needs, waiting.date_orders) == (
        ImportStatus.NEEDS_CONFIRMATION,
        Needs.DATE_ORDER,
        ("dmy", "mdy"),
    )
    assert await _counts(stack) == before
    done = await importer.import_file(
        grant, b"q", filename="x.qif", confirm=True, options=ReadOptions(date_order=DateOrder.MDY)
    )
    assert (done.status, done.added) == (ImportStatus.IMPORTED, 1)


async def test_a_csv_mapping_is_saved_per_account_for_the_next_file(stack: Stack) -> None:
    grant = await _person(stack)
    mapping = CsvMapping(
        delimiter=";",
        encoding="cp1252",
        has_header=True,
        date_column=0,
        date_format="%d.%m.%Y",
        description_column=2,
        amount_column=3,
        decimal_comma=True,
        profile="sparkasse",
    )
    first = replace(
        ofx(statement(entry("-1.00", D, "x"), identifier=""), fmt=StatementFormat.CSV), csv_mapping=mapping
    )
    reader = Reader(
        {b"c1": first, b"c2": ofx(statement(entry("-2.00", D, "y"), identifier=""), fmt=StatementFormat.CSV)}
    )
    importer = StatementImporter(stack.deps, reader)
    created = await importer.import_file(grant, b"c1", filename="a.csv", choices={0: CREATE})
    assert created.status is ImportStatus.IMPORTED
    second = await importer.import_file(grant, b"c2", filename="b.csv", account_id=created.accounts[0])
    assert second.status is ImportStatus.IMPORTED
    assert reader.seen[-1].csv_mapping == mapping


async def test_a_file_entry_known_from_sync_merges_and_no_cards_are_posted(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    checking = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    async with stack.deps.uow() as uow:
        account = next(
            a
            for a in await uow.accounts.for_person(grant.person_id)
            if a.bank_account_id == checking.account_id
        )
    synced = [t for t in await _rows(stack, grant, account.id) if t.merchant and t.booking_date]
    purchase, other = synced[0], synced[1]
    assert purchase.booking_date is not None and other.booking_date is not None
    lines = statement(
        entry(
            str(purchase.amount.amount),
            purchase.booking_date + timedelta(days=2),
            f"POS 4411 {purchase.merchant.upper()} 0099",
        ),  # type: ignore[union-attr]
        entry(
            str(other.amount.amount), other.booking_date - timedelta(days=3), "x", entry_id=other.source_key
        ),
        entry("-77.70", purchase.booking_date, "Not at the bank yet"),
        identifier=checking.number,
    )
    importer = StatementImporter(
        stack.deps, Reader({b"f": ofx(lines), b"g": ofx(replace(lines, entries=()))})
    )
    cards_before = len(await _thread_cards(stack, grant, thread_id))
    rows_before = len(await _rows(stack, grant, account.id))
    proposed = await importer.import_file(grant, b"f", filename="bank.ofx")
    assert [(p.proposal, p.candidates) for p in proposed.proposals] == [(Proposal.CONFIRM, (account.id,))]
    result = await importer.import_file(grant, b"f", filename="bank.ofx", confirm=True)
    assert (result.added, result.merged, result.thread_id) == (1, 2, thread_id)
    assert len(await _rows(stack, grant, account.id)) == rows_before + 1
    cards = await _thread_cards(stack, grant, thread_id)
    assert len(cards) == cards_before + 1 and "2 matched ones already here" in cards[-1].body["text"]
    mapped = await importer.import_file(grant, b"g", filename="next.ofx")  # the token is now stored
    assert (mapped.status, mapped.accounts) == (ImportStatus.IMPORTED, (account.id,))


async def test_sync_after_an_import_merges_into_the_file_row(stack: Stack) -> None:
    grant, _thread = await _linked(stack)
    checking = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    async with stack.deps.uow() as uow:
        account = next(
            a
            for a in await uow.accounts.for_person(grant.person_id)
            if a.bank_account_id == checking.account_id
        )
    today = datetime.now(UTC).date()
    importer = StatementImporter(
        stack.deps,
        Reader(
            {
                b"f": ofx(
                    statement(entry("-7.77", today, "BLUE BOTTLE COFFEE 0042"), identifier=checking.number)
                )
            }
        ),
    )
    imported = await importer.import_file(grant, b"f", filename="today.ofx", account_id=account.id)
    assert imported.added == 1
    [file_row] = [t for t in await _rows(stack, grant, account.id) if t.amount == usd("-7.77")]
    pending_id = await stack.bank.purchase(
        "alice", account_id=checking.account_id, merchant="Blue Bottle Coffee", amount="7.77"
    )
    await stack.container.drain()
    [row] = [t for t in await _rows(stack, grant, account.id) if t.amount == usd("-7.77")]
    assert (row.id, row.source_key) == (file_row.id, pending_id)
    posted_id = await stack.bank.post(pending_id)
    await stack.container.drain()
    [row] = [t for t in await _rows(stack, grant, account.id) if t.amount == usd("-7.77")]
    assert (row.id, row.status, row.source_key, row.pending_source_key) == (
        file_row.id,
        TransactionStatus.POSTED,
        posted_id,
        pending_id,
    )
    again = await importer.import_file(grant, b"f", filename="today.ofx", account_id=account.id)
    assert (again.added, again.merged, again.skipped) == (0, 0, 1)  # still found by its key


async def test_imported_rows_are_there_for_export_and_the_audit_log(stack: Stack) -> None:
    grant = await _person(stack)
    importer = StatementImporter(stack.deps, Reader({b"f": ofx(statement(entry("-9.99", D, "Netflix")))}))
    result = await importer.import_file(grant, b"f", filename="f.ofx", confirm=True)
    async with stack.deps.uow() as uow:
        data = await access.read_for_export(stack.deps.vault, uow, grant, at=stack.deps.clock.now())
        audit = await uow.audit.for_person(grant.person_id, limit=100)
    assert [t.descriptor for t in data.transactions] == ["Netflix"]
    assert [a.id for a in data.accounts] == list(result.accounts)
    assert {"import_statement", "match_transactions"} <= {
        e.action for e in audit if e.purpose == Purpose.IMPORT_STATEMENT.value
    }


@pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_import_merge_and_reimport_on_both_databases(tmp_path: Path, db_url: str) -> None:
    async with running_stack(tmp_path, db_url) as stack:
        grant = await _person(stack)
        parsed = ofx(
            statement(
                *[
                    entry(f"-{i}.25", D + timedelta(days=i % 5), f"Shop {i}", entry_id=f"F{i}")
                    for i in range(1, 30)
                ]
            )
        )
        importer = StatementImporter(stack.deps, Reader({b"f": parsed}))
        first = await importer.import_file(grant, b"f", filename="f.ofx", confirm=True)
        second = await importer.import_file(grant, b"f", filename="f.ofx", confirm=True)
        assert (first.added, second.added, second.skipped) == (29, 0, 29)
        assert len(await _rows(stack, grant, first.accounts[0])) == 29


async def test_no_account_number_or_file_text_is_stored_in_clear(tmp_path: Path) -> None:
    async with running_stack(tmp_path, f"sqlite:///{tmp_path / 'ledgerlink.db'}") as stack:
        grant = await _person(stack)
        importer = StatementImporter(
            stack.deps,
            Reader(
                {
                    b"f": ofx(
                        statement(entry("-61.23", D, "ACME HARDWARE SPRINGFIELD", entry_id="FITID-SECRET-77"))
                    )
                }
            ),
        )
        result = await importer.import_file(grant, b"f", filename="private-name.ofx", confirm=True)
        assert result.status is ImportStatus.IMPORTED
    blob = _database_bytes(tmp_path)
    for needle in (
        "DE89370400440532013000",
        IBAN,
        "ACME HARDWARE",
        "FITID-SECRET-77",
        "private-name",
        "61.23",
    ):
        assert needle.encode() not in blob, needle


async def test_entries_older_than_retention_are_counted_not_kept(stack: Stack) -> None:
    grant = await _person(stack)
    today = datetime.now(UTC).date()
    parsed = ofx(statement(entry("-1.00", today - timedelta(days=800), "old"), entry("-2.00", today, "new")))
    importer = StatementImporter(stack.deps, Reader({b"f": parsed}), keep_days=730)
    result = await importer.import_file(grant, b"f", filename="f.ofx", confirm=True)
    assert (result.added, result.skipped) == (1, 1)
    assert (
        result.summary is not None and "1 older than the 730-day retention period not kept" in result.summary
    )
    assert [t.descriptor for t in await _rows(stack, grant, result.accounts[0])] == ["new"]


async def test_real_files_through_the_real_readers(stack: Stack) -> None:
    grant = await _person(stack)
    fixtures = Path(__file__).parents[1] / "fixtures" / "statements"
    importer = StatementImporter(stack.deps, StatementReader())
    camt = fixtures / "camt" / "genkgo-camt053.v2.multi.statement.xml"
    result = await importer.import_file(grant, camt.read_bytes(), filename=camt.name, confirm=True)
    assert (result.status, result.format, len(result.accounts), result.added) == (
        ImportStatus.IMPORTED,
        "camt",
        1,
        2,
    )  # two days' statements of one IBAN: one account
    assert result.summary is not None and "balance on" in result.summary and "€" in result.summary
    qif = fixtures / "qif" / "ours_ambiguous_dates.qif"
    waiting = await importer.import_file(
        grant, qif.read_bytes(), filename=qif.name, confirm=True, options=ReadOptions(currency="EUR")
    )
    assert (waiting.status, waiting.needs) == (ImportStatus.NEEDS_CONFIRMATION, Needs.DATE_ORDER)
    done = await importer.import_file(
        grant,
        qif.read_bytes(),
        filename=qif.name,
        confirm=True,
        options=ReadOptions(currency="EUR", date_order=DateOrder.DMY),
    )
    assert done.status is ImportStatus.IMPORTED and done.added > 0
    bad = fixtures / "ofx" / "ours_fail_truncated.ofx"
    failed = await importer.import_file(grant, bad.read_bytes(), filename=bad.name)
    assert failed.status is ImportStatus.FAILED and failed.error is not None
    assert failed.error.detail.startswith("OFX, ")


async def test_questions_in_the_bank_thread_see_imported_rows(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    checking = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    async with stack.deps.uow() as uow:
        account = next(
            a
            for a in await uow.accounts.for_person(grant.person_id)
            if a.bank_account_id == checking.account_id
        )
    today = datetime.now(UTC).date()
    parsed = ofx(statement(entry("-31.41", today, "Piano Lessons Ltd"), identifier=checking.number))
    importer = StatementImporter(stack.deps, Reader({b"f": parsed}))
    assert (await importer.import_file(grant, b"f", filename="f.ofx", account_id=account.id)).added == 1
    await commands.handle_text(stack.deps, grant, thread_id, "last 50 transactions")
    answer = (await _thread_cards(stack, grant, thread_id))[-1].body["text"]
    assert "Piano Lessons Ltd" in answer


async def test_erasure_takes_the_imports_with_it(stack: Stack) -> None:
    grant = await _person(stack)
    mapping = CsvMapping(
        delimiter=",",
        encoding="utf-8",
        has_header=True,
        date_column=0,
        date_format="%Y-%m-%d",
        description_column=1,
        amount_column=2,
    )
    parsed = replace(
        ofx(statement(entry("-1.00", D, "x"), entry("-2.00", D, "y")), fmt=StatementFormat.CSV),
        csv_mapping=mapping,
    )
    importer = StatementImporter(stack.deps, Reader({b"f": parsed}))
    assert (await importer.import_file(grant, b"f", filename="f.csv", confirm=True)).added == 2
    report = await rights.erase_person(stack.deps, grant)
    assert report.key_destroyed
    counts = await _counts(stack)
    assert {
        t: counts[t]
        for t in (
            "transactions",
            "statement_entries",
            "statement_imports",
            "csv_mappings",
            "accounts",
            "links",
        )
    } == dict.fromkeys(
        ("transactions", "statement_entries", "statement_imports", "csv_mappings", "accounts", "links"), 0
    )
