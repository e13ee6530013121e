"""The closed-form timing model: per-tile formulas plus a short recurrence over tiles.

The DRAM channel serves one queue of requests in a fixed order: the fetch of tile 0, then for
each later tile ``j`` its fetch followed by the writeback of tile ``j - 1`` (when tile ``j - 1``
finishes an output tile). A request starts when the channel is free and it is eligible (a fetch
once the bank it fills is no longer read, a writeback once its tile has computed); it moves its
bytes as bus beats at the channel's rate (``accel/dram_channel.py``: at most one beat per
cycle, fractional bandwidth carried within a busy period) and its data is there ``latency``
cycles after its last beat. A tile computes once the previous tile is done, its operands have arrived and its
accumulator bank has been written back. The cycle-level engine in ``sim/engine.py`` steps the
same machine cycle by cycle and must agree exactly (docs/correctness.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from accel.dram_channel import (  # noqa: F401 (re-exported: the timing kernels' shared vocabulary)
    CYCLE_LIMIT,
    NO_LIMIT,
    kernel_bandwidth,
    bus_bytes,
    serve,
    transfer_beats,
    transfer_cycles,
)
from accel.jit import choose
from accel.tiling import TileSchedule

@dataclass(frozen=True)
class Timing:
    """Timing of one layer. All values in cycles except ``peak_bandwidth`` (bytes/cycle)."""

    cycles: int
    compute_cycles: int
    stall_cycles: int
    dram_busy_cycles: int
    peak_bandwidth: float


@njit(cache=True)
def _recurrence(load, load_after, compute, writeback, wait_writeback, bandwidth, latency):
    # ``load`` / ``writeback``: bus beats of each tile's fetch and writeback.
    count = load.shape[0]
    cend = np.zeros(count, dtype=np.int64)
    ldone = np.zeros(count, dtype=np.int64)
    wdone = np.zeros(count, dtype=np.int64)
    free = 0  # first cycle the channel is idle
    period, moved = 0, 0  # the channel's busy period: its first cycle and the beats moved in it
    w = bus_bytes(bandwidth)
    busy = 0
    # Fetch of tile 0.
    if load[0] > 0:
        free, period, moved = serve(0, load[0], free, period, moved, bandwidth, w)
        busy += free
        ldone[0] = free + latency
    for j in range(1, count + 1):
        if j < count and load[j] > 0:
            eligible = cend[load_after[j]] if load_after[j] >= 0 else 0
            start = max(free, eligible)
            free, period, moved = serve(start, load[j], free, period, moved, bandwidth, w)
            busy += free - start
            ldone[j] = free + latency
        i = j - 1
        start = ldone[i]
        if i > 0:
            start = max(start, cend[i - 1])
        if wait_writeback[i] >= 0:
            start = max(start, wdone[wait_writeback[i]])
        cend[i] = start + compute[i]
        if writeback[i] > 0:
            wstart = max(free, cend[i])
            free, period, moved = serve(wstart, writeback[i], free, period, moved, bandwidth, w)
            busy += free - wstart
            wdone[i] = free + latency
        else:
            wdone[i] = cend[i]
    total = cend[count - 1]
    for i in range(count):
        total = max(total, wdone[i])
    return total, busy


def cycle_bound_terms(beats: int, transfers: int, compute: int, bandwidth: float, latency: int) -> dict[str, float]:
    """An upper bound on a layer's cycles, in three parts: moving, waiting and computing (cycles).

    Until a layer ends, every cycle computes a tile, moves a transfer's beats or waits out a
    transfer's latency. A transfer of ``b`` beats of ``W`` bytes (:func:`bus_bytes`, at least the
    bandwidth) takes at most one cycle more than ``b * W / bandwidth``; so the compute cycles plus
    ``beats * W / bandwidth + transfers`` and the latencies bound the layer's cycles. ``beats``:
    bus beats over the channel; ``transfers``: requests (an upper bound will do). Computed in
    floating point, so it can be checked before any engine counts in int64.
    """
    return {
        "moving": 0.0 if math.isinf(bandwidth) else beats * bus_bytes(bandwidth) / bandwidth + transfers,
        "waiting": float(transfers) * latency,
        "computing": float(compute),
    }


def cycle_range_error(name: str, beats: int, transfers: int, compute: int, bandwidth: float, latency: int) -> str:
    """Why layer ``name`` could take more than :data:`CYCLE_LIMIT` cycles and what to change ('' if it cannot)."""
    terms = cycle_bound_terms(beats, transfers, compute, bandwidth, latency)
    if sum(terms.values()) < CYCLE_LIMIT:
        return ""
    moved = beats * bus_bytes(bandwidth)
    fixes = {
        "moving": f"it moves {moved:,} bytes at dram_bandwidth {bandwidth:g} bytes/cycle; raise dram_bandwidth",
        "waiting": f"it makes {transfers:,} transfers of dram_latency {latency:,} cycles; lower dram_latency",
        "computing": f"it computes for {terms['computing']:.3g} cycles; use a larger array or a smaller batch",
    }
    return f"layer {name!r} could take more than 2**62 cycles: {fixes[max(terms, key=terms.get)]}"


def schedule_traffic(sched: TileSchedule) -> tuple[int, int]:
    """Bus beats a layer moves over the DRAM channel, and the number of transfers that move them."""
    beats = int(sched.load_beats.sum() + sched.writeback_beats.sum())
    return beats, int((sched.load_beats > 0).sum() + (sched.writeback_beats > 0).sum())


def layer_timing(sched: TileSchedule, bandwidth: float, latency: int) -> Timing:
    """Cycles of a layer from its tile schedule, without stepping cycles."""
    total, busy = choose(_recurrence, sched.count)(
        sched.load_beats, sched.load_after, sched.compute, sched.writeback_beats, sched.wait_writeback,
        kernel_bandwidth(bandwidth), int(latency),
    )  # fmt: skip
    return make_timing(sched, int(total), int(busy))


def make_timing(sched: TileSchedule, total: int, busy: int) -> Timing:
    """Assemble a :class:`Timing` from the total and channel-busy cycles of a run."""
    compute = int(sched.compute.sum())
    load = sched.load_ifmap + sched.load_filter
    # Bandwidth that would hide each fetch behind the compute of the tile before it.
    hide = np.concatenate([sched.compute[:1], sched.compute[:-1]])
    peak = float(np.max(load / hide))
    return Timing(total, compute, total - compute, busy, peak)
