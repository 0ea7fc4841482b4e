"""Insights' vocabulary: stored category corrections and budgets (issue 13), and the insight
consumer's blind index of merchants (issue 12, ADR 0033)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ledgerlink.services.ingest.ports import TransactionRecord


@dataclass(slots=True)
class CorrectionRecord:
    id: str
    person_id: str
    sealed: bytes  # JSON: merchant_key, merchant (as the person wrote it), category, said_on
    created_at: datetime


@dataclass(slots=True)
class BudgetRecord:
    id: str
    person_id: str
    sealed: bytes  # JSON: category, amount (decimal string), currency
    warned_month: str | None  # "2026-12": the month of the latest warning
    warned_level: int  # 0, 80 or 100: the highest warning sent in `warned_month`
    updated_at: datetime


@dataclass(slots=True)
class InsightKeyRecord:
    person_id: str
    sealed: bytes  # JSON: the person's tag key (base64)
    created_at: datetime


@dataclass(slots=True)
class InsightTagRecord:
    transaction_id: str
    person_id: str
    account_id: str
    tag: str  # keyed HMAC of the row's series (merchant key, currency, direction)
    tagged_at: datetime  # the row's updated_at when tagged: a later change makes the tag stale
    amount_tag: str | None = None  # keyed HMAC of the amount in the series: equal tags, equal amounts


@dataclass(frozen=True, slots=True)
class InsightScanRecord:
    """How far an account's rows are tagged: every row changed at or before `through` has a
    current tag; `full_at`: when the whole range was last scanned."""

    account_id: str
    person_id: str
    through: datetime
    full_at: datetime


@dataclass(frozen=True, slots=True)
class TaggedRow:
    """A row of one series as the index gives it, unopened."""

    id: str
    booking_date: date | None
    created_at: datetime
    amount_tag: str | None = None  # None: tagged before amount tags (0023)


class InsightRepository(Protocol):
    """Category corrections and budgets, and the merchant tags (owner: the insights feature)."""

    async def corrections(self, person_id: str) -> list[CorrectionRecord]: ...
    async def add_correction(self, record: CorrectionRecord) -> None: ...
    async def delete_correction(self, person_id: str, correction_id: str) -> bool: ...
    async def budgets(self, person_id: str) -> list[BudgetRecord]: ...
    async def put_budget(self, record: BudgetRecord) -> None:
        """Insert, or replace the sealed value and warning state of the person's budget `id`."""
        ...
    async def delete_budget(self, person_id: str, budget_id: str) -> bool: ...
    async def mark_warned(self, person_id: str, budget_id: str, *, month: str, level: int) -> bool:
        """Record a warning of `level` in `month` unless one as high was recorded: True when
        this call recorded it (so two deliveries never warn twice)."""
        ...
    async def tag_key(self, person_id: str) -> InsightKeyRecord | None: ...
    async def add_tag_key(self, record: InsightKeyRecord) -> bool:
        """Insert unless the person has one (False: a concurrent first use won)."""
        ...
    async def untagged(self, account_id: str, start: date, end: date, *,
                       since: datetime | None = None) -> list[TransactionRecord]:
        """The account's rows dated in [start, end] (as `for_account_between`) with no tag, or a
        tag older than the row's last change (`since`: of the rows changed after it)."""
        ...
    async def scan_mark(self, account_id: str) -> InsightScanRecord | None: ...
    async def put_scan_mark(self, record: InsightScanRecord) -> None: ...
    async def put_tags(self, records: Sequence[InsightTagRecord]) -> None:
        """Insert or replace each row's tag (in transaction id order: concurrent writers of
        overlapping sets wait for each other instead of deadlocking)."""
        ...
    async def tagged(self, account_id: str, tag: str, start: date, end: date) -> list[TaggedRow]:
        """The account's rows dated in [start, end] whose current tag is `tag`, not removed."""
        ...


# --------------------------------------------------------------------------- charts (issue 13)


@dataclass(frozen=True, slots=True)
class Series:
    """One line or one set of bars. `values` are exact (None: no value that day); `texts` are the
    same figures as a person reads them, for labels and the text alternative."""

    name: str
    values: tuple[Decimal | None, ...]
    texts: tuple[str, ...]
    dashed: bool = False  # a projection, not a record


@dataclass(frozen=True, slots=True)
class Chart:
    """What a chart shows, independent of how it is drawn. `summary` and `rows()` are its text
    alternative (a sentence, and the table of every figure)."""

    kind: str  # BARS (horizontal, one per label), COLUMNS (vertical), LINE
    title: str
    summary: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    currency: str
    short_labels: tuple[str, ...] = ()  # the labels where room is short ("Aug" for "Aug 2026")

    def rows(self) -> list[tuple[str, list[str]]]:
        return [(label, [s.texts[i] for s in self.series]) for i, label in enumerate(self.labels)]


BARS, COLUMNS, LINE = "bars", "columns", "line"


class ChartRenderer(Protocol):
    """Draws a chart as a standalone SVG document with no script and no outside reference."""

    def svg(self, chart: Chart, *, width: int, height: int) -> str: ...
