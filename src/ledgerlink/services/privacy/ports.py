"""Privacy's vocabulary: signed audit tree heads, the differential-privacy budget ledger and
mechanism, and retention purges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from ledgerlink.domain.audit import TreeHead
from ledgerlink.domain.checkpoint import Record, SignedCheckpoint
from ledgerlink.services.ingest.ports import TransactionRecord


class TreeHeadRepository(Protocol):
    """Signed tree heads of the audit log (owner: the audit feature)."""

    async def add(self, head: TreeHead) -> bool:
        """Store a signed head; False (nothing written) if one of that size exists."""
        ...

    async def latest(self) -> TreeHead | None: ...
    async def get(self, tree_size: int) -> TreeHead | None: ...
    async def all(self) -> list[TreeHead]:
        """Every stored head, smallest tree first."""
        ...


class CheckpointLog(Protocol):
    """The signed tree heads outside the database: an append-only file of C2SP checkpoints
    (signed notes, `domain.checkpoint`), one per signed head (ADR 0020). Blocking file I/O:
    call it off the event loop."""

    @property
    def location(self) -> str:
        """Where it is kept (for messages: a path, never a secret)."""
        ...

    @property
    def origin(self) -> str:
        """The log's origin: that of the first checkpoint written, else the configured one."""
        ...

    def exists(self) -> bool: ...

    def append(self, checkpoint: SignedCheckpoint) -> None:
        """Add one checkpoint at the end; on disk (fsync) when this returns."""
        ...

    def records(self) -> list[Record]:
        """Everything in the file, in the order written; a stretch that is no signed
        checkpoint is a `DamagedRecord` (so is an incomplete last one)."""
        ...


@dataclass(slots=True)
class DpBudgetRecord:
    partner_id: str
    epsilon_limit_micro: int  # epsilon x 1e6 per period
    period: str  # "month"


@dataclass(slots=True)
class DpSpendRecord:
    id: str
    partner_id: str
    period_key: str  # e.g. "2026-11"
    query: str  # query kind and parameters, never data
    epsilon_micro: int
    at: datetime


class DpLedgerRepository(Protocol):
    """Differential-privacy budgets and spend (owner: the aggregates feature)."""

    async def set_budget(self, budget: DpBudgetRecord) -> None: ...

    async def budget(self, partner_id: str) -> DpBudgetRecord | None: ...

    async def lock_budget(self, partner_id: str) -> DpBudgetRecord | None:
        """Read the budget and hold its row lock until the end of the unit of work
        (PostgreSQL `FOR UPDATE`; SQLite units of work are serialised already), so two
        queries of one partner cannot both spend the last of it."""
        ...

    async def spent_micro(self, partner_id: str, period_key: str) -> int: ...

    async def record_spend(self, spend: DpSpendRecord) -> None: ...

    async def spending_rows(
        self, partner_id: str, *, currency: str, start: date, end: date, at: datetime
    ) -> list[TransactionRecord]:
        """Posted transactions in `currency` booked in [start, end) on accounts whose link *to this partner*
        is active and unexpired at `at`, of persons not erased: the only rows a partner's
        aggregate may use."""
        ...


@dataclass(frozen=True, slots=True)
class ContributionBounds:
    """What one person may add to a release: at most `max_per_cell` (integer minor units)
    to each of at most `max_cells` cells."""

    max_per_cell: int
    max_cells: int


@dataclass(frozen=True, slots=True)
class DpRelease:
    """Noisy, non-negative sums and counts per cell, and the privacy loss they cost."""

    sums: dict[str, int]
    counts: dict[str, int]
    epsilon: float  # certified by the mechanism's privacy map; never above the requested epsilon
    sum_scale: float
    count_scale: float
    mechanism: str


class DpMechanism(Protocol):
    """Differentially private release of per-cell sums and counts (adapter: OpenDP)."""

    def release_sums_and_counts(
        self,
        contributions: Mapping[str, Mapping[str, int]],
        *,
        cells: Sequence[str],
        bounds: ContributionBounds,
        epsilon: float,
    ) -> DpRelease:
        """`contributions`: per person, per cell, non-negative integer amounts. The mechanism
        enforces `bounds` itself (clamp, keep each person's `max_cells` largest cells) and
        ignores cells outside `cells`, so the noise always matches the sensitivity. The
        release is `epsilon`-DP with respect to adding or removing one person."""
        ...


class RetentionRepository(Protocol):
    """Bounded deletes of expired rows; each returns the number of rows deleted (<= limit)."""

    async def purge_inbox(self, *, processed_before: datetime, limit: int) -> int: ...
    async def purge_messages(self, *, before: datetime, limit: int) -> int: ...
    async def purge_transactions(self, *, before: datetime, limit: int) -> int: ...
    async def purge_abandoned_links(self, *, before: datetime, limit: int) -> int: ...
    async def purge_bank_dialogue(self, *, before: datetime, limit: int) -> int:
        """Closed fraud prompts, finished requests to banks and the ids of bank messages,
        older than the cutoff (their messages follow the messages' own limit)."""
        ...

    async def purge_receipts(self, *, before: datetime, limit: int) -> int:
        """Shop orders (receipts, line items, parcels) last changed before the cutoff, with
        their further charges and applied versions; followed parcels that stopped moving
        before it. Parcels still moving are kept."""
        ...

    async def purge_merchant_events(self, *, before: datetime, limit: int) -> int:
        """The ids of merchant events received before the cutoff (kept only to refuse replays)."""
        ...

    async def purge_digests(self, *, before: datetime, limit: int) -> int:
        """Alerts held for quiet hours and released before the cutoff (their text went into a
        digest or "while you were away" message), and records of digests sent before it.
        Alerts still held are kept."""
        ...
