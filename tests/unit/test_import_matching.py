"""The matching rule of statement imports (domain/import_matching.py), without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ledgerlink.domain.banking import Transaction, TransactionStatus
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
    similarity,
    words,
)
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import StatementEntry

D = date(2025, 3, 10)


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def line(
    index: int,
    amount: str,
    day: date = D,
    text: str = "",
    *,
    key: str | None = None,
    ids: frozenset[str] = frozenset(),
    known_keys: tuple[str, ...] = (),
) -> FileLine:
    return FileLine(
        index=index,
        key=key or f"k{index}",
        ids=ids,
        amount=usd(amount),
        day=day,
        words=words(text),
        known_keys=known_keys,
    )


def row(
    row_id: str,
    amount: str,
    day: date = D,
    text: str = "",
    *,
    ids: frozenset[str] = frozenset(),
    status: TransactionStatus = TransactionStatus.POSTED,
) -> StoredRow:
    return StoredRow(id=row_id, amount=usd(amount), day=day, status=status, ids=ids, words=words(text))


def test_words_drop_noise_numbers_and_accents() -> None:
    assert words("POS 4411 CAFÉ  Blue-Bottle #12 VISA") == {"cafe", "blue", "bottle"}
    assert words(None, "") == frozenset()


def test_similarity_counts_the_shorter_side_and_prefixes() -> None:
    assert similarity(words("STARBUCK SEATTLE"), words("Starbucks")) == 1.0
    assert similarity(words("Whole Foods Market"), words("Trader Joes")) == 0.0
    assert similarity(words("1234"), words("Starbucks")) is None


def test_a_known_key_is_the_same_row_again() -> None:
    [m] = plan([line(0, "-5.00", text="Coffee")], [], {"k0": "txn_1"})
    assert (m.kind, m.row_id) == (MatchKind.KNOWN, "txn_1")


def test_the_banks_own_id_wins_over_words_and_dates() -> None:
    rows = [
        row("txn_a", "-20.00", D, "Totally different", ids=frozenset({"FIT-9"})),
        row("txn_b", "-20.00", D, "Whole Foods"),
    ]
    [m] = plan([line(0, "-20.00", date(2025, 3, 12), "Whole Foods", ids=frozenset({"FIT-9"}))], rows, {})
    assert (m.kind, m.row_id) == (MatchKind.BANK_ID, "txn_a")


def test_similar_needs_same_amount_window_and_words() -> None:
    rows = [row("txn_a", "-12.30", D, "WHOLEFDS MKT Whole Foods Market 10234")]
    near = plan([line(0, "-12.30", date(2025, 3, 10 + WINDOW_DAYS), "Whole Foods Market")], rows, {})
    assert (near[0].kind, near[0].row_id) == (MatchKind.SIMILAR, "txn_a")
    far = plan([line(0, "-12.30", date(2025, 3, 11 + WINDOW_DAYS), "Whole Foods Market")], rows, {})
    other_amount = plan([line(0, "-12.31", D, "Whole Foods Market")], rows, {})
    other_words = plan([line(0, "-12.30", D, "Shell Oil")], rows, {})
    assert [far[0].kind, other_amount[0].kind, other_words[0].kind] == [MatchKind.NEW] * 3


def test_a_files_own_duplicates_take_one_row_each() -> None:
    rows = [row("txn_a", "-3.50", D, "Starbucks")]
    matches = plan([line(0, "-3.50", D, "Starbucks"), line(1, "-3.50", D, "Starbucks")], rows, {})
    assert [m.kind for m in matches] == [MatchKind.SIMILAR, MatchKind.NEW]
    assert occurrences(["a", "b", "a", "a"]) == ["a", "b", "a#1", "a#2"]


def test_the_best_pair_wins_whatever_the_file_order() -> None:
    rows = [row("txn_coffee", "-4.00", D, "Blue Bottle Coffee"), row("txn_tea", "-4.00", D, "Teavana Tea")]
    matches = plan([line(0, "-4.00", D, "Teavana Blue"), line(1, "-4.00", D, "Blue Bottle Coffee")], rows, {})
    assert [m.row_id for m in matches] == ["txn_tea", "txn_coffee"]


def test_wordless_descriptors_match_only_a_pair_alone_in_its_window() -> None:
    alone = plan([line(0, "-99.00", D, "000123")], [row("txn_a", "-99.00", D, "12345")], {})
    assert alone[0].kind is MatchKind.SIMILAR
    crowded = plan(
        [line(0, "-99.00", D, "000123")],
        [row("txn_a", "-99.00", D, "12345"), row("txn_b", "-99.00", D, "Rent")],
        {},
    )
    assert crowded[0].kind is MatchKind.NEW


def test_removed_rows_are_never_matched() -> None:
    rows = [row("txn_a", "-8.00", D, "Lyft", status=TransactionStatus.REMOVED)]
    assert plan([line(0, "-8.00", D, "Lyft")], rows, {})[0].kind is MatchKind.NEW


def test_a_posted_entry_naming_its_pending_one_finds_that_row() -> None:
    [m] = plan([line(0, "-9.00", known_keys=("kp",))], [], {"kp": "txn_p"})
    assert (m.kind, m.row_id) == (MatchKind.KNOWN, "txn_p")


def test_identities_are_stable_and_distinguish_content() -> None:
    a = content_identity(day=D, amount=usd("-1.00"), descriptor="Shop  ONE", merchant=None)
    b = content_identity(day=D, amount=usd("-1.00"), descriptor="shop one", merchant=None)
    c = content_identity(day=D, amount=usd("-1.01"), descriptor="shop one", merchant=None)
    assert a == b != c
    assert id_identity(" FIT1 ") == "id|FIT1"


def test_a_file_posts_a_pending_row_but_keeps_the_banks_words_and_id() -> None:
    at = datetime(2025, 3, 1, tzinfo=UTC)
    txn = Transaction(
        id="txn_1",
        account_id="acc",
        person_id="per",
        source_key="bank-p1",
        pending_source_key=None,
        status=TransactionStatus.PENDING,
        amount=usd("-10.00"),
        booking_date=None,
        value_date=None,
        merchant="Joe's Diner",
        descriptor="JOES DINER",
        mcc="5812",
        created_at=at,
        updated_at=at,
    )
    entry = StatementEntry(amount=usd("-12.00"), booking_date=D, descriptor="POS JOES DINER 4411")
    assert txn.apply(file_update(txn, entry), at=at)
    assert (txn.status, txn.amount, txn.booking_date) == (TransactionStatus.POSTED, usd("-12.00"), D)
    assert (txn.source_key, txn.merchant, txn.descriptor) == ("bank-p1", "Joe's Diner", "JOES DINER")
    assert "pending->posted" in txn.history
    assert not txn.apply(file_update(txn, entry), at=at)  # the same file again changes nothing
