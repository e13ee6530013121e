"""Test reference: the cycle-stepping engine the event-driven one in ``sim/engine.py`` must equal.

Each cycle, in order: the array retires a finished tile; the DMA engine starts every request at
the head of its queue that is eligible while the channel is idle; the array starts the next tile
if its operands have arrived and its accumulator bank is free; then the channel moves one beat
of the request in flight if its busy period has earned it (``t * bandwidth >= beats * W`` after
``t`` cycles of the period, one beat per cycle at most) and the array advances one cycle. Its cost grows
with cycles, so it is kept here, readable, and used only on small schedules.
"""

import numpy as np
from numba import njit

from accel.dram_channel import bus_bytes


@njit(cache=True)
def step_cycles(load, load_after, compute, writeback, wait_writeback, bandwidth, latency):
    # ``load`` / ``writeback``: bus beats of each tile's fetch and writeback.
    count = load.shape[0]
    unknown = np.iinfo(np.int64).max
    cend = np.full(count, unknown, dtype=np.int64)  # cycle each tile finished
    arrival = np.full(count, unknown, dtype=np.int64)  # cycle each tile's operands are on chip
    wdone = np.full(count, unknown, dtype=np.int64)  # cycle each writeback finished
    queue_end = 2 * count + 1  # entries: L0, L1, W0, L2, W1, ..., L(n-1), W(n-2), (none), W(n-1)
    head = 0
    moving = False  # a request occupies the channel
    w = bus_bytes(bandwidth)
    period = 0  # first cycle of the channel's busy period
    moved = 0  # beats moved in it
    target = 0  # beats moved in it once the request in flight is done
    free_at = -1  # first cycle the channel was idle after its last request
    moving_tile = 0
    moving_is_load = True
    running = -1  # tile in the array
    remaining = 0
    next_tile = 0
    busy = 0
    t = 0
    while True:
        # 1. The array retires a finished tile.
        if running >= 0 and remaining == 0:
            cend[running] = t
            if writeback[running] == 0:
                wdone[running] = t
            running = -1
        # 2. The DMA engine starts eligible requests at the head of its queue.
        while not moving and head < queue_end:
            if head == 0:
                tile, is_load = 0, True
            elif head % 2 == 1:
                tile, is_load = (head + 1) // 2, True
            else:
                tile, is_load = head // 2 - 1, False
            if is_load and tile >= count:
                head += 1
                continue
            beats = load[tile] if is_load else writeback[tile]
            if beats == 0:
                if is_load:
                    arrival[tile] = 0
                head += 1
                continue
            if is_load:
                guard = load_after[tile]
                ready = guard < 0 or cend[guard] <= t
            else:
                ready = cend[tile] <= t
            if not ready:
                break
            head += 1
            if bandwidth < 0:  # ideal channel: no occupancy
                if is_load:
                    arrival[tile] = t + latency
                else:
                    wdone[tile] = t + latency
                continue
            moving = True
            if t != free_at:  # the channel idled: a new busy period
                period, moved = t, 0
            target = moved + beats
            moving_tile = tile
            moving_is_load = is_load
        # 3. The array starts the next tile when its operands and accumulator bank are ready.
        if running < 0 and next_tile < count:
            guard = wait_writeback[next_tile]
            if arrival[next_tile] <= t and (guard < 0 or wdone[guard] <= t):
                running = next_tile
                remaining = compute[next_tile]
                next_tile += 1
        # Done when every tile has computed and every writeback has landed.
        if next_tile == count and running < 0 and head >= queue_end and not moving:
            finished = True
            for i in range(count):
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
                    arrival[moving_tile] = t + 1 + latency
                else:
                    wdone[moving_tile] = t + 1 + latency
        if running >= 0:
            remaining -= 1
        t += 1
    total = t
    return total, busy
