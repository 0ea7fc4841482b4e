"""Differentially private aggregates for partners, charged to a per-partner privacy budget.

One query kind today: spending by category per month. A partner sees noisy totals and
noisy counts over the people who linked *that partner* (see `access.read_spending_for_aggregate`),
never a row. Order inside one unit of work: lock the partner's budget row, refuse if the
query would overspend (nothing read), read and audit, release through the `DpMechanism`,
record the spend, commit. See docs/privacy.md, "Aggregates for partners".
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import cache

from ledgerlink.domain.cards import category
from ledgerlink.domain.errors import DomainError, Forbidden, InvalidInput, NotFound, Unauthorized
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.money import Money, exponent
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.privacy.ports import ContributionBounds, DpBudgetRecord, DpMechanism, DpSpendRecord

MICRO = 1_000_000
PERIODS = ("month",)
API_KEY_PREFIX = "llpk_"

# --------------------------------------------------------------------------- errors


class PrivacyBudgetExhausted(DomainError):
    """429: the budget renews at the start of the next period; until then, no more answers."""

    code = "privacy_budget_exhausted"
    status = 429


class PrivacyBudgetNotSet(Forbidden):
    code = "privacy_budget_not_set"


class AggregatesUnavailable(DomainError):
    code = "aggregates_unavailable"
    status = 503


# --------------------------------------------------------------------------- policy and query


@dataclass(frozen=True, slots=True)
class AggregatePolicy:
    """Server-side limits. A request may narrow the bounds, never widen them."""

    currency: str = "USD"
    # U, in major units of the query currency; None (unset) refuses every query.
    max_spend_per_category: Decimal | None = Decimal("1000")
    max_categories: int | None = 3  # K: categories one person may add to; None refuses
    max_epsilon_per_query: float = 1.0


DEFAULT_POLICY = AggregatePolicy()


@cache
def categories() -> tuple[str, ...]:
    """The public, data-independent list of output cells: every category an MCC can map to.

    Every category appears in every answer (zero or not), so which categories appear
    reveals nothing about the data."""
    return tuple(sorted({category(f"{mcc:04d}") for mcc in range(10_000)} | {category(None)}))


@dataclass(frozen=True, slots=True)
class SpendingQuery:
    """Spending by category for one calendar month, in one currency.

    `dimensions` names the cell key. A `region` dimension is planned: each cell becomes
    (category, region) over a fixed public list of regions, and `max_categories` becomes the
    number of cells one person may add to; the mechanism is already generic over cells."""

    month: date  # the first day of the month
    currency: str
    bounds: ContributionBounds
    epsilon_micro: int
    dimensions: tuple[str, ...] = ("category",)

    @property
    def epsilon(self) -> float:
        return self.epsilon_micro / MICRO

    @property
    def month_key(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def end(self) -> date:
        return _next_month(self.month)

    def describe(self) -> str:
        """For the spend ledger and the audit log: kind and parameters, never data."""
        return (
            f"spending_by_{'_'.join(self.dimensions)} month={self.month_key} currency={self.currency} "
            f"max_per_cell={self.bounds.max_per_cell} max_cells={self.bounds.max_cells}"
        )


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def period_key(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m}"


def epsilon_to_micro(epsilon: float | Decimal | str) -> int:
    """Micro-epsilon, rounded up: what is charged is never less than what is spent."""
    try:
        value = Decimal(str(epsilon))
    except InvalidOperation:
        raise InvalidInput("epsilon must be a number", code="epsilon_invalid") from None
    if not value.is_finite():
        raise InvalidInput("epsilon must be a finite number", code="epsilon_invalid")
    return int((value * MICRO).to_integral_value(rounding=ROUND_CEILING))


def build_query(
    *,
    month: str,
    epsilon: float,
    now: datetime,
    currency: str | None = None,
    max_spend_per_category: Decimal | str | None = None,
    max_categories: int | None = None,
    policy: AggregatePolicy = DEFAULT_POLICY,
) -> SpendingQuery:
    """Check a partner's parameters; every refusal is a 422 with its own code."""
    first = _parse_month(month)
    if first > now.astimezone(UTC).date().replace(day=1):
        raise InvalidInput("that month has not started yet", code="month_in_future")
    eps_micro = epsilon_to_micro(epsilon)
    if eps_micro <= 0:
        raise InvalidInput("epsilon must be greater than 0", code="epsilon_not_positive")
    if eps_micro > epsilon_to_micro(policy.max_epsilon_per_query):
        raise InvalidInput(
            f"epsilon may be at most {policy.max_epsilon_per_query} per query", code="epsilon_above_query_cap"
        )
    cur = (currency or policy.currency).upper()
    exp = exponent(cur)  # refuses an unknown code (422 bad_currency)
    bounds = _bounds(
        policy, exp, max_spend_per_category=max_spend_per_category, max_categories=max_categories
    )
    return SpendingQuery(month=first, currency=cur, bounds=bounds, epsilon_micro=eps_micro)


