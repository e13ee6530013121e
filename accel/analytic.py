"""The closed-form timing model: per-tile formulas plus a short recurrence over tiles.

A layer runs as the generated AXI system runs it (``accel/system_timing.py``): its program
segments one after the other, each fetched from DRAM and then run to its end. Within a segment
the DRAM channel serves one queue of requests in a fixed order: the fetch of its first tile,
then for each later tile ``j`` its fetch followed by the writeback of tile ``j - 1`` (when tile
``j - 1`` finishes an output tile). A request is made a fixed delay after it becomes eligible (a
fetch once the bank it fills is no longer read, a writeback once its tile has computed), never
before the one ahead of it, and starts when the channel is free; it moves its bytes as bus
beats at the channel's rate (``accel/dram_channel.py``: at most one beat per cycle, fractional
bandwidth carried within a busy period) and its data is there ``latency`` cycles after its last
beat. A tile computes once the previous tile is done and the core holds its descriptor, its
operands have arrived and its accumulator bank has been written back, each after the fixed
delays of the hardware. The event-driven engine in ``sim/engine.py`` runs the same machine and
must agree exactly (docs/correctness.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numba.extending import register_jitable

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
from accel.system_timing import (BANK_FREED, DRAIN, FETCH_REQUEST, LOAD_LANDED, WRITEBACK_DONE, WRITEBACK_REQUEST,
                                 first_request, layer_segments, overhead_bound, tile_primed)  # fmt: skip
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
def _recurrence(load, load_after, compute, writeback, wait_writeback, commands, bandwidth, latency, rows):
    # ``load`` / ``writeback``: bus beats of each tile's fetch and writeback; ``commands``: its
    # DMA commands (the size of its program record). Returns (cycles, channel busy cycles).
    w = bus_bytes(bandwidth)
    total, busy = 0, 0
    # Per tile: start, compute end, operands usable, writeback done (each set in its tile's segment).
    count = load.shape[0]
    start, cend, ldone, wdone = (np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64),
                                 np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64))  # fmt: skip
    for first, end, prologue, fetching in layer_segments(commands, rows, bandwidth, latency, w):
        cycles, moving = _segment(load, load_after, compute, writeback, wait_writeback, first, end,
                                  bandwidth, latency, rows, w, start, cend, ldone, wdone)  # fmt: skip
        total += prologue + cycles
        busy += fetching + moving
    return total, busy


@register_jitable
def _segment(load, load_after, compute, writeback, wait_writeback, first, end, bandwidth, latency, rows, w,
             start, cend, ldone, wdone):  # fmt: skip
    # Tiles [first, end) from the segment's run (cycle 0) on an idle channel; guards naming an
    # earlier segment's tile are met. ``start``, ``cend`` (compute end: results staged),
    # ``ldone`` (the tile's operands are usable) and ``wdone`` (its writeback is done) are the
    # layer's per-tile times, zero until set; only this segment's tiles are read and written.
    free = 0  # first cycle the channel is idle
    period, moved = 0, 0  # the channel's busy period: its first cycle and the beats moved in it
    requested = 0  # the latest request so far: requests keep the queue's order
    busy = 0
    opening = first_request(w)
    for j in range(first, end + 1):
        i = j - 1  # the tile before: its compute is known before the fetch of tile j, which may wait for it
        if i >= first:
            begin = max(ldone[i], tile_primed(first, i, start, cend, rows, w))
            if wait_writeback[i] >= first:
                begin = max(begin, wdone[wait_writeback[i]] + BANK_FREED)
            start[i] = begin
            cend[i] = begin + compute[i] + DRAIN
        if j < end and load[j] > 0:  # the fetch of tile j
            guard = load_after[j]
            requested = max(requested, opening if guard < first else cend[guard] + FETCH_REQUEST)
            begin = max(free, requested)
            free, period, moved = serve(begin, load[j], free, period, moved, bandwidth, w)
            busy += free - begin
            ldone[j] = free + latency + LOAD_LANDED
        if i < first:
            continue
        if writeback[i] > 0:  # the writeback of tile i, behind the fetch of tile i + 1
            requested = max(requested, cend[i] + WRITEBACK_REQUEST)
            begin = max(free, requested)
            free, period, moved = serve(begin, writeback[i], free, period, moved, bandwidth, w)
            busy += free - begin
            wdone[i] = free + latency + WRITEBACK_DONE
        else:
            wdone[i] = cend[i]
    finish = cend[end - 1] + 1  # a tile counts as computed from the cycle after its compute ends
    for i in range(first, end):
        finish = max(finish, wdone[i])
    return finish, busy


def cycle_bound_terms(beats: int, transfers: int, compute: int, bandwidth: float, latency: int, tiles: int,
                      rows: int) -> dict[str, float]:  # fmt: skip
    """An upper bound on a layer's cycles, in three parts: moving, waiting and computing (cycles).

    Until a layer ends, every cycle computes a tile, moves a transfer's beats, waits out a
    transfer's latency or one of the system's fixed delays (:func:`accel.system_timing.overhead_bound`,
    counted with computing, and its program fetches with the transfers). A transfer of ``b``
    beats of ``W`` bytes (:func:`bus_bytes`, at least the bandwidth) takes at most one cycle more
    than ``b * W / bandwidth``. ``beats``: bus beats over the channel; ``transfers``: the DMA
    commands that move them (at least the requests; the program holds them); ``tiles``: the
    layer's tiles on an array of ``rows`` rows.
    Computed in floating point, so it can be checked before any engine counts in int64.
    """
    program_beats, fetches, fixed = overhead_bound(tiles, transfers, rows, bus_bytes(kernel_bandwidth(bandwidth)))
    beats, transfers = beats + program_beats, transfers + fetches
    return {
        "moving": 0.0 if math.isinf(bandwidth) else beats * bus_bytes(bandwidth) / bandwidth + transfers,
        "waiting": float(transfers) * latency,
        "computing": float(compute) + fixed,
    }


def cycle_range_error(name: str, beats: int, transfers: int, compute: int, bandwidth: float, latency: int,
                      tiles: int, rows: int) -> str:  # fmt: skip
    """Why layer ``name`` could take more than :data:`CYCLE_LIMIT` cycles and what to change ('' if it cannot)."""
    terms = cycle_bound_terms(beats, transfers, compute, bandwidth, latency, tiles, rows)
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
    """Bus beats a layer moves over the DRAM channel, and the DMA commands that move them."""
    return int(sched.load_beats.sum() + sched.writeback_beats.sum()), int(sched.commands.sum())


def layer_timing(sched: TileSchedule, bandwidth: float, latency: int) -> Timing:
    """Cycles of a layer from its tile schedule, without stepping cycles."""
    total, busy = choose(_recurrence, sched.count)(*schedule_arrays(sched), kernel_bandwidth(bandwidth), int(latency),
                                                   sched.rows)
    return make_timing(sched, int(total), int(busy))


def schedule_arrays(sched: TileSchedule) -> tuple[np.ndarray, ...]:
    """The per-tile arrays the timing kernels take, in their order."""
    return (sched.load_beats, sched.load_after, sched.compute, sched.writeback_beats, sched.wait_writeback,
            sched.commands)  # fmt: skip


def make_timing(sched: TileSchedule, total: int, busy: int) -> Timing:
    """Assemble a :class:`Timing` from the total and channel-busy cycles of a run."""
    compute = int(sched.compute.sum())
    load = sched.load_ifmap + sched.load_filter
    # Bandwidth that would hide each fetch behind the compute of the tile before it.
    hide = np.concatenate([sched.compute[:1], sched.compute[:-1]])
    peak = float(np.max(load / hide))
    return Timing(total, compute, total - compute, busy, peak)
