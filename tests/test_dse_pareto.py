"""Pareto fronts on synthetic data with known answers: ties, duplicates, dominated duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from accel.dse import SweepResult, pareto_rows
from accel.pareto import pareto_indices, pareto_mask


def brute_force(values: np.ndarray) -> np.ndarray:
    """O(n^2) definition: i is on the front unless some j is <= everywhere and < somewhere."""
    n = len(values)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if np.all(values[j] <= values[i]) and np.any(values[j] < values[i]):
                keep[i] = False
                break
    return keep


def test_known_two_objective_front():
    points = np.array([
        [1, 5],  # 0 front (best x)
        [2, 3],  # 1 front
        [3, 4],  # 2 dominated by 1
        [4, 1],  # 3 front (best y)
        [2, 3],  # 4 duplicate of a front point: kept
        [5, 5],  # 5 dominated
        [3, 4],  # 6 duplicate of a dominated point: dropped
        [1, 6],  # 7 ties point 0 in x, worse in y: dominated
        [4, 2],  # 8 ties point 3 in x, worse in y: dominated
    ])  # fmt: skip
    assert pareto_indices(points).tolist() == [0, 1, 3, 4]


def test_ties_in_one_objective_keep_only_the_best_of_the_tie():
    points = np.array([[1.0, 2.0], [1.0, 3.0], [0.5, 9.0], [2.0, 2.0]])
    # (1,3) loses to (1,2) on y; (2,2) loses to (1,2) on x.
    assert pareto_mask(points).tolist() == [True, False, True, False]


def test_all_identical_points_are_all_on_the_front():
    assert pareto_mask(np.ones((5, 3))).all()


def test_three_objective_front_known():
    points = np.array([
        [1, 1, 9],  # front: best in (x, y)
        [9, 1, 1],  # front
        [1, 9, 1],  # front
        [5, 5, 5],  # front: nobody is <= everywhere
        [5, 5, 6],  # dominated by (5, 5, 5)
        [9, 9, 9],  # dominated
        [1, 1, 9],  # duplicate of a front point
    ])  # fmt: skip
    assert pareto_indices(points).tolist() == [0, 1, 2, 3, 6]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dims", [2, 3])
def test_random_points_match_brute_force(seed, dims):
    rng = np.random.default_rng(seed)
    # Few distinct values, so ties and exact duplicates are common.
    values = rng.integers(0, 6, size=(150, dims)).astype(float)
    assert np.array_equal(pareto_mask(values), brute_force(values))


def test_continuous_random_points_match_brute_force():
    rng = np.random.default_rng(42)
    values = rng.random((300, 3))
    assert np.array_equal(pareto_mask(values), brute_force(values))


def test_edge_cases():
    assert pareto_mask(np.empty((0, 3))).tolist() == []
    assert pareto_mask(np.array([[3.0, 1.0, 2.0]])).tolist() == [True]
    assert pareto_mask(np.array([[np.inf, 1.0], [1.0, np.inf]])).tolist() == [
        True,
        True,
    ]
    with pytest.raises(ValueError, match="NaN"):
        pareto_mask(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        pareto_mask(np.array([1.0, 2.0]))


def row(i, latency, energy, area, status="ok"):
    return {
        "rows": i,
        "latency_ms": latency,
        "energy_uj": energy,
        "area_mm2": area,
        "status": status,
    }


def test_result_front_skips_failed_points():
    rows = [
        row(0, 1.0, 5.0, 2.0),
        row(1, 2.0, 4.0, 2.0),
        row(2, 2.0, 4.0, 3.0),  # dominated by 1 (ties latency and energy, more area)
        {
            "rows": 3,
            "latency_ms": None,
            "energy_uj": None,
            "area_mm2": None,
            "status": "failed",
        },
        row(4, 3.0, 1.0, 9.0),
    ]
    assert [r["rows"] for r in pareto_rows(rows)] == [0, 1, 4]
    assert [r["rows"] for r in SweepResult("x", rows).pareto(("latency_ms", "area_mm2"))] == [0]  # (1, 2) beats (2, 2)
    assert pareto_rows([rows[3]]) == []
