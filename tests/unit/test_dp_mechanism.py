"""The OpenDP mechanism and the query checks: noise is there, bounds hold, epsilon is policed."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ledgerlink.adapters.dp import OpenDpMechanism
from ledgerlink.adapters.dp.opendp_mech import bound_contributions
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.services.privacy import aggregates
from ledgerlink.services.privacy.ports import ContributionBounds

CELLS = ("a", "b", "c", "d")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def mech() -> OpenDpMechanism:
    return OpenDpMechanism()


def test_repeated_answers_to_the_same_question_differ(mech: OpenDpMechanism) -> None:
    data = {"p1": {"a": 500}, "p2": {"a": 300, "b": 100}}
    bounds = ContributionBounds(max_per_cell=1000, max_cells=2)
    answers = {
        tuple(mech.release_sums_and_counts(data, cells=CELLS, bounds=bounds, epsilon=1.0).sums.values())
        for _ in range(10)
    }
    assert len(answers) > 1


def test_noise_has_the_calibrated_scale_and_answers_are_never_negative(mech: OpenDpMechanism) -> None:
    bounds = ContributionBounds(max_per_cell=100, max_cells=2)
    # Sensitivity of the sums: 2 * 100; half of epsilon = 1 -> Laplace scale b = 200.
    data = {f"p{i}": {"a": 100, "b": 100} for i in range(100)}  # true sums 10_000: far from 0
    releases = [
        mech.release_sums_and_counts(data, cells=CELLS, bounds=bounds, epsilon=2.0) for _ in range(400)
    ]
    assert releases[0].sum_scale == pytest.approx(200, rel=1e-6)
    assert releases[0].count_scale == pytest.approx(2, rel=1e-6)
    errors = [r.sums["a"] - 10_000 for r in releases]
    assert statistics.pstdev(errors) == pytest.approx(200 * math.sqrt(2), rel=0.25)
    assert abs(statistics.mean(errors)) < 60
    assert all(v >= 0 for r in releases for v in (*r.sums.values(), *r.counts.values()))


def test_each_person_is_clamped_and_adds_to_at_most_k_cells() -> None:
    data = {
        "big": {"a": 10_000, "b": 50, "c": 7_000, "d": 6_000},  # keeps its 2 largest: a, c
        "neg": {"a": -500},  # nothing below 0
        "odd": {"zz": 900, "b": 10},  # cells outside the list are ignored
    }
    sums, counts = bound_contributions(
        data, cells=CELLS, bounds=ContributionBounds(max_per_cell=1000, max_cells=2)
    )
    assert sums == [1000, 10, 1000, 0]
    assert counts == [1, 1, 1, 0]


def test_ties_in_the_top_k_are_broken_by_cell_name_not_by_order_of_arrival() -> None:
    bounds = ContributionBounds(max_per_cell=100, max_cells=1)
    one = bound_contributions({"p": {"c": 100, "a": 100}}, cells=CELLS, bounds=bounds)
    two = bound_contributions({"p": {"a": 100, "c": 100}}, cells=CELLS, bounds=bounds)
    assert one == two == ([100, 0, 0, 0], [1, 0, 0, 0])


def test_the_certified_epsilon_never_exceeds_the_requested_one(mech: OpenDpMechanism) -> None:
    bounds = ContributionBounds(max_per_cell=123_457, max_cells=3)
    for eps in (0.000001, 0.1, 0.3, 0.5, 1.0, 1 / 3):
        release = mech.release_sums_and_counts({}, cells=CELLS, bounds=bounds, epsilon=eps)
        assert release.epsilon <= eps
        assert release.epsilon == pytest.approx(eps, rel=1e-6)


@pytest.mark.parametrize("eps", [0.0, -1.0, math.nan, math.inf])
def test_the_mechanism_refuses_a_non_positive_or_non_finite_epsilon(
    mech: OpenDpMechanism, eps: float
) -> None:
    with pytest.raises(ValueError, match="epsilon"):
        mech.release_sums_and_counts({}, cells=CELLS, bounds=ContributionBounds(1, 1), epsilon=eps)


@pytest.mark.parametrize(
    "bounds", [ContributionBounds(0, 1), ContributionBounds(1, 0), ContributionBounds(-5, 2)]
)
def test_the_mechanism_refuses_unbounded_contributions(
    mech: OpenDpMechanism, bounds: ContributionBounds
) -> None:
    with pytest.raises(ValueError, match="bounds"):
        mech.release_sums_and_counts({}, cells=CELLS, bounds=bounds, epsilon=1.0)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"epsilon": 0}, "epsilon_not_positive"),
        ({"epsilon": -0.5}, "epsilon_not_positive"),
        ({"epsilon": math.nan}, "epsilon_invalid"),
        ({"epsilon": math.inf}, "epsilon_invalid"),
        ({"epsilon": 1.000001}, "epsilon_above_query_cap"),
        ({"month": "2026-13"}, "month_invalid"),
        ({"month": "2026-1"}, "month_invalid"),
        ({"month": "november"}, "month_invalid"),
        ({"month": "2026-12"}, "month_in_future"),
        ({"max_spend_per_category": Decimal("1000.01")}, "bounds_wider_than_allowed"),
        ({"max_spend_per_category": Decimal("0")}, "bounds_invalid"),
        ({"max_categories": 4}, "bounds_wider_than_allowed"),
        ({"max_categories": 0}, "bounds_invalid"),
        ({"currency": "XYZ"}, "bad_currency"),
    ],
)
def test_bad_query_parameters_are_refused_with_specific_codes(kwargs: dict[str, object], code: str) -> None:
    params: dict[str, object] = {"month": "2026-11", "epsilon": 0.5, "now": NOW, **kwargs}
    with pytest.raises(InvalidInput) as info:
        aggregates.build_query(**params)  # type: ignore[arg-type]
    assert info.value.code == code
    assert info.value.status == 422


def test_a_server_without_contribution_bounds_answers_no_query() -> None:
    policy = aggregates.AggregatePolicy(max_spend_per_category=None)
    with pytest.raises(InvalidInput) as info:
        aggregates.build_query(month="2026-11", epsilon=0.5, now=NOW, policy=policy)
    assert info.value.code == "contribution_bounds_missing"


def test_a_good_query_has_bounds_in_minor_units_and_epsilon_in_micro() -> None:
    query = aggregates.build_query(
        month="2026-10",
        epsilon=0.25,
        now=NOW,
        currency="eur",
        max_spend_per_category="200.5",
        max_categories=2,
    )
    assert query.bounds == ContributionBounds(max_per_cell=20_050, max_cells=2)
    assert (query.epsilon_micro, query.currency, query.month_key) == (250_000, "EUR", "2026-10")
    assert query.end.isoformat() == "2026-11-01"
    assert "month=2026-10" in query.describe()


def test_epsilon_is_charged_rounded_up_to_the_micro() -> None:
    assert aggregates.epsilon_to_micro(0.1) == 100_000
    assert aggregates.epsilon_to_micro("0.0000001") == 1
    assert aggregates.epsilon_to_micro(Decimal("0.3333333")) == 333_334


def test_the_output_categories_are_a_fixed_public_list() -> None:
    cats = aggregates.categories()
    assert list(cats) == sorted(set(cats))
    assert {"Groceries", "Fuel", "Other"} <= set(cats)