def _parse_month(month: str) -> date:
    try:
        year, mon = (int(part) for part in month.split("-"))
        if len(month) != 7:
            raise ValueError(month)
        return date(year, mon, 1)
    except ValueError:
        raise InvalidInput("month must look like 2026-11", code="month_invalid") from None


def _bounds(
    policy: AggregatePolicy,
    exp: int,
    *,
    max_spend_per_category: Decimal | str | None,
    max_categories: int | None,
) -> ContributionBounds:
    """Contribution bounds in integer minor units; without them there is no sensitivity and
    so no differential privacy, so a missing or invalid bound refuses the query."""
    server_u, server_k = policy.max_spend_per_category, policy.max_categories
    if server_u is None or server_k is None or server_u <= 0 or server_k <= 0:
        raise InvalidInput(
            "the server has no contribution bounds configured", code="contribution_bounds_missing"
        )
    u = server_u
    if max_spend_per_category is not None:
        try:
            u = Decimal(str(max_spend_per_category))
        except InvalidOperation:
            raise InvalidInput(
                "max_spend_per_category must be a decimal amount", code="bounds_invalid"
            ) from None
        if not u.is_finite() or u <= 0:
            raise InvalidInput("max_spend_per_category must be greater than 0", code="bounds_invalid")
        if u > server_u:
            raise InvalidInput(
                f"max_spend_per_category may be at most {server_u}", code="bounds_wider_than_allowed"
            )
    k = server_k if max_categories is None else max_categories
    if k <= 0:
        raise InvalidInput("max_categories must be at least 1", code="bounds_invalid")
    if k > server_k:
        raise InvalidInput(f"max_categories may be at most {server_k}", code="bounds_wider_than_allowed")
    u_minor = int(u.scaleb(exp).to_integral_value(rounding=ROUND_CEILING))
    return ContributionBounds(max_per_cell=u_minor, max_cells=k)


# --------------------------------------------------------------------------- partners and budgets


def hash_api_key(api_key: str) -> str:
    # The key is a 256-bit random token, so a fast hash is enough (no guessing to slow down).
    return hashlib.sha256(api_key.encode()).hexdigest()


async def issue_api_key(deps: Deps, slug: str) -> str:
    """Create or rotate the partner's API key; the old one stops working. Shown once."""
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    async with deps.uow() as uow:
        partner = await uow.partners.by_slug(slug)
        if partner is None:
            raise NotFound("no partner with that slug", code="partner_not_found")
        await uow.partners.set_api_key_hash(partner.id, hash_api_key(api_key))
        await deps.commit_and_publish(uow)
    return api_key


async def authenticate(deps: Deps, api_key: str | None) -> PartnerRecord:
    if not api_key or not api_key.startswith(API_KEY_PREFIX):
        raise Unauthorized("a valid partner API key is required", code="partner_key_invalid")
    async with deps.uow() as uow:
        partner = await uow.partners.by_api_key_hash(hash_api_key(api_key))
    if partner is None:
        raise Unauthorized("a valid partner API key is required", code="partner_key_invalid")
    return partner


