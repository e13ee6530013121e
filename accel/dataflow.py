"""Dataflows as strategy objects: which GEMM dims sit on the array rows, columns and in time.

GEMM ``out[M, N] = A[M, K] @ B[K, N]``. A dataflow names the dim mapped to the array rows, the
dim mapped to the columns (together: the *stationary* block held in the PEs during a fold) and
the dim that streams through the array in time (T cycles per fold):

=====  ====  =====  ======  ===========================
name   rows  cols   stream  stationary
=====  ====  =====  ======  ===========================
ws     K     N      M       weights B
os     M     N      K       outputs (accumulators)
is     K     M      N       inputs A (transposed)
=====  ====  =====  ======  ===========================

Every count below follows from that table, so the three dataflows share one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

from numba.extending import register_jitable

OPERAND_DIMS = {"ifmap": "mk", "filter": "kn", "ofmap": "mn"}
DATAFLOW_CODES = {"ws": 0, "os": 1, "is": 2}
"""The integer code of each dataflow in compiled kernels."""
WS, OS, IS = 0, 1, 2


@dataclass(frozen=True)
class Dataflow:
    """One dataflow: GEMM dims on the array ``rows``, ``cols`` and ``stream`` ('m', 'k' or 'n')."""

    name: str
    rows: str
    cols: str
    stream: str

    @property
    def code(self) -> int:
        """The dataflow's code in compiled kernels (:data:`DATAFLOW_CODES`)."""
        return DATAFLOW_CODES[self.name]

    def sram_accesses(self, dims: dict[str, int], array_rows: int, array_cols: int) -> dict[str, int]:
        """Elements read from each input buffer and written to the accumulator buffer in a tile
        of ``dims`` (keys 'm', 'k', 'n'): :func:`tile_work`."""
        _, _, ifmap, filt, ofmap = tile_work(self.code, array_rows, array_cols, dims["m"], dims["k"], dims["n"])
        return {"ifmap": ifmap, "filter": filt, "ofmap": ofmap}


@register_jitable
def _cdiv(a, b):
    """Ceiling of a / b for positive integers."""
    return -(-a // b)


@register_jitable
def tile_work(df, rows, cols, m, k, n):
    """Work of one tile of ``m x k x n`` on an ``rows x cols`` array in dataflow ``df`` (code).

    Returns ``(folds, stream, ifmap, filter, ofmap)``: the array-sized blocks of the stationary
    operand, the vectors each fold streams, and the elements read from each input buffer and
    written to the accumulator buffer. The stationary operand is moved once; any other operand
    once per fold along the array dim it is not indexed by: streaming inputs are re-read for
    every column (or row) block, partial sums are written once per block of K rows.
    """
    if df == WS:  # rows K, cols N, stream M; weights stationary
        return _cdiv(k, rows) * _cdiv(n, cols), m, m * k * _cdiv(n, cols), k * n, m * n * _cdiv(k, rows)
    if df == OS:  # rows M, cols N, stream K; outputs stationary
        return _cdiv(m, rows) * _cdiv(n, cols), k, m * k * _cdiv(n, cols), k * n * _cdiv(m, rows), m * n
    # IS: rows K, cols M, stream N; inputs stationary
    return _cdiv(k, rows) * _cdiv(m, cols), n, m * k, k * n * _cdiv(m, cols), m * n * _cdiv(k, rows)


@register_jitable
def pack_groups(df, groups, k, n, rows, cols):
    """Groups packed block-diagonally into one GEMM so small groups fill the array.

    ``p`` groups form a GEMM with ``p*K`` reduction and ``p*N`` outputs whose weight matrix is
    block-diagonal (the zero blocks are generated, not stored). ``p`` is limited so the packed
    K and N dims mapped onto the array still fit it.
    """
    if groups == 1:
        return 1
    limit = groups
    if df != OS:  # K on the rows
        limit = min(limit, rows // k)
    if df != IS:  # N on the columns
        limit = min(limit, cols // n)
    return max(1, limit)


DATAFLOW_STRATEGIES = {
    "ws": Dataflow("ws", rows="k", cols="n", stream="m"),
    "os": Dataflow("os", rows="m", cols="n", stream="k"),
    "is": Dataflow("is", rows="k", cols="m", stream="n"),
}
