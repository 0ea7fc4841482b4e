"""Which stored transaction a statement-file entry is (or a bank report is, the other way
round): the idempotent matching rule of statement imports, pure and explainable.

The rule (docs/imports.md "What merges"), in order, for one account:

1. **Known.** The entry's own key was stored by an earlier import (the same file twice,
   overlapping files): it is that row again. Keys count a file's identical entries by
   occurrence, so two equal purchases on one day in one file are two keys, two rows.
2. **The bank's own id.** The entry carries an id (FITID, AcctSvcrRef, ...) that a stored row
   also carries: exact match wins, whatever the descriptor says.
3. **Similar.** Same amount and currency, booking dates at most `WINDOW_DAYS` apart, and
   similar descriptors (normalized words overlapping by at least `MIN_OVERLAP`). When several
   pairs compete, the most similar pair wins, then the closest dates. A descriptor without
   usable words (only numbers, say) matches only a pair that is alone in its window.
4. Otherwise the entry is new.

Every stored row is taken by at most one entry of a file, and the other way round.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from ledgerlink.domain.banking import BankTransaction, Transaction, TransactionStatus
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import StatementEntry

__all__ = [
    "MIN_OVERLAP",
    "WINDOW_DAYS",
    "FileLine",
    "Match",
    "MatchKind",
    "StoredRow",
    "content_identity",
    "file_update",
    "id_identity",
    "occurrences",
    "plan",
    "similarity",
    "words",
]

# A card purchase made on a Friday is often booked on the Tuesday after (two business days
# plus a weekend): 4 days. Wider would begin pairing weekly charges of the same amount (7 days
# apart) with the wrong week.
WINDOW_DAYS = 4
MIN_OVERLAP = 0.5

# Words that say how a payment was made, not who was paid: they make unrelated lines look alike.
_NOISE = frozenset(
    """pos card debit credit purchase payment paid visa mastercard maestro amex sepa ach
    online transaction txn ref reference contactless chip pin the and for from with inc llc
    ltd gmbh www com co corp lastschrift gutschrift ueberweisung uberweisung kartenzahlung
    betaalpas pinbetaling compra pago paiement carte achat cb""".split()
)
_SPLIT = re.compile(r"[\W_]+", re.UNICODE)


def words(*texts: str | None) -> frozenset[str]:
    """The comparable words of descriptors: accents dropped, case folded, noise words, words
    under 3 characters and plain numbers (card digits, dates, references) left out."""
    out: set[str] = set()
    for text in texts:
        if not text:
            continue
        plain = "".join(
            ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
        ).casefold()
        for word in _SPLIT.split(plain):
            if len(word) >= 3 and not word.isdigit() and word not in _NOISE:
                out.add(word)
    return frozenset(out)


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 4 and long_.startswith(short)  # "starbuck" / "starbucks"


def similarity(a: frozenset[str], b: frozenset[str]) -> float | None:
    """Share of the shorter side's words found on the other side; None if a side has none."""
    if not a or not b:
        return None
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    hits = sum(1 for w in small if w in large or any(_same_word(w, x) for x in large))
    return hits / len(small)


# --------------------------------------------------------------------------- keys


def _collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def id_identity(entry_id: str) -> str:
    """What a key is made of for an entry with the bank's own id."""
    return f"id|{entry_id.strip()}"


def content_identity(*, day: date, amount: Money, descriptor: str, merchant: str | None) -> str:
    """What a key is made of for an entry without an id: date, amount and the text as printed."""
    text = f"{_collapse(descriptor)}|{_collapse(merchant or '')}"
    return f"h|{day.isoformat()}|{amount.minor}|{amount.currency}|{text}"


def occurrences(identities: Iterable[str]) -> list[str]:
    """Number repeated identities within one file: the n-th equal entry gets `#n` (the first
    none), so a file's own duplicates stay distinct and the same file gives the same keys."""
    seen: dict[str, int] = {}
    out = []
    for identity in identities:
        n = seen.get(identity, 0)
        seen[identity] = n + 1
        out.append(identity if n == 0 else f"{identity}#{n}")
    return out


# --------------------------------------------------------------------------- the plan


class MatchKind(enum.StrEnum):
    KNOWN = "known"  # imported before (this key was stored)
    BANK_ID = "bank_id"  # the bank's own id matched exactly
    SIMILAR = "similar"  # amount, date window and descriptor
    NEW = "new"


@dataclass(frozen=True, slots=True)
class FileLine:
    """One entry (or one bank report), as the rule sees it."""

    index: int
    key: str | None  # its stored key (None when there is none, e.g. a bank report)
    ids: frozenset[str]  # ids comparable with StoredRow.ids (the bank's, or keyed ones)
    amount: Money
    day: date
    words: frozenset[str]
    known_keys: tuple[str, ...] = ()  # further keys naming it (a posted entry's pending one)


@dataclass(frozen=True, slots=True)
class StoredRow:
    id: str
    amount: Money
    day: date
    status: TransactionStatus
    ids: frozenset[str]
    words: frozenset[str]