async def set_budget(deps: Deps, slug: str, *, epsilon: float | Decimal | str, period: str = "month") -> None:
    if period not in PERIODS:
        raise InvalidInput(f"period must be one of {', '.join(PERIODS)}", code="period_invalid")
    limit = epsilon_to_micro(epsilon)
    if limit < 0:
        raise InvalidInput("the budget may not be negative", code="epsilon_not_positive")
    async with deps.uow() as uow:
        partner = await uow.partners.by_slug(slug)
        if partner is None:
            raise NotFound("no partner with that slug", code="partner_not_found")
        await uow.dp.set_budget(
            DpBudgetRecord(partner_id=partner.id, epsilon_limit_micro=limit, period=period)
        )
        await deps.commit_and_publish(uow)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    period: str
    period_key: str
    limit_micro: int
    spent_micro: int
    resets_at: datetime

    @property
    def remaining_micro(self) -> int:
        return max(0, self.limit_micro - self.spent_micro)


def _status(budget: DpBudgetRecord | None, spent: int, at: datetime) -> BudgetStatus:
    first = at.astimezone(UTC).date().replace(day=1)
    nxt = _next_month(first)
    return BudgetStatus(
        period=budget.period if budget else "month",
        period_key=period_key(at),
        limit_micro=budget.epsilon_limit_micro if budget else 0,
        spent_micro=spent,
        resets_at=datetime(nxt.year, nxt.month, 1, tzinfo=UTC),
    )


async def budget_status(deps: Deps, partner: PartnerRecord) -> BudgetStatus:
    at = deps.clock.now()
    async with deps.uow() as uow:
        budget = await uow.dp.budget(partner.id)
        spent = await uow.dp.spent_micro(partner.id, period_key(at))
    return _status(budget, spent, at)


# --------------------------------------------------------------------------- the query


@dataclass(frozen=True, slots=True)
class CellResult:
    key: str
    total: Money  # noisy, >= 0
    count: int  # noisy number of people, >= 0


@dataclass(frozen=True, slots=True)
class SpendingResult:
    query: SpendingQuery
    cells: list[CellResult]
    budget: BudgetStatus
    sum_noise_scale: Money  # Laplace scale b of each total (standard deviation b * sqrt 2)
    count_noise_scale: float
    mechanism: str


async def spending_by_category(deps: Deps, partner: PartnerRecord, query: SpendingQuery) -> SpendingResult:
    mechanism: DpMechanism | None = deps.dp
    if mechanism is None:
        raise AggregatesUnavailable("aggregates are not configured on this server")
    at = deps.clock.now()
    key = period_key(at)
    async with deps.uow() as uow:
        budget = await uow.dp.lock_budget(partner.id)  # serialises this partner's queries
        if budget is None or budget.epsilon_limit_micro <= 0:
            raise PrivacyBudgetNotSet("this partner has no privacy budget")
        spent = await uow.dp.spent_micro(partner.id, key)
        if spent + query.epsilon_micro > budget.epsilon_limit_micro:
            remaining = max(0, budget.epsilon_limit_micro - spent) / MICRO
            raise PrivacyBudgetExhausted(
                f"this query needs epsilon {query.epsilon}; {remaining} is left for {key}"
            )
        rows = await access.read_spending_for_aggregate(
            deps.vault,
            uow,
            partner_id=partner.id,
            currency=query.currency,
            period_start=query.month,
            period_end=query.end,
            query=query.describe(),
            at=at,
        )
        contributions: dict[str, dict[str, int]] = {}
        for row in rows:
            per_person = contributions.setdefault(row.person_id, {})
            cell = category(row.mcc)
            per_person[cell] = per_person.get(cell, 0) + row.spend.minor
        cells = categories()
        release = mechanism.release_sums_and_counts(
            contributions, cells=cells, bounds=query.bounds, epsilon=query.epsilon
        )
        if not release.epsilon <= query.epsilon:
            raise RuntimeError("the mechanism spent more than it was given")  # never published
        await uow.dp.record_spend(
            DpSpendRecord(
                id=new_id("dps"),
                partner_id=partner.id,
                period_key=key,
                query=query.describe()[:200],
                epsilon_micro=query.epsilon_micro,
                at=at,
            )
        )
        await deps.commit_and_publish(uow)
    return SpendingResult(
        query=query,
        cells=[
            CellResult(
                key=c, total=Money.from_minor(release.sums[c], query.currency), count=release.counts[c]
            )
            for c in cells
        ],
        budget=_status(budget, spent + query.epsilon_micro, at),
        sum_noise_scale=Money.from_minor(math.ceil(release.sum_scale), query.currency),
        count_noise_scale=release.count_scale,
        mechanism=release.mechanism,
    )
