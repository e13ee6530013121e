"""The cycle-level engine: the controller, the compute array and the DRAM channel, event by event.

A layer runs segment by segment (``accel/system_timing.py``): the program fetch of a segment
takes the closed-form prologue, and its tiles run through the machine below from the
segment's run, on an idle channel. The machine, in order at each cycle: the array retires a
finished tile; the DMA engine starts every request at the head of its queue once its request
time has come (a fixed delay after the tile it waits for finished, never before the request
ahead of it) and the channel is idle; the array starts the next tile once its operands have
landed, its accumulator bank is written back and the core holds its descriptor; then the
channel moves a beat of the request in flight when its busy period has earned it
(``accel/dram_channel.py``) and the array advances one cycle.

Nothing changes between two events (a tile ends, the channel frees, a request time comes,
operands or a writeback land, a descriptor is ready), so the engine applies those rules at each
event time and jumps to the next one: its cost grows with tiles, not cycles, and a starved
channel (``--bandwidth 1e-9``) costs what a fast one does. It gives exactly the cycles of
stepping one cycle at a time (``tests/engine_reference.py`` keeps that stepping version, and
``tests/test_engine.py`` holds the two equal) and of the closed form in ``accel/analytic.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from accel.analytic import Timing, kernel_bandwidth, make_timing, schedule_arrays
from accel.dram_channel import bus_bytes, serve
from accel.jit import choose
from accel.system_timing import (BANK_FREED, DRAIN, FETCH_REQUEST, LOAD_LANDED, WRITEBACK_DONE, WRITEBACK_REQUEST,
                                 first_request, layer_segments, tile_primed)  # fmt: skip
from accel.tiling import TileSchedule

NEVER = np.iinfo(np.int64).max


@njit(cache=True)
def _run_events(load, load_after, compute, writeback, wait_writeback, commands, bandwidth, latency, rows):
    # ``load`` / ``writeback``: bus beats of each tile's fetch and writeback; ``commands``: its
    # DMA commands (the size of its program record). Returns (cycles, channel busy cycles).
    w = bus_bytes(bandwidth)
    total, busy = 0, 0
    for first, end, prologue, fetching in layer_segments(commands, rows, bandwidth, latency, w):
        cycles, moving = _segment_events(load, load_after, compute, writeback, wait_writeback, first, end,
                                         bandwidth, latency, rows, w)  # fmt: skip
        total += prologue + cycles
        busy += fetching + moving
    return total, busy


@register_jitable
def _segment_events(load, load_after, compute, writeback, wait_writeback, first, end, bandwidth, latency, rows, w):
    # Array elements are read through int(): a no-op compiled, and interpreted it keeps the
    # arithmetic on Python ints, which run twice as fast as NumPy scalars.
    count = load.shape[0]
    started = np.full(count, NEVER, dtype=np.int64)  # cycle each tile started
    cend = np.full(count, NEVER, dtype=np.int64)  # cycle each tile finished (results staged)
    arrival = np.where(load == 0, 0, NEVER)  # cycle each tile's operands are usable
    wdone = np.full(count, NEVER, dtype=np.int64)  # cycle each writeback is done
    # Queue entries, from the segment's first tile f: Lf, Lf+1, Wf, Lf+2, Wf+1, ..., (none), We-1.
    queue_end = 2 * (end - first) + 1
    head = 0
    requested = 0  # request time of the last request started: requests keep the queue's order
    opening = first_request(w)
    channel_free = 0  # first cycle the channel is idle
    period, moved = 0, 0  # the channel's busy period: its first cycle and the beats moved in it
    running = -1  # tile in the array
    next_tile = first
    busy = 0
    t = 0
    while True:
        # 1. The array retires a finished tile.
        if running >= 0 and cend[running] == t:
            if writeback[running] == 0:
                wdone[running] = t
            running = -1
        # 2. The DMA engine starts requests at the head of its queue whose time has come.
        due = NEVER  # request time of the head's request, once known
        while head < queue_end:
            if head == 0:
                tile, is_load = first, True
            elif head % 2 == 1:
                tile, is_load = first + (head + 1) // 2, True
            else:
                tile, is_load = first + head // 2 - 1, False
            if is_load and tile >= end:
                head += 1
                continue
            beats = int(load[tile] if is_load else writeback[tile])
            if beats == 0:
                head += 1
                continue
            guard = int(load_after[tile]) if is_load else tile
            if guard < first:
                due = max(requested, opening)
            elif cend[guard] <= t:
                due = max(requested, int(cend[guard]) + (FETCH_REQUEST if is_load else WRITEBACK_REQUEST))
            else:
                break  # its time is not known yet
            if due > t or channel_free > t:
                break
            head += 1
            requested = due
            due = NEVER
            # The channel moves the transfer's beats; its data lands `latency` cycles after.
            channel_free, period, moved = serve(t, beats, channel_free, period, moved, bandwidth, w)
            busy += channel_free - t
            if is_load:
                arrival[tile] = channel_free + latency + LOAD_LANDED
            else:
                wdone[tile] = channel_free + latency + WRITEBACK_DONE
        # 3. The array starts the next tile when its operands, accumulator bank and descriptor are ready.
        primed = NEVER
        if running < 0 and next_tile < end:
            primed = tile_primed(first, next_tile, started, cend, rows, w)
            guard = int(wait_writeback[next_tile])
            if arrival[next_tile] <= t and primed <= t and (guard < first or wdone[guard] <= t - BANK_FREED):
                running = next_tile
                started[running] = t
                cend[running] = t + int(compute[running]) + DRAIN
                next_tile += 1
        # Everything issued: the segment ends when the last writeback is done (and the cycle after
        # the last tile's compute ended: a tile counts as computed from then).
        if next_tile == end and running < 0 and head >= queue_end:
            finish = max(t, int(cend[end - 1]) + 1)
            for i in range(first, end):
                finish = max(finish, int(wdone[i]))
            return finish, busy
        # 4. Jump to the next cycle at which a rule above can act differently.
        nxt = NEVER
        if running >= 0:
            nxt = int(cend[running])
        if head < queue_end and due != NEVER:
            nxt = min(nxt, max(due, channel_free))
        if running < 0 and next_tile < end:
            if arrival[next_tile] > t:
                nxt = min(nxt, int(arrival[next_tile]))
            if primed > t:
                nxt = min(nxt, primed)
            guard = int(wait_writeback[next_tile])
            if guard >= first and t - BANK_FREED < wdone[guard] < NEVER:
                nxt = min(nxt, int(wdone[guard]) + BANK_FREED)
        if nxt == NEVER:
            raise RuntimeError("tile schedule deadlocks: a guard names a tile that never runs")
        t = nxt


def run_layer(sched: TileSchedule, bandwidth: float, latency: int) -> Timing:
    """Run a layer's tile schedule through the event-driven engine; return its timing (cycles)."""
    total, busy = choose(_run_events, sched.count)(*schedule_arrays(sched), kernel_bandwidth(bandwidth), int(latency),
                                                   sched.rows)
    return make_timing(sched, int(total), int(busy))
