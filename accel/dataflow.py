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

import math
from dataclasses import dataclass

from accel.timing import tile_cycles

OPERAND_DIMS = {"ifmap": "mk", "filter": "kn", "ofmap": "mn"}


@dataclass(frozen=True)
class Dataflow:
    """One dataflow: GEMM dims on the array ``rows``, ``cols`` and ``stream`` ('m', 'k' or 'n')."""

    name: str
    rows: str
    cols: str
    stream: str

    @property
    def stationary(self) -> str:
        """The operand held in the PEs during a fold ('ifmap', 'filter' or 'ofmap')."""
        return next(op for op, dims in OPERAND_DIMS.items() if set(dims) == {self.rows, self.cols})

    def pack(self, groups: int, k: int, n: int, array_rows: int, array_cols: int) -> int:
        """Groups packed block-diagonally into one GEMM so small groups fill the array.

        ``p`` groups form a GEMM with ``p*K`` reduction and ``p*N`` outputs whose weight matrix is
        block-diagonal (the zero blocks are generated, not stored). ``p`` is limited so the packed
        K and N dims mapped onto the array still fit it.
        """
        if groups == 1:
            return 1
        limit = groups
        for dim, size in ((self.rows, array_rows), (self.cols, array_cols)):
            if dim in "kn":
                limit = min(limit, size // (k if dim == "k" else n))
        return max(1, limit)

    def folds(self, dims: dict[str, int], array_rows: int, array_cols: int) -> int:
        """Array-sized blocks of the stationary operand in a tile of ``dims`` (keys 'm','k','n')."""
        return math.ceil(dims[self.rows] / array_rows) * math.ceil(dims[self.cols] / array_cols)

    def cycles(self, dims: dict[str, int], array_rows: int, array_cols: int) -> int:
        """Cycles of one tile from start to done (see accel.timing)."""
        return tile_cycles(self.name, array_rows, array_cols, dims[self.stream], self.folds(dims, array_rows, array_cols))

    def sram_accesses(self, dims: dict[str, int], array_rows: int, array_cols: int) -> dict[str, int]:
        """Elements read from each input buffer and written to the accumulator buffer in a tile.

        The stationary operand is moved once. Any other operand is moved once per fold along the
        array dim it is not indexed by: streaming inputs are re-read for every column (or row)
        block, and partial sums are written once per block of K rows, accumulating in the buffer.
        """
        extent = {self.rows: array_rows, self.cols: array_cols}
        counts = {}
        for operand, op_dims in OPERAND_DIMS.items():
            size = dims[op_dims[0]] * dims[op_dims[1]]
            if operand != self.stationary:
                other = next(d for d in extent if d not in op_dims)
                size *= math.ceil(dims[other] / extent[other])
            counts[operand] = size
        return counts


DATAFLOW_STRATEGIES = {
    "ws": Dataflow("ws", rows="k", cols="n", stream="m"),
    "os": Dataflow("os", rows="m", cols="n", stream="k"),
    "is": Dataflow("is", rows="k", cols="m", stream="n"),
}