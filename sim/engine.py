"""The cycle-level engine: the controller, the compute array and the DRAM channel, event by event.

The machine, cycle by cycle, in order: the array retires a finished tile; the DMA engine starts
every request at the head of its queue that is eligible while the channel is idle; the array
starts the next tile if its operands have arrived and its accumulator bank is free; then the
channel moves a beat of the request in flight when its busy period has earned it
(``accel/dram_channel.py``) and the array advances one cycle.

Nothing changes between two events (a tile ends, the channel frees, operands or a writeback
land), so the engine applies those rules at each event time and jumps to the next one: its cost
grows with tiles, not cycles, and a starved channel (``--bandwidth 1e-9``) costs what a fast
one does. It gives exactly the cycles of stepping one cycle at a time (``tests/engine_reference.py``
keeps that stepping version, and ``tests/test_engine.py`` holds the two equal) and of the closed
form in ``accel/analytic.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from accel.analytic import Timing, kernel_bandwidth, make_timing
from accel.dram_channel import bus_bytes, serve
from accel.jit import choose
from accel.tiling import TileSchedule


@njit(cache=True)
def _run_events(load, load_after, compute, writeback, wait_writeback, bandwidth, latency):
    # ``load`` / ``writeback``: bus beats of each tile's fetch and writeback.
    # Array elements are read through int(): a no-op compiled, and interpreted it keeps the
    # arithmetic on Python ints, which run twice as fast as NumPy scalars.
    count = load.shape[0]
    never = np.iinfo(np.int64).max
    cend = np.full(count, never, dtype=np.int64)  # cycle each tile finished
    arrival = np.full(count, never, dtype=np.int64)  # cycle each tile's operands are on chip
    wdone = np.full(count, never, dtype=np.int64)  # cycle each writeback finished
    queue_end = 2 * count + 1  # entries: L0, L1, W0, L2, W1, ..., L(n-1), W(n-2), (none), W(n-1)
    head = 0
    channel_free = 0  # first cycle the channel is idle
    period, moved = 0, 0  # the channel's busy period: its first cycle and the beats moved in it
    w = bus_bytes(bandwidth)
    running = -1  # tile in the array
    run_end = 0  # cycle the running tile retires
    next_tile = 0
    busy = 0
    t = 0
    while True:
        # 1. The array retires a finished tile.
        if running >= 0 and run_end == t:
            cend[running] = t
            if writeback[running] == 0:
                wdone[running] = t
            running = -1
        # 2. The DMA engine starts eligible requests at the head of its queue.
        while channel_free <= t and head < queue_end:
            if head == 0:
                tile, is_load = 0, True
            elif head % 2 == 1:
                tile, is_load = (head + 1) // 2, True
            else:
                tile, is_load = head // 2 - 1, False
            if is_load and tile >= count:
                head += 1
                continue
            beats = int(load[tile] if is_load else writeback[tile])
            if beats == 0:
                if is_load:
                    arrival[tile] = 0
                head += 1
                continue
            if is_load:
                guard = int(load_after[tile])
                ready = guard < 0 or cend[guard] <= t
            else:
                ready = cend[tile] <= t
            if not ready:
                break
            head += 1
            # The channel moves the transfer's beats; its data lands `latency` cycles after.
            channel_free, period, moved = serve(t, beats, channel_free, period, moved, bandwidth, w)
            busy += channel_free - t
            if is_load:
                arrival[tile] = channel_free + latency
            else:
                wdone[tile] = channel_free + latency
        # 3. The array starts the next tile when its operands and accumulator bank are ready.
        if running < 0 and next_tile < count:
            guard = int(wait_writeback[next_tile])
            if arrival[next_tile] <= t and (guard < 0 or wdone[guard] <= t):
                running = next_tile
                run_end = t + int(compute[next_tile])
                next_tile += 1
        # Everything issued: the layer ends when the last writeback lands.
        if next_tile == count and running < 0 and head >= queue_end:
            return max(t, channel_free, int(wdone.max())), busy
        # 4. Jump to the next cycle at which a rule above can act differently.
        nxt = never
        if running >= 0:
            nxt = run_end
        if channel_free > t:
            nxt = min(nxt, channel_free)
        if running < 0 and next_tile < count:
            if arrival[next_tile] > t:
                nxt = min(nxt, int(arrival[next_tile]))
            guard = int(wait_writeback[next_tile])
            if guard >= 0 and wdone[guard] > t:
                nxt = min(nxt, int(wdone[guard]))
        if nxt == never:
            raise RuntimeError("tile schedule deadlocks: a guard names a tile that never runs")
        t = nxt


def run_layer(sched: TileSchedule, bandwidth: float, latency: int) -> Timing:
    """Run a layer's tile schedule through the event-driven engine; return its timing (cycles)."""
    total, busy = choose(_run_events, sched.count)(
        sched.load_beats, sched.load_after, sched.compute, sched.writeback_beats, sched.wait_writeback,
        kernel_bandwidth(bandwidth), int(latency),
    )  # fmt: skip
    return make_timing(sched, int(total), int(busy))
