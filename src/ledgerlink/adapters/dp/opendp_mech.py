"""Sums and counts per cell with OpenDP's Laplace mechanism on integers (discrete Laplace).

Privacy argument (unit: one person; neighbouring datasets add or remove one person):
after bounding, a person adds at most `max_per_cell` to the sums of at most `max_cells`
cells, and 1 to the counts of the same cells. So the sum vector moves by at most
`max_cells * max_per_cell` in L1 and the count vector by at most `max_cells`. Each vector
gets half of epsilon; OpenDP's privacy map certifies each half, and the two compose
(sequential composition) to at most epsilon. Clamping the noisy values at 0 is
post-processing and costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import opendp.prelude as dp

from ledgerlink.services.privacy.ports import ContributionBounds, DpRelease

_enabled = False


def _enable_contrib() -> None:
    # "contrib" unlocks OpenDP's mechanisms whose proofs are not yet fully vetted by the
    # OpenDP team; the discrete Laplace mechanism is among them.
    global _enabled
    if not _enabled:
        dp.enable_features("contrib")
        _enabled = True


def bound_contributions(
    contributions: Mapping[str, Mapping[str, int]], *, cells: Sequence[str], bounds: ContributionBounds
) -> tuple[list[int], list[int]]:
    """Per-cell (sums, counts) after each person's contribution is bounded.

    Each person keeps at most `max_cells` cells (their largest; ties by cell name, so the
    choice depends on that person's data only), each clamped to [0, max_per_cell]."""
    _check_bounds(bounds)
    index = {cell: i for i, cell in enumerate(cells)}
    sums = [0] * len(cells)
    counts = [0] * len(cells)
    for per_cell in contributions.values():
        kept = sorted(
            ((min(max(int(v), 0), bounds.max_per_cell), c) for c, v in per_cell.items() if c in index),
            key=lambda vc: (-vc[0], vc[1]),
        )[: bounds.max_cells]
        for value, cell in kept:
            if value > 0:
                sums[index[cell]] += value
                counts[index[cell]] += 1
    return sums, counts


def _check_bounds(bounds: ContributionBounds) -> None:
    if bounds.max_per_cell <= 0 or bounds.max_cells <= 0:
        raise ValueError("contribution bounds must be positive")


def _laplace(length: int, *, sensitivity: int, epsilon: float) -> tuple[dp.Measurement, float, float]:
    """A vector discrete Laplace measurement certified for `epsilon` at `sensitivity`."""
    # Nudge the scale up by a hair: OpenDP's map rounds conservatively, and the certified
    # loss must never exceed what the partner is charged.
    scale = sensitivity / epsilon * (1 + 1e-9)
    meas = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int), size=length), dp.l1_distance(T=int), scale=scale
    )
    certified = float(meas.map(sensitivity))  # type: ignore[no-untyped-call]
    if not certified <= epsilon:
        raise RuntimeError("the Laplace mechanism could not be calibrated to the requested epsilon")
    return meas, certified, scale


class OpenDpMechanism:
    """The `DpMechanism` port, on OpenDP."""

    def __init__(self) -> None:
        _enable_contrib()

    def release_sums_and_counts(
        self,
        contributions: Mapping[str, Mapping[str, int]],
        *,
        cells: Sequence[str],
        bounds: ContributionBounds,
        epsilon: float,
    ) -> DpRelease:
        if not (math.isfinite(epsilon) and epsilon > 0):
            raise ValueError("epsilon must be a positive finite number")
        if not cells or len(set(cells)) != len(cells):
            raise ValueError("cells must be a non-empty list without repeats")
        sums, counts = bound_contributions(contributions, cells=cells, bounds=bounds)
        half = epsilon / 2
        sum_meas, sum_eps, sum_scale = _laplace(
            len(cells), sensitivity=bounds.max_cells * bounds.max_per_cell, epsilon=half
        )
        count_meas, count_eps, count_scale = _laplace(len(cells), sensitivity=bounds.max_cells, epsilon=half)
        noisy_sums = [max(0, int(v)) for v in sum_meas(sums)]
        noisy_counts = [max(0, int(v)) for v in count_meas(counts)]
        return DpRelease(
            sums=dict(zip(cells, noisy_sums, strict=True)),
            counts=dict(zip(cells, noisy_counts, strict=True)),
            epsilon=sum_eps + count_eps,
            sum_scale=sum_scale,
            count_scale=count_scale,
            mechanism=(
                "OpenDP discrete Laplace (make_laplace on integers); epsilon split evenly "
                "between sums and counts; each person adds to at most "
                f"{bounds.max_cells} cells, each clamped to [0, {bounds.max_per_cell}]; "
                "negative noisy values are reported as 0"
            ),
        )
