"""Test reference: the cycle-stepping engine the event-driven one in ``sim/engine.py`` must equal.

A layer runs segment by segment (``accel/system_timing.py``; each segment's program fetch takes
its closed-form prologue). Within a segment, each cycle from its run, in order: the array
retires a finished tile; the DMA engine starts the request at the head of its queue if its
request time has come and the channel is idle; the array starts the next tile if its operands
have landed, its accumulator bank is written back and its descriptor is ready; then the channel
moves one beat of the request in flight if its busy period has earned it (``t * bandwidth >=
beats * W`` after ``t`` cycles of the period, one beat per cycle at most) and the array advances
one cycle. Its cost grows with cycles, so it is kept here, readable, and used only on small
schedules.
"""

import numpy as np
from numba import njit
from numba.extending import register_jitable

from accel.dram_channel import bus_bytes
from accel.system_timing import (BANK_FREED, DRAIN, FETCH_REQUEST, LOAD_LANDED, WRITEBACK_DONE, WRITEBACK_REQUEST,
                                 first_request, layer_segments, tile_primed)  # fmt: skip


@njit(cache=True)
def step_cycles(load, load_after, compute, writeback, wait_writeback, commands, bandwidth, latency, rows):
    w = bus_bytes(bandwidth)
    total, busy = 0, 0
    for first, end, prologue, fetching in layer_segments(commands, rows, bandwidth, latency, w):
        cycles, moving = _step_segment(load, load_after, compute, writeback, wait_writeback, first, end,
                                       bandwidth, latency, rows, w)  # fmt: skip
        total += prologue + cycles
        busy += fetching + moving
    return total, busy


@register_jitable
def _step_segment(load, load_after, compute, writeback, wait_writeback, first, end, bandwidth, latency, rows, w):
    count = load.shape[0]
    unknown = np.iinfo(np.int64).max
    started = np.full(count, unknown, dtype=np.int64)  # cycle each tile started
    cend = np.full(count, unknown, dtype=np.int64)  # cycle each tile finished
    arrival = np.full(count, unknown, dtype=np.int64)  # cycle each tile's operands are usable
    wdone = np.full(count, unknown, dtype=np.int64)  # cycle each writeback is done
    for j in range(first, end):
        if load[j] == 0:
            arrival[j] = 0
    queue_end = 2 * (end - first) + 1  # entries: Lf, Lf+1, Wf, Lf+2, Wf+1, ..., (none), We-1
    head = 0
    requested = 0  # request time of the last request started
    moving = False  # a request occupies the channel
    period = 0  # first cycle of the channel's busy period
    moved = 0  # beats moved in it
    target = 0  # beats moved in it once the request in flight is done
    free_at = -1  # first cycle the channel was idle after its last request
    moving_tile = 0
    moving_is_load = True
    running = -1  # tile in the array
    remaining = 0
    next_tile = first
    busy = 0
    t = 0
    while True:
        # 1. The array retires a finished tile.
        if running >= 0 and remaining == 0:
            cend[running] = t
            if writeback[running] == 0:
                wdone[running] = t
            running = -1
        # 2. The DMA engine starts the request at the head of its queue when its time has come.
        while not moving and head < queue_end:
            if head == 0:
                tile, is_load = first, True
            elif head % 2 == 1:
                tile, is_load = first + (head + 1) // 2, True
            else:
                tile, is_load = first + head // 2 - 1, False
            if is_load and tile >= end:
                head += 1
                continue
            beats = load[tile] if is_load else writeback[tile]
            if beats == 0:
                head += 1
                continue
            guard = load_after[tile] if is_load else tile
            if guard < first:
                due = max(requested, first_request(w))
            elif cend[guard] <= t:
                due = max(requested, cend[guard] + (FETCH_REQUEST if is_load else WRITEBACK_REQUEST))
            else:
                break
            if due > t:
                break
            head += 1
            requested = due
            if bandwidth < 0:  # ideal channel: no occupancy
                if is_load:
                    arrival[tile] = t + latency + LOAD_LANDED
                else:
                    wdone[tile] = t + latency + WRITEBACK_DONE
                continue
            moving = True
            if t != free_at:  # the channel idled: a new busy period
                period, moved = t, 0
            target = moved + beats
            moving_tile = tile
            moving_is_load = is_load
        # 3. The array starts the next tile when its operands, accumulator bank and descriptor are ready.
        if running < 0 and next_tile < end:
            guard = wait_writeback[next_tile]
            primed = tile_primed(first, next_tile, started, cend, rows, w)
            if arrival[next_tile] <= t and primed <= t and (guard < first or wdone[guard] <= t - BANK_FREED):
                running = next_tile
                started[running] = t
                remaining = compute[next_tile] + DRAIN
                next_tile += 1
        # Done when every tile has computed and every writeback is done.
        if next_tile == end and running < 0 and head >= queue_end and not moving and t > cend[end - 1]:
            finished = True
            for i in range(first, end):
                if wdone[i] > t:
                    finished = False
                    break
            if finished:
                break
        # 4. One cycle passes.
        if moving:
            busy += 1
            elapsed = t - period + 1
            if elapsed >= moved + 1 and elapsed * bandwidth >= (moved + 1) * w:
                moved += 1
            if moved == target:
                moving = False
                free_at = t + 1
                if moving_is_load:
                    arrival[moving_tile] = t + 1 + latency + LOAD_LANDED
                else:
                    wdone[moving_tile] = t + 1 + latency + WRITEBACK_DONE
        if running >= 0:
            remaining -= 1
        t += 1
    return t, busy