@dataclass(frozen=True, slots=True)
class Match:
    index: int
    kind: MatchKind
    row_id: str | None  # None for NEW
    score: float | None = None  # the descriptor similarity of a SIMILAR match


def plan(
    lines: Sequence[FileLine], rows: Sequence[StoredRow], known: Mapping[str, str]
) -> list[Match]:
    """Decide every line of one account's file against the stored rows; `known` maps the keys
    stored earlier to their row ids. One Match per line, in line order."""
    decided: dict[int, Match] = {}
    claimed: set[str] = set()
    for line in lines:
        for key in (line.key, *line.known_keys):
            row_id = known.get(key) if key is not None else None
            if row_id is not None and row_id not in claimed:
                decided[line.index] = Match(line.index, MatchKind.KNOWN, row_id)
                claimed.add(row_id)
                break
    live = [r for r in rows if r.status is not TransactionStatus.REMOVED]
    by_id: dict[str, list[StoredRow]] = {}
    for row in live:
        for ident in row.ids:
            by_id.setdefault(ident, []).append(row)
    for line in lines:
        if line.index in decided:
            continue
        for ident in sorted(line.ids):
            same = next((r for r in by_id.get(ident, ()) if r.id not in claimed
                         and r.amount.currency == line.amount.currency), None)
            if same is not None:
                decided[line.index] = Match(line.index, MatchKind.BANK_ID, same.id)
                claimed.add(same.id)
                break
    _similar(lines, live, decided, claimed)
    return [decided.get(line.index) or Match(line.index, MatchKind.NEW, None) for line in lines]


def _similar(
    lines: Sequence[FileLine], rows: Sequence[StoredRow], decided: dict[int, Match], claimed: set[str]
) -> None:
    by_amount: dict[tuple[int, str], list[StoredRow]] = {}
    for row in rows:
        if row.id not in claimed:
            by_amount.setdefault((row.amount.minor, row.amount.currency), []).append(row)
    scored: list[tuple[float, int, int, str, FileLine, StoredRow]] = []
    wordless: list[tuple[FileLine, StoredRow]] = []
    for line in lines:
        if line.index in decided:
            continue
        for row in by_amount.get((line.amount.minor, line.amount.currency), ()):
            gap = abs((row.day - line.day).days)
            if gap > WINDOW_DAYS:
                continue
            score = similarity(line.words, row.words)
            if score is None:
                wordless.append((line, row))
            elif score >= MIN_OVERLAP:
                scored.append((-score, gap, line.index, row.id, line, row))
    scored.sort(key=lambda s: s[:4])
    for neg_score, _gap, index, row_id, _line, _row in scored:
        if index in decided or row_id in claimed:
            continue
        decided[index] = Match(index, MatchKind.SIMILAR, row_id, -neg_score)
        claimed.add(row_id)
    # Without words to compare, only a pair alone in its window is the same purchase.
    open_pairs = [(ln, r) for ln, r in wordless if ln.index not in decided and r.id not in claimed]
    for line, row in open_pairs:
        rivals = [p for p in open_pairs if p[0].index == line.index or p[1].id == row.id]
        if len(rivals) == 1 and _alone(line, row, lines, rows, decided, claimed):
            decided[line.index] = Match(line.index, MatchKind.SIMILAR, row.id)
            claimed.add(row.id)


def _alone(
    line: FileLine, row: StoredRow, lines: Sequence[FileLine], rows: Sequence[StoredRow],
    decided: Mapping[int, Match], claimed: set[str],
) -> bool:
    """No other open line or row of the same amount could take the place of either."""
    def near(a: date, b: date) -> bool:
        return abs((a - b).days) <= WINDOW_DAYS

    other_rows = [r for r in rows if r.id != row.id and r.id not in claimed and r.amount == line.amount
                  and near(r.day, line.day)]
    other_lines = [ln for ln in lines if ln.index != line.index and ln.index not in decided
                   and ln.amount == row.amount and near(ln.day, row.day)]
    return not other_rows and not other_lines


# --------------------------------------------------------------------------- merging


def file_update(row: Transaction, entry: StatementEntry) -> BankTransaction:
    """How a file entry updates the stored row it matched (through `Transaction.apply`, the
    pending -> posted lineage): the row keeps its id, merchant and descriptor (a bank's live
    data is richer than a statement line); a pending row takes the file's posting (status,
    amount, booking date); dates and a merchant the row lacks are filled in."""
    posting = row.status is TransactionStatus.PENDING and entry.status is TransactionStatus.POSTED
    return BankTransaction(
        bank_transaction_id=row.source_key,
        bank_account_id="",
        status=entry.status if posting else row.status,
        amount=entry.amount if posting else row.amount,
        booking_date=entry.booking_date if posting or row.booking_date is None else None,
        value_date=entry.value_date if row.value_date is None else None,
        merchant=None if row.merchant else entry.merchant,
        descriptor=row.descriptor,
        mcc=None,
    )
