"""Pareto fronts of minimisation objectives.

A point *dominates* another when it is no worse in every objective and strictly better in at
least one. The front is the set of points no other point dominates. Consequences, which the tests
pin down: points with identical objective vectors do not dominate each other, so duplicates on
the front are all kept; duplicates of a dominated point are all dropped; a point that ties
another in one objective and is worse in the rest is dominated.
"""

from __future__ import annotations

import numpy as np


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n points x k objectives, minimised).

    Rows are scanned in lexicographic order: a row can only be dominated by rows before it, and
    it suffices to check it against the front found so far (dominance is transitive). The cost is
    ``O(n log n + n * front size)``. NaN objectives are not allowed.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D array (points x objectives), not {values.ndim}-D")
    n = values.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    if np.isnan(values).any():
        raise ValueError("objective values must not be NaN")
    order = np.lexsort(values.T[::-1])
    front = np.empty_like(values)
    size = 0
    for i in order:
        v = values[i]
        if size:
            f = front[:size]
            if np.any(np.all(f <= v, axis=1) & np.any(f < v, axis=1)):
                continue
        front[size] = v
        size += 1
        mask[i] = True
    return mask


def pareto_indices(values: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows, in increasing index order."""
    return np.flatnonzero(pareto_mask(values))
