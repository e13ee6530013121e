"""Cycle formulas of the systolic array for one tile (a run of folds from on-chip buffers).

This module is the single source of the array's timing; ``docs/microarchitecture.md`` explains
where each term comes from, the simulator charges exactly these cycles per tile, and the RTL is
tested to take exactly these cycles from ``start`` to ``done``.

A *fold* maps one array-sized block of the stationary operand onto the R x C PEs and streams
``T`` vectors through it (T = GEMM rows M for WS, reduction K for OS, output channels N for IS).
Consecutive folds of a tile are pipelined: the next fold's stationary rows are written into
the PEs just as the data wave of that fold reaches them (WS/IS), or the finished accumulators
drain bottom-up behind a token while the next fold accumulates (OS), so a new fold can start
every ``max(T, R)`` cycles (R cycles load or drain one array-height of stationary data through
a C-wide port).
"""

from __future__ import annotations

from numba.extending import register_jitable


@register_jitable
def fold_interval(rows: int, cols: int, stream: int) -> int:
    """Cycles between the starts of two consecutive folds of a tile: ``max(T, R)``."""
    return max(stream, rows)


@register_jitable
def pipeline_latency(dataflow: str, rows: int, cols: int, stream: int) -> int:
    """Cycles from the start of a tile's last fold until the tile is done.

    WS/IS: ``(T - 1)`` streaming + 1 lane register + ``(R - 1)`` row skew + ``(C - 1)`` column
    hops + 1 PE register + 1 write: ``T + R + C``.
    OS: ``(T - 1)`` + 1 + ``(R - 1)`` + ``(C - 1)`` + 1 accumulator + ``(R - 1)`` drain shifts +
    1 write: ``T + 2R + C - 1``.
    """
    if dataflow == "os":
        return stream + 2 * rows + cols - 1
    return stream + rows + cols


@register_jitable
def tile_cycles(dataflow: str, rows: int, cols: int, stream: int, folds: int) -> int:
    """Cycles from ``start`` to ``done`` for ``folds`` folds that each stream ``stream`` vectors."""
    if folds <= 0:
        return 0
    return (folds - 1) * fold_interval(rows, cols, stream) + pipeline_latency(dataflow, rows, cols, stream)
