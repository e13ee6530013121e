"""The closed-form timing model: per-tile formulas plus a short recurrence over tiles.

The DRAM channel serves one queue of requests in a fixed order: the fetch of tile 0, then for
each later tile ``j`` its fetch followed by the writeback of tile ``j - 1`` (when tile ``j - 1``
finishes an output tile). A request starts when the channel is free and it is eligible (a fetch
once the bank it fills is no longer read, a writeback once its tile has computed); it occupies
the channel for ``ceil(bytes / bandwidth)`` cycles and its data is there ``latency`` cycles
later. A tile computes once the previous tile is done, its operands have arrived and its
accumulator bank has been written back. The cycle-level engine in ``sim/engine.py`` steps the
same machine cycle by cycle and must agree exactly (docs/correctness.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numba.extending import register_jitable

from accel.jit import choose
from accel.tiling import TileSchedule

NO_LIMIT = -1.0  # bandwidth passed to kernels for an ideal channel
CYCLE_LIMIT = 2**62
"""Most cycles a layer may take: the engines count in int64 (up to 2**63 - 1), and the factor of
two absorbs the rounding of the floating-point bound :func:`cycle_range_error` compares."""


@dataclass(frozen=True)
class Timing:
    """Timing of one layer. All values in cycles except ``peak_bandwidth`` (bytes/cycle)."""

    cycles: int
    compute_cycles: int
    stall_cycles: int
    dram_busy_cycles: int
    peak_bandwidth: float


def kernel_bandwidth(bandwidth: float) -> float:
    """Bandwidth argument of the kernels: bytes/cycle, or NO_LIMIT for an ideal channel."""
    return NO_LIMIT if math.isinf(bandwidth) else float(bandwidth)


@register_jitable
def transfer_cycles(nbytes, bandwidth):
    """Cycles the channel is busy moving ``nbytes``: least t with t * bandwidth >= nbytes (0 if ideal)."""
    if nbytes <= 0 or bandwidth < 0:
        return 0
    if nbytes / bandwidth >= CYCLE_LIMIT:  # saturate: such a layer is refused (cycle_range_error)
        return CYCLE_LIMIT
    t = int(math.ceil(nbytes / bandwidth))
    while t > 0 and (t - 1) * bandwidth >= nbytes:
        t -= 1
    while t * bandwidth < nbytes:
        t += 1
    return t


@njit(cache=True)
def _recurrence(load, load_after, compute, writeback, wait_writeback, bandwidth, latency):
    count = load.shape[0]
    cend = np.zeros(count, dtype=np.int64)
    ldone = np.zeros(count, dtype=np.int64)
    wdone = np.zeros(count, dtype=np.int64)
    free = 0  # first cycle the channel is idle
    busy = 0
    # Fetch of tile 0.
    if load[0] > 0:
        occ = transfer_cycles(load[0], bandwidth)
        free = occ
        busy += occ
        ldone[0] = occ + latency
    for j in range(1, count + 1):
        if j < count and load[j] > 0:
            eligible = cend[load_after[j]] if load_after[j] >= 0 else 0
            start = max(free, eligible)
            occ = transfer_cycles(load[j], bandwidth)
            free = start + occ
            busy += occ
            ldone[j] = start + occ + latency
        i = j - 1
        start = ldone[i]
        if i > 0:
            start = max(start, cend[i - 1])
        if wait_writeback[i] >= 0:
            start = max(start, wdone[wait_writeback[i]])
        cend[i] = start + compute[i]
        if writeback[i] > 0:
            wstart = max(free, cend[i])
            occ = transfer_cycles(writeback[i], bandwidth)
            free = wstart + occ
            busy += occ
            wdone[i] = wstart + occ + latency
        else:
            wdone[i] = cend[i]
    total = cend[count - 1]
    for i in range(count):
        total = max(total, wdone[i])
    return total, busy


def cycle_bound_terms(moved: int, transfers: int, compute: int, bandwidth: float, latency: int) -> dict[str, float]:
    """An upper bound on a layer's cycles, in three parts: moving, waiting and computing (cycles).

    Until a layer ends, every cycle computes a tile, moves a transfer's bytes or waits out a
    transfer's latency, so the compute cycles plus, per transfer, its ``ceil(bytes / bandwidth)``
    occupancy (at most one cycle above ``bytes / bandwidth``) and its latency bound the layer's
    cycles. ``moved``: bytes over the channel; ``transfers``: requests (an upper bound will do).
    Computed in floating point, so it can be checked before any engine counts in int64.
    """
    return {
        "moving": 0.0 if math.isinf(bandwidth) else moved / bandwidth + transfers,
        "waiting": float(transfers) * latency,
        "computing": float(compute),
    }


def cycle_range_error(name: str, moved: int, transfers: int, compute: int, bandwidth: float, latency: int) -> str:
    """Why layer ``name`` could take more than :data:`CYCLE_LIMIT` cycles and what to change ('' if it cannot)."""
    terms = cycle_bound_terms(moved, transfers, compute, bandwidth, latency)
    if sum(terms.values()) < CYCLE_LIMIT:
        return ""
    fixes = {
        "moving": f"it moves {moved:,} bytes at dram_bandwidth {bandwidth:g} bytes/cycle; raise dram_bandwidth",
        "waiting": f"it makes {transfers:,} transfers of dram_latency {latency:,} cycles; lower dram_latency",
        "computing": f"it computes for {terms['computing']:.3g} cycles; use a larger array or a smaller batch",
    }
    return f"layer {name!r} could take more than 2**62 cycles: {fixes[max(terms, key=terms.get)]}"


def schedule_traffic(sched: TileSchedule) -> tuple[int, int]:
    """Bytes a layer moves over the DRAM channel, and the number of transfers that move them."""
    loads = sched.load_ifmap + sched.load_filter
    return int(loads.sum() + sched.writeback.sum()), int((loads > 0).sum() + (sched.writeback > 0).sum())


def layer_timing(sched: TileSchedule, bandwidth: float, latency: int) -> Timing:
    """Cycles of a layer from its tile schedule, without stepping cycles."""
    load = sched.load_ifmap + sched.load_filter
    total, busy = choose(_recurrence, sched.count)(
        load, sched.load_after, sched.compute, sched.writeback, sched.wait_writeback,
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
